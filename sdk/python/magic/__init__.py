"""Magic controller SDK: what a controller imports inside the sandbox.

Standard library only; runs under Debian's /usr/bin/python3.
"""

from .controller import Context, Controller, contract
from .errors import (
    CapabilityError,
    CapabilityNotDeclared,
    ContractError,
    ExecutionError,
    InputError,
    MagicError,
    Timeout,
)

__all__ = [
    "CapabilityError",
    "CapabilityNotDeclared",
    "Context",
    "ContractError",
    "Controller",
    "ExecutionError",
    "InputError",
    "MagicError",
    "Timeout",
    "contract",
]
__version__ = "0.1.0"
