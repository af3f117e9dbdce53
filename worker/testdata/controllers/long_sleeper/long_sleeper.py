"""LongSleeper: sleeps within a 30 s timeout, so a test can cancel it while it runs."""

import asyncio

from magic import Controller, contract


@contract("./long_sleeper.contract.yaml")
class LongSleeperController(Controller):
    async def execute(self, input: dict) -> dict:
        await asyncio.sleep(input.get("seconds", 30))
        return {}
