"""The in-sandbox runner: the only Python the worker starts.

Started by the worker inside bubblewrap as

    /usr/bin/python3 -I -S -B /magic/sdk/magic/_runner.py

(-I ignores PYTHON* variables and the user site, -S skips site-packages, so
sys.path is only the standard library; this file puts the SDK root, the
directory above `magic/`, in front itself). It talks to the worker over fd 3
with frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON
(at most 16 MiB). See worker/README.md for the protocol.

    runner -> worker   ready, loaded, log, metric, call, result, error
    worker -> runner   load, invoke, reply, shutdown

A generic runner starts with an empty /controller, imports the SDK and
waits. A "load" frame carries the bundle's .py sources; they are imported
from memory under /controller/<relpath> (so tracebacks name /controller
paths only) and the runner is then dedicated to that controller version.
Every "invoke" runs one call on a fresh Controller instance (or the
module-level `async def execute(input, ctx)`) in a fresh event loop.
"""

import os
import sys

_SDK_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _SDK_ROOT not in sys.path:
    sys.path.insert(0, _SDK_ROOT)

# Imported before "ready" so that loading a controller costs no SDK import.
import asyncio  # noqa: E402
import importlib  # noqa: E402
import importlib.abc  # noqa: E402
import importlib.machinery  # noqa: E402
import inspect  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import linecache  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402

import magic  # noqa: E402
from magic._db import DbClient  # noqa: E402
from magic._fs import FsClient  # noqa: E402
from magic._http import HttpClient  # noqa: E402
from magic._stores import CacheClient, QueueClient, SecretsClient  # noqa: E402
from magic.controller import Context, Controller  # noqa: E402
from magic.errors import MagicError, error_for_code  # noqa: E402

# Modules controllers commonly use: importing them now keeps cold starts short.
for _name in ("base64", "collections", "dataclasses", "datetime", "decimal", "enum",
              "hashlib", "math", "random", "re", "typing", "uuid"):
    try:
        __import__(_name)
    except ImportError:  # pragma: no cover - partial stdlib
        pass

MAX_FRAME = 16 << 20
CONTROLLER_ROOT = "/controller"
_LOG_LEVELS = ("debug", "info", "warning", "error")
_MAX_LOG_CHARS = 8192


class ChannelClosed(Exception):
    """The worker closed fd 3."""


class FrameTooLarge(ValueError):
    """A frame would exceed MAX_FRAME."""


class Channel:
    """Frames over the fd-3 socket. send() is thread-safe; reads are not."""

    def __init__(self, fd):
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(True)
        self._send_lock = threading.Lock()
        self._buffer = bytearray()
        self._pending = {}
        self._seq = 0
        self._reader_loop = None

    def send(self, frame, strict=False):
        """Sends one frame. Non-JSON values become strings unless `strict`."""
        data = json.dumps(
            frame, ensure_ascii=False, allow_nan=False, default=None if strict else str
        ).encode("utf-8", "replace")
        if len(data) > MAX_FRAME:
            raise FrameTooLarge(f"frame of {len(data)} bytes exceeds the {MAX_FRAME} byte limit")
        with self._send_lock:
            self._sock.sendall(struct.pack(">I", len(data)) + data)

    def _take_frame(self):
        if len(self._buffer) < 4:
            return None
        (size,) = struct.unpack(">I", self._buffer[:4])
        if size > MAX_FRAME:
            raise ChannelClosed(f"frame of {size} bytes from the worker")
        if len(self._buffer) < 4 + size:
            return None
        payload = bytes(self._buffer[4 : 4 + size])
        del self._buffer[: 4 + size]
        frame = json.loads(payload.decode("utf-8"))
        return frame if isinstance(frame, dict) else {}

    def read_frame(self):
        """Blocks until the next frame; raises ChannelClosed at EOF."""
        while True:
            frame = self._take_frame()
            if frame is not None:
                return frame
            chunk = self._sock.recv(1 << 16)
            if not chunk:
                raise ChannelClosed("worker closed the channel")
            self._buffer += chunk

    # Capability calls from inside the controller's event loop.
    async def call(self, capability, op, args):
        loop = asyncio.get_running_loop()
        if self._reader_loop is not loop:
            loop.add_reader(self._sock.fileno(), self._on_readable)
            self._reader_loop = loop
        self._seq += 1
        seq = self._seq
        future = loop.create_future()
        self._pending[seq] = future
        try:
            self.send(
                {"type": "call", "seq": seq, "capability": capability, "op": op, "args": args},
                strict=True,
            )
            reply = await future
        finally:
            self._pending.pop(seq, None)
        error = reply.get("error")
        if error is not None:
            raise _error_from_reply(capability, op, error)
        return reply.get("result")

    def _on_readable(self):
        try:
            chunk = self._sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        if not chunk:
            os._exit(0)  # the worker is gone; nothing left to answer to
        self._buffer += chunk
        while True:
            frame = self._take_frame()
            if frame is None:
                return
            if frame.get("type") != "reply":
                continue
            future = self._pending.get(frame.get("seq"))
            if future is not None and not future.done():
                future.set_result(frame)


def _error_from_reply(capability, op, error):
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code", "E3005"))
    message = str(error.get("message", f"{capability}.{op} failed"))
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    return error_for_code(code, message, details)


def _make_capabilities(channel):
    """self.db, self.http, ...: SDK clients whose calls are answered by the broker."""
    def bound(name):
        async def call(op, params):
            return await channel.call(name, op, params)

        return call

    return {
        "db": DbClient(bound("db")),
        "http": HttpClient(bound("http")),
        "secrets": SecretsClient(bound("secrets")),
        "cache": CacheClient(bound("cache")),
        "queue": QueueClient(bound("queue")),
        "fs": FsClient(bound("fs")),
    }


class _LogStream(io.TextIOBase):
    """sys.stdout / sys.stderr: each complete line becomes a log frame."""

    def __init__(self, channel, level, stream):
        self._channel = channel
        self._level = level
        self._stream = stream
        self._partial = ""

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self._emit(line)
        if len(self._partial) > 8192:
            self.flush()
        return len(text)

    def flush(self):
        if self._partial:
            line, self._partial = self._partial, ""
            self._emit(line)

    def _emit(self, line):
        try:
            self._channel.send(
                {"type": "log", "level": self._level, "msg": line, "fields": {"stream": self._stream}}
            )
        except (OSError, ValueError):
            pass


class _BundleImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the bundle's sources from memory as /controller/<relpath>."""

    def __init__(self, files):
        self._modules = {}
        for relpath, source in files.items():
            name, is_package = _module_name(relpath)
            if name:
                path = f"{CONTROLLER_ROOT}/{relpath}"
                self._modules[name] = (path, source, is_package)
                lines = source.splitlines(keepends=True)
                linecache.cache[path] = (len(source), None, lines, path)

    def find_spec(self, fullname, path=None, target=None):
        entry = self._modules.get(fullname)
        if entry is None:
            return None
        file_path, _, is_package = entry
        spec = importlib.machinery.ModuleSpec(
            fullname, self, origin=file_path, is_package=is_package
        )
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(file_path)]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        file_path, source, _ = self._modules[module.__name__]
        code = compile(source, file_path, "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - this is what a runner is for

    def get_source(self, fullname):
        entry = self._modules.get(fullname)
        return entry[1] if entry else None


def _module_name(relpath):
    if not relpath.endswith(".py") or relpath.startswith("/") or ".." in relpath.split("/"):
        return None, False
    parts = relpath[:-3].split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _find_target(module):
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Controller)
        and value is not Controller
        and value.__module__ == module.__name__
    ]
    decorated = [c for c in classes if c.__magic_contract__]
    candidates = decorated or classes
    if len(candidates) == 1:
        return "class", candidates[0]
    if len(candidates) > 1:
        names = ", ".join(sorted(c.__name__ for c in candidates))
        raise MagicError(f"several Controller classes in the entry module: {names}", code="E4001")
    execute = getattr(module, "execute", None)
    if inspect.iscoroutinefunction(execute):
        return "function", execute
    raise MagicError(
        "the entry module defines neither a Controller subclass nor `async def execute(input, ctx)`",
        code="E4001",
    )


def _trimmed_traceback(error):
    """The traceback from the first /controller frame on, chained causes included."""

    def trim(te, seen):
        if te is None or id(te) in seen:
            return
        seen.add(id(te))
        stack = list(te.stack)
        for index, frame in enumerate(stack):
            if frame.filename.startswith(CONTROLLER_ROOT + "/"):
                te.stack = traceback.StackSummary.from_list(stack[index:])
                break
        else:
            te.stack = traceback.StackSummary.from_list(
                [f for f in stack if not f.filename.endswith("/magic/_runner.py")]
            )
        trim(te.__cause__, seen)
        trim(te.__context__, seen)

    te = traceback.TracebackException.from_exception(error)
    trim(te, set())
    return "".join(te.format())


def _error_frame(code, message, details=None, traceback_text=None):
    frame = {"type": "error", "code": code, "message": message, "details": details or {}}
    if traceback_text:
        frame["traceback"] = traceback_text
    return frame


def _frame_for_exception(error):
    if isinstance(error, MagicError):
        text = _trimmed_traceback(error) if error.code == "E3003" else None
        return _error_frame(error.code, error.message or str(error), error.details, text)
    if isinstance(error, MemoryError):
        return _error_frame("E3002", "the controller ran out of memory")
    name = type(error).__name__
    return _error_frame(
        "E3003", f"{name}: {error}"[:4096], {"exception": name}, _trimmed_traceback(error)
    )


class Runner:
    """One sandbox's life: load once, then invoke many times."""

    def __init__(self, channel):
        self._channel = channel
        self._kind = None
        self._target = None
        self._capabilities = _make_capabilities(channel)

    def load(self, frame):
        if self._target is not None:
            return _error_frame("E3005", "runner already loaded")
        limits = frame.get("limits") if isinstance(frame.get("limits"), dict) else {}
        memory = limits.get("rlimit_as_bytes")
        if isinstance(memory, int) and memory > 0:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        files = frame.get("files") if isinstance(frame.get("files"), dict) else {}
        files = {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}
        sys.meta_path.insert(0, _BundleImporter(files))
        try:
            module = importlib.import_module(str(frame.get("entry", "")))
            self._kind, self._target = _find_target(module)
        except BaseException as error:  # noqa: BLE001 - user code, report everything
            return _frame_for_exception(error)
        return {"type": "loaded", "kind": self._kind, "name": self._target.__name__}

    def invoke(self, frame):
        if self._target is None:
            return _error_frame("E3005", "invoke before load")
        request_id = str(frame.get("request_id", ""))
        context = Context(request_id, self._log_sink, self._capabilities, self._metric_sink)
        try:
            output = asyncio.run(self._execute(frame.get("input"), context))
        except BaseException as error:  # noqa: BLE001 - user code, report everything
            return _frame_for_exception(error)
        return {"type": "result", "output": output}

    async def _execute(self, input, context):
        if self._kind == "class":
            coroutine = self._target(context).execute(input)
        else:
            coroutine = self._target(input, context)
        if not inspect.isawaitable(coroutine):
            raise TypeError("execute must be declared `async def`")
        return await coroutine

    def _log_sink(self, record):
        level = record.get("level", "info")
        frame = {
            "type": "log",
            "level": level if level in _LOG_LEVELS else "info",
            "msg": str(record.get("msg", ""))[:_MAX_LOG_CHARS],
            "fields": {k: v for k, v in record.items() if k not in ("level", "msg", "request_id")},
        }
        try:
            self._channel.send(frame)
        except (FrameTooLarge, RecursionError):
            frame["fields"] = {"truncated": True}  # logging must never fail the controller
            self._channel.send(frame)

    def _metric_sink(self, record):
        frame = {k: v for k, v in record.items() if k != "request_id"}
        frame["type"] = "metric"
        self._channel.send(frame)


def _serve(channel):
    runner = Runner(channel)
    while True:
        frame = channel.read_frame()
        kind = frame.get("type")
        if kind == "load":
            channel.send(runner.load(frame))
        elif kind == "invoke":
            reply = runner.invoke(frame)
            try:
                channel.send(reply, strict=True)
            except FrameTooLarge as error:
                channel.send(_error_frame("E1004", "the controller's output is too large",
                                          {"reason": str(error)}))
            except (TypeError, ValueError, RecursionError) as error:
                channel.send(
                    _error_frame(
                        "E1004",
                        "the controller's output is not JSON-serialisable",
                        {"reason": str(error)[:1024]},
                    )
                )
        elif kind == "shutdown":
            return


def main():
    try:
        channel = Channel(3)
    except OSError:
        return 70
    sys.stdout = _LogStream(channel, "info", "stdout")
    sys.stderr = _LogStream(channel, "warning", "stderr")
    channel.send(
        {"type": "ready", "python": sys.version.split()[0], "sdk": magic.__version__}
    )
    try:
        _serve(channel)
    except ChannelClosed:
        return 0
    except MemoryError:
        return 71
    return 0


if __name__ == "__main__":
    sys.exit(main())
