"""Unit tests of the Magic Python SDK (standard library only)."""

import json
import os
import unittest

import magic
from magic.testing import run_controller


@magic.contract("./fixtures/echo.contract.yaml")
class EchoController(magic.Controller):
    async def execute(self, input):
        self.log.info("echo", size=len(input))
        return {"echo": input, "request_id": self.request_id}


class UsesCache(magic.Controller):
    async def execute(self, input):
        return {"value": await self.cache.get("k")}


async def function_controller(input, ctx):
    ctx.log.info("fn")
    return {"sum": input["a"] + input["b"], "request_id": ctx.request_id}


class FakeCache:
    async def get(self, key):
        return f"cached:{key}"


class SdkTest(unittest.TestCase):
    def test_class_controller_runs_with_request_id_and_logs(self):
        logs = []
        out = run_controller(EchoController, {"x": 1}, request_id="req_1", logs=logs)
        self.assertEqual(out, {"echo": {"x": 1}, "request_id": "req_1"})
        self.assertEqual(logs, [{"level": "info", "msg": "echo", "request_id": "req_1", "size": 1}])

    def test_contract_path_is_relative_to_module(self):
        here = os.path.dirname(os.path.abspath(__file__))
        self.assertEqual(
            EchoController.__magic_contract__, os.path.join(here, "fixtures", "echo.contract.yaml")
        )

    def test_function_controller(self):
        out = run_controller(function_controller, {"a": 2, "b": 3}, request_id="r")
        self.assertEqual(out, {"sum": 5, "request_id": "r"})

    def test_capability_without_grant_is_e2001(self):
        with self.assertRaises(magic.CapabilityNotDeclared) as caught:
            run_controller(UsesCache, {})
        self.assertEqual(caught.exception.code, "E2001")
        self.assertEqual(caught.exception.details["capability"], "cache:read")

    def test_capability_fake_injected(self):
        out = run_controller(UsesCache, {}, capabilities={"cache": FakeCache()})
        self.assertEqual(out, {"value": "cached:k"})

    def test_structured_error_shape(self):
        err = magic.InputError("amount too high", details={"field": "amount"})
        self.assertEqual(
            err.to_dict("req_9"),
            {
                "error": {
                    "code": "E1003",
                    "category": "CONTRACT",
                    "message": "amount too high",
                    "details": {"field": "amount"},
                    "request_id": "req_9",
                }
            },
        )
        json.dumps(err.to_dict())

    def test_sync_execute_is_refused(self):
        def not_async(input, ctx):
            return {}

        with self.assertRaises(TypeError):
            run_controller(not_async, {})

    def test_non_json_output_is_refused(self):
        async def bad(input, ctx):
            return {"x": object()}

        with self.assertRaises(TypeError):
            run_controller(bad, {})


if __name__ == "__main__":
    unittest.main()
