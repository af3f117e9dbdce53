"""DbClient with a fake `call`: argument shaping, no round trip on bad types,
errors from the broker pass through unchanged."""

import unittest

from magic._db import DbClient
from magic.errors import LimitExceeded, OutsideAllowlist, RequestError
from fakes import FakeCall, run


class DbClientTest(unittest.TestCase):
    def setUp(self):
        self.call = FakeCall(result=[{"id": 1}])
        self.db = DbClient(self.call)

    def test_query_sends_only_given_arguments(self):
        self.assertEqual(run(self.db.query("orders")), [{"id": 1}])
        self.assertEqual(self.call.calls, [("query", {"table": "orders"})])

    def test_query_with_everything(self):
        run(
            self.db.query(
                "orders",
                where={"total": {"$gt": 10}, "note": None},
                columns=("id", "total"),
                order_by=["-total", "id"],
                limit=5,
                offset=0,
            )
        )
        self.assertEqual(
            self.call.calls[0],
            (
                "query",
                {
                    "table": "orders",
                    "where": {"total": {"$gt": 10}, "note": None},
                    "columns": ["id", "total"],
                    "order_by": ["-total", "id"],
                    "limit": 5,
                    "offset": 0,
                },
            ),
        )

    def test_query_one(self):
        self.call.result = None
        self.assertIsNone(run(self.db.query_one("orders", where={"id": 9}, order_by="-id")))
        self.assertEqual(
            self.call.calls,
            [("query_one", {"table": "orders", "where": {"id": 9}, "order_by": "-id"})],
        )

    def test_insert_one_and_many(self):
        self.call.result = {"row_count": 2, "rows": [{"id": 1}, {"id": 2}]}
        out = run(self.db.insert("orders", [{"name": "a"}, {"name": "b"}], returning=["id"]))
        self.assertEqual(out["row_count"], 2)
        self.assertEqual(
            self.call.calls[0],
            (
                "insert",
                {"table": "orders", "values": [{"name": "a"}, {"name": "b"}], "returning": ["id"]},
            ),
        )
        run(self.db.insert("orders", {"name": "c"}))
        self.assertEqual(
            self.call.calls[1], ("insert", {"table": "orders", "values": {"name": "c"}})
        )

    def test_update_and_delete_send_all_only_when_true(self):
        run(self.db.update("orders", {"id": 1}, {"note": "x"}, returning=["id"]))
        run(self.db.update("orders", None, {"note": "x"}, all=True))
        run(self.db.delete("orders", {"id": {"$in": [1, 2]}}))
        run(self.db.delete("orders", {}, all=True))
        self.assertEqual(
            self.call.calls,
            [
                (
                    "update",
                    {
                        "table": "orders",
                        "where": {"id": 1},
                        "values": {"note": "x"},
                        "returning": ["id"],
                    },
                ),
                ("update", {"table": "orders", "values": {"note": "x"}, "all": True}),
                ("delete", {"table": "orders", "where": {"id": {"$in": [1, 2]}}}),
                ("delete", {"table": "orders", "where": {}, "all": True}),
            ],
        )

    def test_raw(self):
        self.call.result = {"row_count": 1, "rows": [{"n": 3}]}
        out = run(self.db.raw("SELECT $1::int AS n", (3,)))
        self.assertEqual(out["rows"], [{"n": 3}])
        self.assertEqual(self.call.calls, [("raw", {"sql": "SELECT $1::int AS n", "params": [3]})])
        run(self.db.raw("SELECT 1"))
        self.assertEqual(self.call.calls[1], ("raw", {"sql": "SELECT 1"}))

    def test_wrong_types_fail_before_any_call(self):
        bad = [
            self.db.query(42),
            self.db.query("orders", where="id = 1"),
            self.db.query("orders", columns="id"),
            self.db.query("orders", columns=["id", 2]),
            self.db.query("orders", order_by=3),
            self.db.query("orders", limit="10"),
            self.db.query("orders", limit=True),
            self.db.query("orders", offset=1.5),
            self.db.insert("orders", "name=a"),
            self.db.insert("orders", {"a": 1}, returning="id"),
            self.db.update("orders", {"id": 1}, None),
            self.db.update("orders", {"id": 1}, {"a": 1}, all="yes"),
            self.db.delete("orders", "1=1"),
            self.db.raw(["SELECT 1"]),
            self.db.raw("SELECT $1", "x"),
        ]
        for coro in bad:
            with self.subTest(coro=coro.cr_code.co_name):
                with self.assertRaises(RequestError) as cm:
                    run(coro)
                self.assertEqual(cm.exception.code, "E1005")
        self.assertEqual(self.call.calls, [])

    def test_broker_errors_pass_through(self):
        self.call.error = OutsideAllowlist("table not declared", details={"table": "x"})
        with self.assertRaises(OutsideAllowlist) as cm:
            run(self.db.query("x"))
        self.assertEqual(cm.exception.details, {"table": "x"})
        self.call.error = LimitExceeded("limit exceeds max_rows")
        with self.assertRaises(LimitExceeded):
            run(self.db.query("orders", limit=10**6))


if __name__ == "__main__":
    unittest.main()
