"""self.fs: the sandbox's private temp directory (capability fs:temp).

The files live in a tmpfs of at most the contract's max_size inside the
sandbox; nothing else in the sandbox is writable. Each operation is first
checked and audited by the broker (operation and a hash of the path), then
done locally.
"""

import errno
import os

from .errors import CapabilityError


class FsClient:
    """Files under the temp directory; every path is relative to it."""

    def __init__(self, call, root="/tmp"):
        self._call = call
        self.path = root

    def _local(self, name):
        if not isinstance(name, str):
            raise TypeError("fs paths are strings")
        full = os.path.normpath(os.path.join(self.path, name))
        if full != self.path and not full.startswith(self.path + os.sep):
            raise CapabilityError(
                f"path {name!r} leaves the temp directory",
                details={"capability": "fs:temp"},
                code="E2003",
            )
        return full

    async def _check(self, op, name, **extra):
        full = self._local(name)
        await self._call(op, {"path": os.path.relpath(full, self.path), **extra})
        return full

    async def open(self, name, mode="r", encoding=None):
        """Opens a file like the builtin open() (creating parent directories
        when writing); the caller closes it."""
        full = await self._check("open", name, mode=str(mode))
        try:
            if any(flag in mode for flag in "wax"):
                os.makedirs(os.path.dirname(full), exist_ok=True)
            return open(full, mode, encoding=encoding)
        except OSError as error:
            raise _mapped(error) from error

    async def write_text(self, name, text, encoding="utf-8"):
        with await self.open(name, "w", encoding=encoding) as f:
            try:
                f.write(text)
            except OSError as error:
                raise _mapped(error) from error

    async def read_text(self, name, encoding="utf-8"):
        with await self.open(name, "r", encoding=encoding) as f:
            return f.read()

    async def write_bytes(self, name, data):
        with await self.open(name, "wb") as f:
            try:
                f.write(data)
            except OSError as error:
                raise _mapped(error) from error

    async def read_bytes(self, name):
        with await self.open(name, "rb") as f:
            return f.read()

    async def remove(self, name):
        os.remove(await self._check("remove", name))

    async def list(self, name="."):
        return sorted(os.listdir(await self._check("list", name)))

    async def mkdir(self, name):
        os.makedirs(await self._check("mkdir", name), exist_ok=True)


def _mapped(error):
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return CapabilityError(
            "fs:temp is full (max_size reached)",
            details={"capability": "fs:temp", "limit": "max_size"},
            code="E2004",
        )
    return error
