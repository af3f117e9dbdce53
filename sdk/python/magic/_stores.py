"""Capability proxies for the cache, queue and secrets stores.

Each client wraps `call`, an async function `await call(op, params)` that
sends one capability call to the broker and returns its JSON result or
raises the MagicError subclass of the broker's E-code. The clients only
shape arguments; every rule (key prefix, ttl cap, queue allowlist, sizes)
is enforced by the broker. Arguments of the wrong Python type fail here,
before any round trip, with E1005.

    value = await self.cache.get("customer:42")          # None when missing
    await self.cache.set("customer:42", {"name": "Ada"}, ttl=300)
    n = await self.cache.incr("customer:42:hits")        # new keys expire too
    await self.queue.publish("order-events", {"id": 7}, key="customer-42")
    token = await self.secrets.get("STRIPE_API_KEY")
"""

from .errors import ContractError


def _bad(message, **details):
    return ContractError(message, details=details, code="E1005")


def _check_str(name, value):
    if not isinstance(value, str):
        raise _bad(f"{name} must be a string", argument=name)


def _check_int(name, value):
    # bool is an int in Python but not in JSON.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise _bad(f"{name} must be an integer", argument=name)


class CacheClient:
    """cache:read (get, exists, ttl) and cache:write (set, delete, incr)."""

    def __init__(self, call):
        self._call = call

    async def get(self, key):
        """The JSON value stored under `key`, or None."""
        _check_str("key", key)
        return await self._call("get", {"key": key})

    async def exists(self, key):
        _check_str("key", key)
        return bool(await self._call("exists", {"key": key}))

    async def ttl(self, key):
        """Seconds until `key` expires, or None when it does not exist."""
        _check_str("key", key)
        return await self._call("ttl", {"key": key})

    async def set(self, key, value, ttl=None):
        """Stores any JSON value; `ttl` defaults to the contract's max_ttl.

        Returns the ttl applied, in seconds."""
        _check_str("key", key)
        _check_int("ttl", ttl)
        params = {"key": key, "value": value}
        if ttl is not None:
            params["ttl"] = ttl
        result = await self._call("set", params)
        return result.get("ttl") if isinstance(result, dict) else result

    async def delete(self, key):
        """True when the key existed."""
        _check_str("key", key)
        return bool(await self._call("delete", {"key": key}))

    async def incr(self, key, amount=1, ttl=None):
        """Adds `amount` and returns the new integer; a new key expires after
        `ttl` (default: max_ttl), an existing one keeps its expiry."""
        _check_str("key", key)
        _check_int("amount", amount)
        _check_int("ttl", ttl)
        params = {"key": key, "amount": amount}
        if ttl is not None:
            params["ttl"] = ttl
        return await self._call("incr", params)


class QueueClient:
    """queue:publish."""

    def __init__(self, call):
        self._call = call

    async def publish(self, queue, message=None, *, key=None, headers=None, messages=None):
        """Publishes `message`, or each of `messages` (at most 100) in order.

        Returns {"topic", "count", "offsets": [{"partition", "offset"}]} once
        Kafka has acknowledged every message."""
        _check_str("queue", queue)
        if messages is None:
            params = {"queue": queue, "message": message}
        else:
            if message is not None:
                raise _bad("give message or messages, not both")
            if not isinstance(messages, (list, tuple)):
                raise _bad("messages must be a list", argument="messages")
            params = {"queue": queue, "messages": list(messages)}
        if key is not None:
            _check_str("key", key)
            params["key"] = key
        if headers is not None:
            if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            ):
                raise _bad("headers must be a dict of strings", argument="headers")
            params["headers"] = dict(headers)
        return await self._call("publish", params)


class SecretsClient:
    """secrets:read."""

    def __init__(self, call):
        self._call = call

    async def get(self, key):
        """The value of the secret `key` (declared in the contract's keys)."""
        _check_str("key", key)
        return await self._call("get", {"key": key})
