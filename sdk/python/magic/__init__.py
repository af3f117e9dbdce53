"""Magic controller SDK: what a controller imports inside the sandbox.

Standard library only; runs under Debian's /usr/bin/python3.
"""

from .controller import Context, Controller, contract
from .errors import (
    CapabilityDenied,
    CapabilityError,
    CapabilityNotDeclared,
    ContractError,
    ExecutionError,
    GrantRefused,
    InputError,
    LimitExceeded,
    MagicError,
    NotFound,
    OutsideAllowlist,
    RequestError,
    Timeout,
)

__all__ = [
    "CapabilityDenied",
    "CapabilityError",
    "CapabilityNotDeclared",
    "Context",
    "ContractError",
    "Controller",
    "ExecutionError",
    "GrantRefused",
    "InputError",
    "LimitExceeded",
    "MagicError",
    "NotFound",
    "OutsideAllowlist",
    "RequestError",
    "Timeout",
    "contract",
]
__version__ = "0.1.0"
