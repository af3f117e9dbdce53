"""`self.http`: outbound HTTP through the broker's http:egress capability.

    response = await self.http.post(
        "https://api.stripe.com/v1/invoices",
        json=invoice,
        headers={"Authorization": f"Bearer {key}"},
    )
    response.status, response.ok, response.headers["content-type"]
    response["id"]              # the JSON body's "id" (same as response.json()["id"])
    response.get("id"), "id" in response, response.text, response.content

`HttpClient(call)` wraps the broker transport: `await call(op, params)` with
op in get/post/put/patch/delete/head and params {url, headers?, json?,
data?, params?, timeout?}; it returns the broker's result dict
{status, headers, body | body_base64, json?, url} or raises MagicError
subclasses (E2003 host not allowed, E2004 size limit, E3001 timeout...).
Redirects are followed by the broker (each one re-checked), never here.
"""

import base64
import json as _json
import urllib.parse
from collections.abc import Mapping

from .errors import ExecutionError

_OPS = ("get", "post", "put", "patch", "delete", "head")
_SCALARS = (str, int, float, bool)
_MISSING = object()


class HTTPStatusError(ExecutionError):
    """Raised by Response.raise_for_status() for a 4xx or 5xx answer."""

    code = "E3003"

    def __init__(self, response):
        super().__init__(
            f"HTTP {response.status} from {response.url}",
            details={"status": response.status, "url": response.url},
        )
        self.response = response


class Headers(Mapping):
    """Response headers: a read-only mapping with case-insensitive names."""

    def __init__(self, headers):
        self._items = {str(k).lower(): v for k, v in dict(headers or {}).items()}

    def __getitem__(self, name):
        return self._items[name.lower()]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return f"Headers({self._items!r})"


class Response:
    """The answer to one request. Mapping access reads the JSON body:
    `response["id"]`, `"id" in response`, `response.get("id", default)`."""

    def __init__(self, result):
        if not isinstance(result, Mapping):
            raise TypeError("http: the broker result must be an object")
        self.status = int(result.get("status", 0))
        self.headers = Headers(result.get("headers"))
        self.url = result.get("url", "")
        if result.get("body_base64") is not None:
            self.content = base64.b64decode(result["body_base64"])
            self._text = None
        else:
            self._text = result.get("body") or ""
            self.content = self._text.encode("utf-8")
        self._json = result["json"] if "json" in result else _MISSING

    @property
    def text(self):
        """The body as text (undecodable bytes replaced)."""
        if self._text is None:
            self._text = self.content.decode("utf-8", "replace")
        return self._text

    @property
    def ok(self):
        """True for 1xx-3xx, as in Python requests."""
        return self.status < 400

    def __bool__(self):
        return self.ok

    def json(self):
        """The body parsed as JSON; ValueError when it is not JSON."""
        if self._json is _MISSING:
            try:
                self._json = _json.loads(self.text)
            except ValueError as error:
                raise ValueError(f"http: the response body is not JSON ({error})") from None
        return self._json

    def raise_for_status(self):
        """Raises HTTPStatusError for a 4xx or 5xx status; returns self otherwise."""
        if self.status >= 400:
            raise HTTPStatusError(self)
        return self

    def __getitem__(self, key):
        return self.json()[key]

    def __contains__(self, key):
        try:
            body = self.json()
        except ValueError:
            return False
        return isinstance(body, Mapping) and key in body

    def get(self, key, default=None):
        try:
            body = self.json()
        except ValueError:
            return default
        return body.get(key, default) if isinstance(body, Mapping) else default

    def __repr__(self):
        return f"<Response [{self.status}]>"


def _header_args(headers):
    if not isinstance(headers, Mapping):
        raise TypeError("http: headers must be a mapping of name to str")
    out = {}
    for name, value in headers.items():
        if not isinstance(name, str):
            raise TypeError("http: header names must be str")
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str):
            # The value is not shown: it may be a credential.
            raise TypeError(f"http: header {name!r} must be a str, not {type(value).__name__}")
        out[name] = value
    return out


def _param_value(name, value):
    if value is None or isinstance(value, _SCALARS):
        return value
    raise TypeError(f"http: params[{name!r}] must be str, int, float, bool or None")


def _param_args(params):
    pairs = params.items() if isinstance(params, Mapping) else params
    out = {}
    for name, value in pairs:
        name = str(name)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        out.setdefault(name, []).extend(_param_value(name, v) for v in values)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def _data_arg(data, headers):
    if isinstance(data, str):
        return data
    if isinstance(data, (bytes, bytearray)):
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise TypeError("http: data must be text (binary bodies are not supported)") from None
    if isinstance(data, (Mapping, list, tuple)):
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return urllib.parse.urlencode(data, doseq=True)
    raise TypeError("http: data must be str, bytes or a mapping of form fields")


class HttpClient:
    """What a controller sees as `self.http`. Every method is a coroutine."""

    def __init__(self, call):
        self._call = call

    async def request(
        self, method, url, *, json=None, data=None, headers=None, params=None, timeout=None
    ):
        op = str(method).lower()
        if op not in _OPS:
            raise ValueError(f"http: unsupported method {method!r} (one of {', '.join(_OPS)})")
        if not isinstance(url, str) or not url:
            raise TypeError("http: url must be a non-empty str")
        if json is not None and data is not None:
            raise ValueError("http: give json= or data=, not both")
        args = {"url": url}
        header_args = _header_args(headers) if headers else {}
        if json is not None:
            args["json"] = json
        if data is not None:
            args["data"] = _data_arg(data, header_args)
        if header_args:
            args["headers"] = header_args
        if params:
            args["params"] = _param_args(params)
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
                raise ValueError("http: timeout must be a positive number of seconds")
            args["timeout"] = float(timeout)
        return Response(await self._call(op, args))

    async def get(
        self, url, *, json=None, data=None, headers=None, params=None, timeout=None
    ):
        return await self.request(
            "get", url, json=json, data=data, headers=headers, params=params, timeout=timeout
        )

    async def post(
        self, url, *, json=None, data=None, headers=None, params=None, timeout=None
    ):
        return await self.request(
            "post", url, json=json, data=data, headers=headers, params=params, timeout=timeout
        )

    async def put(
        self, url, *, json=None, data=None, headers=None, params=None, timeout=None
    ):
        return await self.request(
            "put", url, json=json, data=data, headers=headers, params=params, timeout=timeout
        )

    async def patch(
        self, url, *, json=None, data=None, headers=None, params=None, timeout=None
    ):
        return await self.request(
            "patch", url, json=json, data=data, headers=headers, params=params, timeout=timeout
        )

    async def delete(
        self, url, *, json=None, data=None, headers=None, params=None, timeout=None
    ):
        return await self.request(
            "delete", url, json=json, data=data, headers=headers, params=params, timeout=timeout
        )

    async def head(
        self, url, *, json=None, data=None, headers=None, params=None, timeout=None
    ):
        return await self.request(
            "head", url, json=json, data=data, headers=headers, params=params, timeout=timeout
        )
