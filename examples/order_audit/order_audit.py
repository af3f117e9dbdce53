"""OrderAudit: runs once per message on the `orders` queue (queue:subscribe),
with the event envelope as its input; `magic logs OrderAudit` shows each."""

from magic import Controller, contract


@contract("./order_audit.contract.yaml")
class OrderAuditController(Controller):
    async def execute(self, input: dict) -> dict:
        order = input["payload"]
        large = order["amount"] >= 1000
        self.log.info("order audited", order_id=order["order_id"], amount=order["amount"],
                      message_id=input["message_id"], large=large)
        return {"order_id": order["order_id"], "large": large}
