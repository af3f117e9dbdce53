"""Structured errors with Magic's E-codes (DESIGN.md "Errors").

Raise these from a controller to fail with a known code; anything else
that escapes `execute` is reported by the worker as E3003 with its traceback.
"""


class MagicError(Exception):
    """An error carrying an E-code, a message and JSON-serialisable details."""

    code = "E3003"
    category = "EXECUTION"

    def __init__(self, message="", details=None, code=None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = dict(details or {})

    def to_dict(self, request_id=None):
        body = {"code": self.code, "category": self.category, "message": self.message}
        if self.details:
            body["details"] = self.details
        if request_id:
            body["request_id"] = request_id
        return {"error": body}


class ContractError(MagicError):
    code = "E1003"
    category = "CONTRACT"


class InputError(ContractError):
    """The input is valid for the schema but not acceptable to the controller."""

    code = "E1003"


class CapabilityError(MagicError):
    code = "E2001"
    category = "CAPABILITY"


class CapabilityNotDeclared(CapabilityError):
    code = "E2001"


class CapabilityDenied(CapabilityError):
    """The environment policy denies the capability (E2002)."""

    code = "E2002"


class OutsideAllowlist(CapabilityError):
    """Table, host, key, queue or prefix outside the declaration (E2003)."""

    code = "E2003"


class LimitExceeded(CapabilityError):
    """A ttl, size, row or rate limit (E2004)."""

    code = "E2004"


class GrantRefused(CapabilityError):
    """The invocation's grant was refused (E2005)."""

    code = "E2005"


class RequestError(MagicError):
    """A capability call's arguments were refused, or the backend refused
    the statement (E1005; details say which)."""

    code = "E1005"
    category = "CONTRACT"


class NotFound(MagicError):
    """A named thing (such as a secret) does not exist (E4003)."""

    code = "E4003"
    category = "DEPLOYMENT"


class ExecutionError(MagicError):
    code = "E3003"
    category = "EXECUTION"


class Timeout(ExecutionError):
    code = "E3001"


_BY_CODE = {
    cls.code: cls
    for cls in (
        CapabilityNotDeclared,
        CapabilityDenied,
        OutsideAllowlist,
        LimitExceeded,
        GrantRefused,
        RequestError,
        NotFound,
        Timeout,
    )
}


def error_for_code(code, message, details=None):
    """The most specific exception class for an E-code from the farm."""
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message, details=details)
    if code.startswith("E2"):
        return CapabilityError(message, details=details, code=code)
    return MagicError(message, details=details, code=code)
