"""picklefence: load and write pickles under an allowlist policy.

``picklefence.loads(data)`` is a drop-in for ``pickle.loads(data)`` that cannot be made
to run code, import modules, mutate classes or exhaust memory: every global, call,
BUILD and item method in the stream is checked against a :class:`Policy` first.
``picklefence.dumps(obj)`` writes ``pickle.dumps``'s bytes, refusing at dump time what
the same policy would refuse at load time.

``import picklefence as pickle`` works for common code: the protocol constants,
``PickleBuffer`` and the exception names are here too (``PickleError`` is pickle's
own base class, so it catches both picklefence's errors and pickle's).
"""

import importlib
from pickle import DEFAULT_PROTOCOL, HIGHEST_PROTOCOL, PickleBuffer, PickleError
from types import ModuleType

from ._audit import Audit, GlobalUse, audit
from ._patch import patch
from ._pickler import Pickler, dump, dumps
from ._rules import Arg, Call, Rule, Signature
from ._scan import scan_path
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
    "DEFAULT_PROTOCOL",
    "HIGHEST_PROTOCOL",
    "Arg",
    "Audit",
    "Call",
    "CallFailedError",
    "GlobalUse",
    "LimitExceededError",
    "Limits",
    "MalformedPickleError",
    "PickleBuffer",
    "PickleError",
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
    "patch",
    "scan_path",
]

# Loaders for library formats, imported on first use (they need those libraries):
# picklefence.torch.load, picklefence.joblib.load, picklefence.numpy.load.
_FORMATS = frozenset({"torch", "joblib", "numpy"})


def __getattr__(name: str) -> ModuleType:
    if name in _FORMATS:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'picklefence' has no attribute {name!r}")


__version__ = "0.1.0"
