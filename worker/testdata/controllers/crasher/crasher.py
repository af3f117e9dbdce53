"""Crasher: fails in the ways a controller can fail."""

import magic
from magic import Controller, contract


def ratio(a, b):
    return a / b


@contract("./crasher.contract.yaml")
class CrasherController(Controller):
    async def execute(self, input: dict) -> dict:
        mode = input.get("mode", "divide")
        if mode == "input_error":
            raise magic.InputError("amount too high", details={"field": "amount"})
        if mode == "capability":
            await self.db.query_one("customers", where={"id": 1})
        if mode == "capability_caught":
            try:
                await self.cache.get("customer:1")
            except magic.CapabilityNotDeclared as error:
                return {"caught": error.code}
        return {"caught": str(ratio(1, 0))}
