"""BadOutput: returns what its output schema forbids, or something that is not JSON."""

from magic import Controller, contract


@contract("./bad_output.contract.yaml")
class BadOutputController(Controller):
    async def execute(self, input: dict) -> dict:
        if input["mode"] == "not_json":
            return {"count": {1, 2, 3}}
        return {"count": "three"}
