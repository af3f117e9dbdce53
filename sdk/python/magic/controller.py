"""Controller base class, the @contract decorator and the per-call context."""

import inspect
import math
import os
import re

from .errors import CapabilityNotDeclared


class _Log:
    """Structured log for one invocation: every record carries the request id."""

    def __init__(self, request_id, sink):
        self._request_id = request_id
        self._sink = sink

    def _emit(self, level, msg, fields):
        record = {"level": level, "msg": str(msg), "request_id": self._request_id}
        record.update({k: v for k, v in fields.items() if k not in record})
        self._sink(record)

    def debug(self, msg, **fields):
        self._emit("debug", msg, fields)

    def info(self, msg, **fields):
        self._emit("info", msg, fields)

    def warning(self, msg, **fields):
        self._emit("warning", msg, fields)

    def error(self, msg, **fields):
        self._emit("error", msg, fields)


class _Metrics:
    """Custom metrics for one invocation (declared under observability.metrics).

    Records are handed to the sink; in the farm the worker checks them
    against the contract and exports them to Prometheus.
    """

    def __init__(self, request_id, sink):
        self._request_id = request_id
        self._sink = sink

    _NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]{0,199}")
    _LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")

    def _emit(self, kind, name, value, labels):
        if not isinstance(name, str) or not self._NAME.fullmatch(name):
            raise ValueError(f"invalid metric name {name!r}")
        if not math.isfinite(float(value)):
            raise ValueError(f"metric {name}: value must be finite")
        if len(labels) > 32 or not all(self._LABEL.fullmatch(k) for k in labels):
            raise ValueError(f"metric {name}: at most 32 labels with identifier names")
        self._sink(
            {
                "kind": kind,
                "name": str(name),
                "value": float(value),
                "labels": {str(k): str(v) for k, v in labels.items()},
                "request_id": self._request_id,
            }
        )

    def inc(self, name, value=1, **labels):
        """Adds `value` to a counter."""
        self._emit("counter", name, value, labels)

    def set(self, name, value, **labels):
        """Sets a gauge."""
        self._emit("gauge", name, value, labels)

    def observe(self, name, value, **labels):
        """Records one observation of a histogram or summary."""
        self._emit("histogram", name, value, labels)


def _discard(_record):
    pass


class _Unavailable:
    """A capability that is not available to this run: every use is E2001."""

    def __init__(self, capability):
        self._capability = capability

    def __getattr__(self, name):
        raise CapabilityNotDeclared(
            f"capability {self._capability} is not available here "
            f"(called .{name}); declare it in the contract and run in the farm",
            details={"capability": self._capability, "operation": name},
        )


_CAPABILITY_ATTRS = {
    "db": "db:read",
    "http": "http:egress",
    "secrets": "secrets:read",
    "cache": "cache:read",
    "queue": "queue:publish",
    "fs": "fs:temp",
}


class Context:
    """What a controller sees of the farm for one call."""

    def __init__(self, request_id, log_sink, capabilities=None, metric_sink=None):
        self.request_id = request_id
        self.log = _Log(request_id, log_sink)
        self.metrics = _Metrics(request_id, metric_sink or _discard)
        caps = capabilities or {}
        for attr, capability in _CAPABILITY_ATTRS.items():
            setattr(self, attr, caps.get(attr) or _Unavailable(capability))


class Controller:
    """Base class: subclass it, decorate with @contract, define async execute()."""

    __magic_contract__ = None

    def __init__(self, context):
        self._context = context

    @property
    def request_id(self):
        return self._context.request_id

    @property
    def log(self):
        return self._context.log

    @property
    def metrics(self):
        return self._context.metrics

    def __getattr__(self, name):
        if name in _CAPABILITY_ATTRS:
            return getattr(self._context, name)
        raise AttributeError(name)

    async def execute(self, input):  # pragma: no cover - overridden
        raise NotImplementedError("controllers define async def execute(self, input)")


def contract(path):
    """Binds a controller class to its contract file, relative to the module."""

    def bind(cls):
        module_file = inspect.getsourcefile(cls) or ""
        base = os.path.dirname(os.path.abspath(module_file))
        cls.__magic_contract__ = os.path.normpath(os.path.join(base, path))
        return cls

    return bind
