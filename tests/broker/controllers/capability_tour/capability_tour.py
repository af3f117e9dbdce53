"""Runs the steps it is given through the SDK's capability clients."""

from magic import Controller, MagicError, contract


def _plain(cap, value):
    if cap == "secrets":
        # Never hand a secret back in a result: its length proves the read.
        return {"length": len(value)}
    if cap == "http":
        return {"status": value.status, "json": value.json() if value.get("id") else None}
    return value


@contract("./capability_tour.contract.yaml")
class CapabilityTour(Controller):
    async def execute(self, input):
        results = []
        for step in input["steps"]:
            client = getattr(self, step["cap"])
            method = getattr(client, step["op"])
            try:
                value = await method(*step.get("args", []), **step.get("kwargs", {}))
                results.append({"ok": True, "value": _plain(step["cap"], value)})
            except MagicError as error:
                results.append({"ok": False, "code": error.code, "message": error.message})
        return {"results": results}
