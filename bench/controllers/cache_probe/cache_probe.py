"""Times `await self.cache.get(key)` as the controller sees it."""

import time

from magic import Controller, contract


@contract("./cache_probe.contract.yaml")
class CacheProbe(Controller):
    async def execute(self, input):
        key = "bench:probe"
        await self.cache.set(key, {"value": 42}, ttl=600)
        for _ in range(input.get("warmup", 200)):
            await self.cache.get(key)
        samples = []
        for _ in range(input["n"]):
            start = time.perf_counter_ns()
            value = await self.cache.get(key)
            samples.append((time.perf_counter_ns() - start) / 1000.0)
            if value != {"value": 42}:
                raise RuntimeError(f"unexpected cache value {value!r}")
        samples.sort()

        def pct(p):
            return round(samples[min(len(samples) - 1, int(p * len(samples)))], 1)

        return {
            "n": len(samples),
            "p50_us": pct(0.50),
            "p90_us": pct(0.90),
            "p99_us": pct(0.99),
            "mean_us": round(sum(samples) / len(samples), 1),
            "max_us": round(samples[-1], 1),
        }
