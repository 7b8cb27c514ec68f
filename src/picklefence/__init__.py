"""picklefence: load and write pickles under an allowlist policy.

``picklefence.loads(data)`` is a drop-in for ``pickle.loads(data)`` that cannot be made
to run code, import modules, mutate classes or exhaust memory: every global, call,
BUILD and item method in the stream is checked against a :class:`Policy` first.
"""

from ._audit import Audit, GlobalUse, audit
from ._rules import Arg, Call, Rule, Signature
from ._unpickler import Unpickler, load, loads
from .errors import (
    CallFailedError,
    LimitExceededError,
    MalformedPickleError,
    PicklingError,
    PolicyViolation,
    TruncatedPickleError,
    UnpicklingError,
)
from .limits import Limits
from .policy import Policy, PolicyFileError

__all__ = [
    "Arg",
    "Audit",
    "Call",
    "CallFailedError",
    "GlobalUse",
    "LimitExceededError",
    "Limits",
    "MalformedPickleError",
    "PicklingError",
    "Policy",
    "PolicyFileError",
    "PolicyViolation",
    "Rule",
    "Signature",
    "TruncatedPickleError",
    "Unpickler",
    "UnpicklingError",
    "audit",
    "load",
    "loads",
]

__version__ = "0.1.0"
