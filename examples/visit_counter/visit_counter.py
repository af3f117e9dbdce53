"""VisitCounter: counts visits per page in the farm's cache (Redis through
the broker). Every call is checked against the contract and audited:
`magic audit --request <id>` shows it."""

from magic import Controller, contract


@contract("./visit_counter.contract.yaml")
class VisitCounterController(Controller):
    async def execute(self, input: dict) -> dict:
        key = f"visits:{input['page']}"
        visits = await self.cache.incr(key, ttl=86400)
        self.log.info("visit counted", page=input["page"], visits=visits)
        return {"page": input["page"], "visits": visits, "request_id": self.request_id}
