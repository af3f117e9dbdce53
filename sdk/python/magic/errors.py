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


class ExecutionError(MagicError):
    code = "E3003"
    category = "EXECUTION"


class Timeout(ExecutionError):
    code = "E3001"
