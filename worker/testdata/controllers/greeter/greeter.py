"""Greeter: a class controller that logs, counts and answers."""

from magic import Controller, contract


@contract("./greeter.contract.yaml")
class GreeterController(Controller):
    async def execute(self, input: dict) -> dict:
        self.log.info("greeting", name=input["name"], contract=self.__magic_contract__)
        self.metrics.inc("greetings_total", style="plain")
        return {"greeting": f"Hello, {input['name']}!", "request_id": self.request_id}
