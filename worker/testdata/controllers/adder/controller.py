"""Adder: a function controller (module-level `async def execute`), helper in a package."""

from helpers.math import add


async def execute(input, ctx):
    ctx.log.info("adding", a=input["a"], b=input["b"])
    return {"sum": add(input["a"], input["b"]), "request_id": ctx.request_id}
