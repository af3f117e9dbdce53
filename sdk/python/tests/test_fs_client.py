"""Unit tests of self.fs with a fake `call` and a scratch directory as root."""

import tempfile
import unittest

from magic._fs import FsClient
from magic.errors import CapabilityError, CapabilityNotDeclared
from fakes import FakeCall, run


def fs_call(refuse=None):
    """The broker's answer to fs:temp checks: allowed, unless `refuse`."""
    return FakeCall(result={"allowed": True}, error=refuse)


class FsClientTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.call = fs_call()
        self.fs = FsClient(self.call, root=self.dir.name)

    def tearDown(self):
        self.dir.cleanup()

    def test_write_read_list_remove_each_asks_the_broker_first(self):
        run(self.fs.write_text("out/report.csv", "a,b\n"))
        self.assertEqual(run(self.fs.read_text("out/report.csv")), "a,b\n")
        run(self.fs.write_bytes("blob.bin", b"\x00\x01"))
        self.assertEqual(run(self.fs.read_bytes("blob.bin")), b"\x00\x01")
        self.assertEqual(run(self.fs.list(".")), ["blob.bin", "out"])
        run(self.fs.remove("blob.bin"))
        self.assertEqual(run(self.fs.list()), ["out"])
        self.assertEqual(
            [op for op, _ in self.call.calls],
            ["open", "open", "open", "open", "list", "remove", "list"],
        )
        self.assertEqual(self.call.calls[0][1], {"path": "out/report.csv", "mode": "w"})

    def test_paths_cannot_leave_the_temp_directory(self):
        for path in ("../escape", "/etc/passwd", "a/../../b"):
            with self.assertRaises(CapabilityError) as raised:
                run(self.fs.write_text(path, "x"))
            self.assertEqual(raised.exception.code, "E2003")
        self.assertEqual(self.call.calls, [])

    def test_a_refusal_from_the_broker_stops_the_operation(self):
        fs = FsClient(fs_call(refuse=CapabilityNotDeclared("no fs:temp")), root=self.dir.name)
        with self.assertRaises(CapabilityNotDeclared):
            run(fs.write_text("a.txt", "x"))
        self.assertEqual(run(self.fs.list()), [])


if __name__ == "__main__":
    unittest.main()
