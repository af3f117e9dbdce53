"""CustomerLookup: the spec's read-only example (db:read on customers,
cache:read under "customer:")."""

from magic import Controller, contract


@contract("./customer_lookup.contract.yaml")
class CustomerLookupController(Controller):
    async def execute(self, input: dict) -> dict:
        customer_id = input["customer_id"]
        cached = await self.cache.get(f"customer:{customer_id}")
        customer = cached or await self.db.query_one(
            "customers", where={"id": customer_id}, columns=["id", "email", "name"]
        )
        if customer is None:
            customer = {"id": customer_id, "email": "unknown@example.invalid"}
        return {"customer": customer, "request_id": self.request_id}
