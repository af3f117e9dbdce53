"""Unit tests of the in-sandbox runner's pure parts (no sandbox, no fd 3)."""

import asyncio
import socket
import sys
import unittest

import magic
from magic import _runner


class ModuleNameTest(unittest.TestCase):
    def test_maps_paths_to_modules(self):
        self.assertEqual(_runner._module_name("greeter.py"), ("greeter", False))
        self.assertEqual(_runner._module_name("pkg/__init__.py"), ("pkg", True))
        self.assertEqual(_runner._module_name("pkg/sub/mod.py"), ("pkg.sub.mod", False))

    def test_rejects_escapes_and_non_python(self):
        for path in ("../x.py", "/abs.py", "a/../b.py", "data.json"):
            self.assertEqual(_runner._module_name(path)[0], None, path)


class BundleImporterTest(unittest.TestCase):
    def setUp(self):
        self.files = {
            "rt_entry_mod.py": (
                "from rt_pkg_mod.helper import boom\n"
                "import magic\n"
                "@magic.contract('./x.contract.yaml')\n"
                "class C(magic.Controller):\n"
                "    async def execute(self, input):\n"
                "        return boom()\n"
            ),
            "rt_pkg_mod/__init__.py": "",
            "rt_pkg_mod/helper.py": "def boom():\n    return 1 / 0\n",
        }
        self.importer = _runner._BundleImporter(self.files)
        sys.meta_path.insert(0, self.importer)

    def tearDown(self):
        sys.meta_path.remove(self.importer)
        for name in ("rt_entry_mod", "rt_pkg_mod", "rt_pkg_mod.helper"):
            sys.modules.pop(name, None)

    def test_imports_from_memory_as_controller_paths(self):
        import importlib

        module = importlib.import_module("rt_entry_mod")
        self.assertEqual(module.__file__, "/controller/rt_entry_mod.py")
        kind, target = _runner._find_target(module)
        self.assertEqual(kind, "class")
        self.assertEqual(target.__magic_contract__, "/controller/x.contract.yaml")

    def test_traceback_starts_at_the_controller(self):
        import importlib

        module = importlib.import_module("rt_entry_mod")
        try:
            asyncio.run(module.C(None).execute({}))
        except ZeroDivisionError as error:
            text = _runner._trimmed_traceback(error)
        self.assertTrue(text.startswith("Traceback (most recent call last):\n"), text)
        self.assertIn('File "/controller/rt_entry_mod.py"', text)
        self.assertIn('File "/controller/rt_pkg_mod/helper.py", line 2, in boom', text)
        self.assertIn("return 1 / 0", text)  # source lines come from memory
        self.assertNotIn("asyncio", text)


class ErrorFrameTest(unittest.TestCase):
    def test_maps_exceptions(self):
        self.assertEqual(_runner._frame_for_exception(MemoryError())["code"], "E3002")
        frame = _runner._frame_for_exception(magic.InputError("bad", details={"field": "x"}))
        self.assertEqual((frame["code"], frame["details"]), ("E1003", {"field": "x"}))
        frame = _runner._frame_for_exception(KeyError("k"))
        self.assertEqual(frame["code"], "E3003")
        self.assertEqual(frame["details"]["exception"], "KeyError")

    def test_replies_become_magic_exceptions(self):
        error = _runner._error_from_reply("db", "query", {"code": "E2001", "message": "no"})
        self.assertIsInstance(error, magic.CapabilityNotDeclared)
        error = _runner._error_from_reply("db", "query", {"code": "E2003"})
        self.assertIsInstance(error, magic.CapabilityError)
        self.assertEqual(error.code, "E2003")


class ChannelTest(unittest.TestCase):
    def test_frames_round_trip_and_calls_resolve(self):
        worker, runner = socket.socketpair()
        channel = _runner.Channel(runner.detach())
        peer = _runner.Channel(worker.detach())

        async def call():
            return await channel.call("cache", "get", {"args": ["k"], "kwargs": {}})

        async def scenario():
            task = asyncio.ensure_future(call())
            await asyncio.sleep(0.01)
            frame = peer.read_frame()
            self.assertEqual(frame["type"], "call")
            self.assertEqual((frame["capability"], frame["op"]), ("cache", "get"))
            peer.send({"type": "reply", "seq": frame["seq"], "result": "v"})
            return await task

        self.assertEqual(asyncio.run(scenario()), "v")

    def test_oversized_frames_are_refused(self):
        a, b = socket.socketpair()
        channel = _runner.Channel(a.detach())
        with self.assertRaises(_runner.FrameTooLarge):
            channel.send({"type": "log", "msg": "x" * (_runner.MAX_FRAME + 1)})
        b.close()


class MetricsTest(unittest.TestCase):
    def test_invalid_metrics_raise_in_the_controller(self):
        records = []
        metrics = magic.Context("r", records.append, metric_sink=records.append).metrics
        metrics.inc("ok_total", status="x")
        self.assertEqual(records[0]["name"], "ok_total")
        for bad in (lambda: metrics.inc("bad name"), lambda: metrics.set("g", float("nan")),
                    lambda: metrics.inc("x", **{"bad-label": "v"})):
            with self.assertRaises(ValueError):
                bad()


if __name__ == "__main__":
    unittest.main()
