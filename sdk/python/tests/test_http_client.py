"""Unit tests of magic._http (HttpClient, Response) with a fake broker call."""

import base64
import unittest

import magic
from magic._http import HTTPStatusError, HttpClient, Response
from magic.testing import run_controller
from fakes import run
from fakes import FakeCall as _FakeCall

STRIPE_INVOICE = {
    "status": 200,
    "headers": {"content-type": "application/json"},
    "body": '{"id": "in_1"}',
    "json": {"id": "in_1"},
    "url": "https://api.stripe.com/v1/invoices",
}


def FakeCall(result=None, error=None):  # noqa: N802 (reads like the class it makes)
    """A broker call answering with `result` (a Stripe-like invoice by default) or `error`."""
    return _FakeCall(result=dict(STRIPE_INVOICE) if result is None else result, error=error)


class HttpClientRequestTest(unittest.TestCase):
    def test_every_method_maps_to_its_op(self):
        call = FakeCall()
        client = HttpClient(call)
        for method in ("get", "post", "put", "patch", "delete", "head"):
            run(getattr(client, method)("https://api.example.com/x"))
        self.assertEqual(
            [op for op, _ in call.calls], ["get", "post", "put", "patch", "delete", "head"]
        )
        self.assertEqual(call.calls[0][1], {"url": "https://api.example.com/x"})

    def test_json_headers_params_timeout_are_passed(self):
        call = FakeCall()
        run(
            HttpClient(call).post(
                "https://api.stripe.com/v1/invoices",
                json={"amount": 1200},
                headers={"Authorization": "Bearer k", "X-Bytes": b"v"},
                params={"expand": ["lines", "customer"], "limit": 3, "skip": None},
                timeout=2,
            )
        )
        op, params = call.calls[0]
        self.assertEqual(op, "post")
        self.assertEqual(
            params,
            {
                "url": "https://api.stripe.com/v1/invoices",
                "json": {"amount": 1200},
                "headers": {"Authorization": "Bearer k", "X-Bytes": "v"},
                "params": {"expand": ["lines", "customer"], "limit": 3, "skip": None},
                "timeout": 2.0,
            },
        )

    def test_params_as_pairs_repeat_names(self):
        call = FakeCall()
        run(HttpClient(call).get("https://a.example/x", params=[("a", 1), ("a", 2), ("b", "x")]))
        self.assertEqual(call.calls[0][1]["params"], {"a": [1, 2], "b": "x"})

    def test_form_data_is_encoded_with_its_content_type(self):
        call = FakeCall()
        run(HttpClient(call).post("https://a.example/x", data={"a": "1 2", "b": ["x", "y"]}))
        params = call.calls[0][1]
        self.assertEqual(params["data"], "a=1+2&b=x&b=y")
        self.assertEqual(params["headers"], {"Content-Type": "application/x-www-form-urlencoded"})

        run(
            HttpClient(call).post(
                "https://a.example/x", data={"a": "1"}, headers={"content-type": "text/plain"}
            )
        )
        self.assertEqual(call.calls[1][1]["headers"], {"content-type": "text/plain"})

    def test_text_and_bytes_data(self):
        call = FakeCall()
        run(HttpClient(call).put("https://a.example/x", data="raw"))
        run(HttpClient(call).put("https://a.example/x", data="é".encode()))
        self.assertEqual(call.calls[0][1], {"url": "https://a.example/x", "data": "raw"})
        self.assertEqual(call.calls[1][1]["data"], "é")
        with self.assertRaises(TypeError):
            run(HttpClient(call).put("https://a.example/x", data=b"\xff\xfe"))

    def test_bad_arguments_raise_before_calling(self):
        call = FakeCall()
        client = HttpClient(call)
        with self.assertRaises(ValueError):
            run(client.post("https://a.example/x", json={}, data="x"))
        with self.assertRaises(TypeError):
            run(client.get(""))
        with self.assertRaises(TypeError):
            run(client.get(None))
        with self.assertRaises(TypeError):
            run(client.get("https://a.example/x", headers={"X-N": 5}))
        with self.assertRaises(TypeError):
            run(client.get("https://a.example/x", headers=[("X-N", "5")]))
        with self.assertRaises(TypeError):
            run(client.get("https://a.example/x", params={"a": {"nested": 1}}))
        with self.assertRaises(ValueError):
            run(client.get("https://a.example/x", timeout=0))
        with self.assertRaises(ValueError):
            run(client.get("https://a.example/x", timeout=True))
        with self.assertRaises(ValueError):
            run(client.request("options", "https://a.example/x"))
        self.assertEqual(call.calls, [])

    def test_header_type_error_does_not_show_the_value(self):
        with self.assertRaises(TypeError) as raised:
            run(HttpClient(FakeCall()).get("https://a.example/x", headers={"Authorization": 12345}))
        self.assertNotIn("12345", str(raised.exception))

    def test_broker_errors_propagate(self):
        error = magic.CapabilityError("host not allowed", details={"host": "evil"}, code="E2003")
        with self.assertRaises(magic.CapabilityError) as raised:
            run(HttpClient(FakeCall(error=error)).get("https://evil.example/"))
        self.assertEqual(raised.exception.code, "E2003")
        with self.assertRaises(magic.Timeout):
            run(HttpClient(FakeCall(error=magic.Timeout("slow"))).get("https://a.example/"))


class ResponseTest(unittest.TestCase):
    def test_json_result_gives_mapping_access(self):
        response = run(HttpClient(FakeCall()).post("https://api.stripe.com/v1/invoices", json={}))
        self.assertEqual(response.status, 200)
        self.assertTrue(response.ok)
        self.assertTrue(response)
        self.assertEqual(response["id"], "in_1")
        self.assertIn("id", response)
        self.assertNotIn("nope", response)
        self.assertEqual(response.get("id"), "in_1")
        self.assertEqual(response.get("nope", 7), 7)
        self.assertEqual(response.json(), {"id": "in_1"})
        self.assertEqual(response.text, '{"id": "in_1"}')
        self.assertEqual(response.content, b'{"id": "in_1"}')
        self.assertEqual(response.headers["Content-Type"], "application/json")
        self.assertEqual(response.url, "https://api.stripe.com/v1/invoices")
        self.assertIs(response.raise_for_status(), response)
        with self.assertRaises(KeyError):
            response["nope"]

    def test_json_is_parsed_from_text_when_the_broker_did_not(self):
        response = Response({"status": 200, "headers": {}, "body": "[1, 2]", "url": "u"})
        self.assertEqual(response.json(), [1, 2])
        self.assertEqual(response[1], 2)
        self.assertNotIn("x", response)
        self.assertIsNone(response.get("x"))

    def test_non_json_body(self):
        response = Response({"status": 404, "headers": {}, "body": "not found", "url": "u"})
        self.assertFalse(response.ok)
        self.assertFalse(response)
        with self.assertRaises(ValueError):
            response.json()
        with self.assertRaises(ValueError):
            response["id"]
        self.assertNotIn("id", response)
        self.assertEqual(response.get("id", "d"), "d")
        with self.assertRaises(HTTPStatusError) as raised:
            response.raise_for_status()
        self.assertIsInstance(raised.exception, magic.MagicError)
        self.assertEqual(raised.exception.details["status"], 404)

    def test_binary_body(self):
        raw = b"\xff\xfe\x00\x01"
        encoded = base64.b64encode(raw).decode()
        response = Response({"status": 200, "headers": {}, "body_base64": encoded, "url": "u"})
        self.assertEqual(response.content, raw)
        self.assertEqual(response.text, "\ufffd\ufffd\x00\x01")
        with self.assertRaises(ValueError):
            response.json()

    def test_head_and_null_json(self):
        response = Response(
            {"status": 200, "headers": {"content-length": "5"}, "body": "", "url": "u"}
        )
        self.assertEqual(response.text, "")
        self.assertEqual(response.headers.get("Content-Length"), "5")
        self.assertEqual(len(response.headers), 1)
        null = Response({"status": 200, "headers": {}, "body": "null", "json": None, "url": "u"})
        self.assertIsNone(null.json())
        self.assertNotIn("id", null)

    def test_bad_result_is_a_type_error(self):
        with self.assertRaises(TypeError):
            Response(["not", "a", "dict"])
        self.assertEqual(repr(Response({"status": 201})), "<Response [201]>")


class SpecExampleTest(unittest.TestCase):
    """The spec's InvoiceSync shape: response["id"] on self.http.post(...)."""

    def test_controller_reads_the_id(self):
        class Sync(magic.Controller):
            async def execute(self, input):
                response = await self.http.post(
                    "https://api.stripe.com/v1/invoices",
                    json=input["invoice_data"],
                    headers={"Authorization": "Bearer sk_test"},
                )
                return {"sync_id": response["id"], "status": "completed"}

        call = FakeCall()
        out = run_controller(
            Sync, {"invoice_data": {"amount": 5}}, capabilities={"http": HttpClient(call)}
        )
        self.assertEqual(out, {"sync_id": "in_1", "status": "completed"})
        self.assertEqual(call.calls[0][1]["json"], {"amount": 5})


if __name__ == "__main__":
    unittest.main()
