"""Greeter: replace this docstring with what the controller does."""

from magic import Controller, contract


@contract("./greeter.contract.yaml")
class GreeterController(Controller):
    async def execute(self, input: dict) -> dict:
        # Input is already validated against the contract's input schema.
        name = input["name"]
        self.log.info("greeting", name=name)
        # The return value must match the output schema.
        return {"message": f"Hello, {name}!", "request_id": self.request_id}
