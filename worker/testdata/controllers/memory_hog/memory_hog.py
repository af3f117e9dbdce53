"""MemoryHog: touches more memory than its 64Mi limit."""

from magic import Controller, contract


@contract("./memory_hog.contract.yaml")
class MemoryHogController(Controller):
    async def execute(self, input: dict) -> dict:
        chunks = []
        for _ in range(input.get("megabytes", 512)):
            chunks.append(bytearray(1 << 20))  # zero-filled: every page is touched
        return {"allocated_mb": len(chunks)}
