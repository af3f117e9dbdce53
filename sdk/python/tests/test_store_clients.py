"""Unit tests of the cache, queue and secrets clients with a fake `call`."""

import unittest

from magic._stores import CacheClient, QueueClient, SecretsClient
from magic.errors import CapabilityError, MagicError
from fakes import FakeCall, run


class CacheClientTest(unittest.TestCase):
    def test_get_exists_ttl(self):
        call = FakeCall({"a": 1}, True, 42)
        cache = CacheClient(call)
        self.assertEqual(run(cache.get("c:1")), {"a": 1})
        self.assertTrue(run(cache.exists("c:1")))
        self.assertEqual(run(cache.ttl("c:1")), 42)
        self.assertEqual(
            call.calls,
            [("get", {"key": "c:1"}), ("exists", {"key": "c:1"}), ("ttl", {"key": "c:1"})],
        )

    def test_set_sends_ttl_only_when_given(self):
        call = FakeCall({"ttl": 600}, {"ttl": 30})
        cache = CacheClient(call)
        self.assertEqual(run(cache.set("c:1", [1, 2])), 600)
        self.assertEqual(run(cache.set("c:1", None, ttl=30)), 30)
        self.assertEqual(
            call.calls,
            [("set", {"key": "c:1", "value": [1, 2]}),
             ("set", {"key": "c:1", "value": None, "ttl": 30})],
        )

    def test_delete_and_incr(self):
        call = FakeCall(False, 5, -1)
        cache = CacheClient(call)
        self.assertFalse(run(cache.delete("c:1")))
        self.assertEqual(run(cache.incr("c:n", 5)), 5)
        self.assertEqual(run(cache.incr("c:n", amount=-6, ttl=60)), -1)
        self.assertEqual(call.calls[1], ("incr", {"key": "c:n", "amount": 5}))
        self.assertEqual(call.calls[2], ("incr", {"key": "c:n", "amount": -6, "ttl": 60}))

    def test_wrong_types_fail_locally_with_e1005(self):
        call = FakeCall()
        cache = CacheClient(call)
        for coroutine in (cache.get(1), cache.set("k", 1, ttl="60"), cache.set("k", 1, ttl=True),
                          cache.incr("k", amount=1.5), cache.delete(None)):
            with self.assertRaises(MagicError) as caught:
                run(coroutine)
            self.assertEqual(caught.exception.code, "E1005")
        self.assertEqual(call.calls, [])

    def test_broker_errors_propagate(self):
        error = CapabilityError("outside prefix", details={"key": "x"}, code="E2003")
        cache = CacheClient(FakeCall(error))
        with self.assertRaises(CapabilityError) as caught:
            run(cache.get("x"))
        self.assertEqual(caught.exception.code, "E2003")


class QueueClientTest(unittest.TestCase):
    def test_publish_one_with_key_and_headers(self):
        result = {"topic": "magic.queue.q", "count": 1, "offsets": [{"partition": 0, "offset": 3}]}
        call = FakeCall(result)
        queue = QueueClient(call)
        out = run(queue.publish("q", {"id": 1}, key="k", headers={"h": "v"}))
        self.assertEqual(out, result)
        self.assertEqual(
            call.calls,
            [("publish", {"queue": "q", "message": {"id": 1}, "key": "k", "headers": {"h": "v"}})],
        )

    def test_publish_many(self):
        call = FakeCall({"count": 2})
        run(QueueClient(call).publish("q", messages=({"a": 1}, {"a": 2})))
        self.assertEqual(call.calls, [("publish", {"queue": "q", "messages": [{"a": 1}, {"a": 2}]})])

    def test_a_none_message_is_sent_as_null(self):
        call = FakeCall({})
        run(QueueClient(call).publish("q"))
        self.assertEqual(call.calls, [("publish", {"queue": "q", "message": None})])

    def test_bad_arguments_fail_locally(self):
        queue = QueueClient(FakeCall())
        for coroutine in (queue.publish(5, 1), queue.publish("q", 1, messages=[2]),
                          queue.publish("q", messages="ab"), queue.publish("q", 1, key=3),
                          queue.publish("q", 1, headers={"a": 1}), queue.publish("q", 1, headers=[])):
            with self.assertRaises(MagicError) as caught:
                run(coroutine)
            self.assertEqual(caught.exception.code, "E1005")


class SecretsClientTest(unittest.TestCase):
    def test_get(self):
        call = FakeCall("sk_test")
        self.assertEqual(run(SecretsClient(call).get("STRIPE_API_KEY")), "sk_test")
        self.assertEqual(call.calls, [("get", {"key": "STRIPE_API_KEY"})])

    def test_not_found_propagates(self):
        error = MagicError("no secret", details={"secret": "X"}, code="E4003")
        with self.assertRaises(MagicError) as caught:
            run(SecretsClient(FakeCall(error)).get("X"))
        self.assertEqual(caught.exception.code, "E4003")
        with self.assertRaises(MagicError):
            run(SecretsClient(FakeCall()).get(b"X"))


if __name__ == "__main__":
    unittest.main()
