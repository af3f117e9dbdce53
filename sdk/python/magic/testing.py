"""Run a controller in-process for unit tests: no sandbox, no farm.

    output = run_controller(GreeterController, {"name": "World"})

Capabilities are unavailable (E2001) unless fakes are passed in
`capabilities`, e.g. {"cache": FakeCache()}. Log records are appended to
`logs` when a list is given, metric records to `metrics` likewise.
"""

import asyncio
import inspect
import json

from .controller import Context, Controller


def run_controller(
    target, input, request_id="req_local", capabilities=None, logs=None, metrics=None
):
    """Runs a Controller subclass or an `async def execute(input, ctx)` function."""
    records = logs if logs is not None else []
    metric_records = metrics if metrics is not None else []
    context = Context(request_id, records.append, capabilities, metric_records.append)
    if inspect.isclass(target) and issubclass(target, Controller):
        coroutine = target(context).execute(input)
    elif callable(target):
        coroutine = target(input, context)
    else:
        raise TypeError("run_controller needs a Controller subclass or an execute function")
    if not inspect.isawaitable(coroutine):
        raise TypeError("execute must be declared async")
    output = asyncio.run(coroutine)
    json.dumps(output)  # outputs must be JSON-serialisable, as in the farm
    return output
