"""ProbeTemp (fs:temp, 1Mi): tries what a hostile controller would try; `ok` says whether it worked."""

import json
import os
import socket
import time

from magic import Controller, contract


def _attempt(action):
    try:
        detail = action()
        return {"ok": True, "detail": str(detail)[:4000]}
    except OSError as error:
        return {"ok": False, "detail": f"{type(error).__name__}: {error}"}


def _fork_bomb():
    count = 0
    try:
        for _ in range(1000):
            if os.fork() == 0:
                time.sleep(20)
                os._exit(0)
            count += 1
    except OSError as error:
        return {"ok": False, "count": count, "detail": str(error)}
    return {"ok": True, "count": count}


def _tmp_write(size):
    written = 0
    try:
        with open("/tmp/probe.bin", "wb") as out:
            while written < size:
                out.write(b"\0" * 65536)
                out.flush()
                written += 65536
    except OSError as error:
        return {"ok": False, "count": written, "detail": str(error)}
    return {"ok": True, "count": written}


def _write(path):
    with open(path, "w") as out:
        out.write("probe")
    return path


def _read(path):
    with open(path, "rb") as f:
        return f.read(64)


@contract("./probe_temp.contract.yaml")
class ProbeTempController(Controller):
    async def execute(self, input: dict) -> dict:
        check, path = input["check"], input.get("path", "")
        actions = {
            "tcp": lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM),
            "udp": lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM),
            "netlink": lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW),
            "unix": lambda: socket.socketpair(),
            "read": lambda: _read(path),
            "list": lambda: os.listdir(path),
            "write": lambda: _write(path),
            "env": lambda: json.dumps(dict(os.environ)),
            "whoami": lambda: json.dumps({"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid()}),
        }
        if check == "fork_bomb":
            return _fork_bomb()
        if check == "garbage":  # a frame header announcing 4 GiB on the channel
            os.write(3, b"\xff\xff\xff\xff")
            time.sleep(5)
        if check == "exit":
            os._exit(3)
        if check == "tmp_write":
            return _tmp_write(input.get("bytes", 1 << 20))
        return _attempt(actions[check])
