"""picklefence: load and write pickles under an allowlist policy.

``picklefence.loads(data)`` is a drop-in for ``pickle.loads(data)`` that cannot be made
to run code, import modules, mutate classes or exhaust memory: every global, call,
BUILD and item method in the stream is checked against a :class:`Policy` first.
``picklefence.dumps(obj)`` writes ``pickle.dumps``'s bytes, refusing at dump time what
the same policy would refuse at load time.
"""

from ._audit import Audit, GlobalUse, audit
from ._pickler import Pickler, dump, dumps
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
    "Pickler",
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
    "dump",
    "dumps",
    "load",
    "loads",
]

__version__ = "0.1.0"
