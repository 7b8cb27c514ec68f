"""The fast path: CPython's C unpickler, for streams the verifier proved plain data
plus globals that are only ever called.

The verifier (``_fastcheck``, compiled C) walks the bytes once and accepts a pickle
that is well formed and within the limits — no argument straddling a FRAME, item
opcodes only on containers the pickle built — and whose only opcodes besides plain
data are globals used as the callable of REDUCE: no BUILD, NEWOBJ, INST/OBJ, extension
code, persistent id or buffer, and no global ever used as a value.  For those globals
the C unpickler gets call-only proxies from ``find_class``: each checks the policy's
rule (call, argument signatures, limits) as the strict engine does, then calls.  Where
the fast path cannot decide exactly as the strict engine would, it declines, and any
error declines too: the strict engine then gives the canonical result or error (an
allowed call may so run twice).  The C reader only ever gets verified bytes, never a
file (cpython gh-154848).
"""

from __future__ import annotations

import _pickle
import io
import pickle
from collections.abc import Callable
from typing import Any

from ._checks import CHECKS
from ._engine import resolve_global
from ._names import join_name, python2_rename
from ._rules import CallInfo, Rule
from .limits import Limits
from .policy import Policy

_Verify = Callable[[bytes, int, int, int, int], tuple[int, int, int]]
try:
    from ._fastcheck import verify as _verify

    verify: _Verify | None = _verify
except ImportError:  # built without a C compiler: the strict engine does everything
    verify = None

#: Returned when the fast path does not apply.
MISS = object()


class _Decline(Exception):
    """The fast path cannot decide this exactly as the strict engine would."""


class _Proxy:
    """What the C unpickler gets for an allowed global: it can only be called."""

    __slots__ = ("_loader", "_name", "_rule", "_target")

    def __init__(self, loader: _Loader, name: str, rule: Rule, target: Any) -> None:
        self._loader = loader
        self._name = name
        self._rule = rule
        self._target = target

    def __call__(self, *args: Any) -> Any:
        loader = self._loader
        loader.calls += 1
        if loader.calls > loader.limits.max_calls:
            raise _Decline
        if self._rule.signatures is not None and not self._rule.accepts(
            CallInfo(self._name, args, {}, _no_global, _nothing_allowed), CHECKS
        ):
            raise _Decline
        return self._target(*args)


def _no_global(obj: object) -> None:
    """No argument is a global here: the verifier lets globals only be called."""


def _nothing_allowed(obj: object, capability: str) -> bool:
    return False


class _Loader(_pickle.Unpickler):
    def __init__(self, data: bytes, policy: Policy, limits: Limits, proto: int, **kwargs: Any) -> None:
        super().__init__(io.BytesIO(data), **kwargs)
        self.policy = policy
        self.limits = limits
        self.proto = proto
        self.fix = kwargs.get("fix_imports", True)
        self.calls = 0
        self.lookups = 0

    def find_class(self, module: str, name: str) -> Any:
        self.lookups += 1
        if self.lookups > self.limits.max_globals:
            raise _Decline
        if self.proto < 3 and self.fix:
            module, name = python2_rename(module, name)
        rule = self.policy.rule(module, name)
        if rule is None or (module, name) == ("builtins", "getattr"):
            raise _Decline
        target = resolve_global(module, name)
        if "call" not in rule.capabilities(target):
            raise _Decline
        return _Proxy(self, join_name(module, name), rule, target)


def try_loads(data: bytes, policy: Policy, limits: Limits, **kwargs: Any) -> Any:
    """The object ``data`` holds, if the fast path applies; otherwise :data:`MISS`.
    ``kwargs`` are ``pickle.loads``'s (fix_imports, encoding, errors)."""
    if verify is None:
        return MISS
    end, proto, calls_globals = verify(
        data, limits.max_memo_index, limits.max_memo_entries, limits.max_mark_depth, limits.max_string_bytes
    )
    if end < 0 or end > limits.max_input_bytes or (calls_globals and policy.is_unrestricted):
        return MISS
    try:
        if not calls_globals:
            return pickle.loads(data, **kwargs)
        return _Loader(data, policy, limits, proto, **kwargs).load()
    except Exception:  # a refusal, or e.g. an unhashable dict key: the strict engine says it canonically
        return MISS
