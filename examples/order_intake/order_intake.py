"""OrderIntake: accepts an order and publishes it on the `orders` queue.
OrderAudit (queue:subscribe orders) is then run once per published order by
the scheduler: controllers talking through a queue, each in its sandbox."""

from magic import Controller, contract


@contract("./order_intake.contract.yaml")
class OrderIntakeController(Controller):
    async def execute(self, input: dict) -> dict:
        await self.queue.publish(
            "orders", {"order_id": input["order_id"], "amount": input["amount"]},
            key=input["order_id"])
        return {"order_id": input["order_id"], "queued": True}
