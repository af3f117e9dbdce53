"""InvoiceSync: the spec's example controller, as written there.

Needs db:read, db:write, secrets:read, http:egress and queue:publish, which
the capability broker provides in the farm.
"""

from magic import Controller, contract


@contract("./invoice_sync.contract.yaml")
class InvoiceSyncController(Controller):
    async def execute(self, input: dict) -> dict:
        # Input is already validated against contract schema
        customer_id = input["customer_id"]

        # Structured DB API (requires db:read capability)
        customer = await self.db.query_one("customers", where={"id": customer_id})
        self.log.info("customer loaded", customer_id=customer_id, found=customer is not None)

        # Outbound HTTP only works if declared in capabilities
        stripe_key = await self.secrets.get("STRIPE_API_KEY")
        response = await self.http.post(
            "https://api.stripe.com/v1/invoices",
            json=input["invoice_data"],
            headers={"Authorization": f"Bearer {stripe_key}"},
        )

        # Return must match output schema
        return {
            "sync_id": response["id"],
            "status": "completed",
            "stripe_invoice_id": response["id"],
            "request_id": self.request_id,
        }
