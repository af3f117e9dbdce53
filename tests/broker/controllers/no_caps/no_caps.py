from magic import Controller, contract


@contract("./no_caps.contract.yaml")
class NoCaps(Controller):
    async def execute(self, input):
        rows = await self.db.query("customers")
        return {"rows": rows}
