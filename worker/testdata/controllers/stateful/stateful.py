"""Stateful: shows what survives between two calls on one warm runner."""

from magic import Controller, contract

_MODULE_CALLS = 0


@contract("./stateful.contract.yaml")
class StatefulController(Controller):
    instance_calls = 0

    async def execute(self, input: dict) -> dict:
        global _MODULE_CALLS
        _MODULE_CALLS += 1
        self.instance_calls += 1  # an instance attribute: a new instance every call
        return {"module_calls": _MODULE_CALLS, "instance_calls": self.instance_calls}
