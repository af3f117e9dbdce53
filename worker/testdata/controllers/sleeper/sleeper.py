"""Sleeper: outlives its 1 s timeout, with a child process that would outlive it too."""

import asyncio
import subprocess

from magic import Controller, contract


@contract("./sleeper.contract.yaml")
class SleeperController(Controller):
    async def execute(self, input: dict) -> dict:
        subprocess.Popen(["/usr/bin/sleep", "300", input["marker"]])
        await asyncio.sleep(input.get("seconds", 30))
        return {}
