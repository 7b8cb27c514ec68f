"""Routing ``pickle.load``, ``pickle.loads`` and ``pickle.Unpickler`` through picklefence
for code you do not control (``pandas.read_pickle``, a library's cache)."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from ._unpickler import Unpickler, load, loads
from .errors import UnpicklingError, _rebuild
from .limits import Limits
from .policy import Policy, PolicyLike, resolve_policy

_lock = threading.RLock()
_active: list[patch] = []
_originals: dict[str, Any] = {}


def _plain(exc: UnpicklingError) -> UnpicklingError:
    """The error without the builtin it was mixed with.  Code that falls back to a
    laxer unpickler on TypeError or ImportError (pandas.read_pickle does) must not be
    steered into that fallback by a pickle that makes an allowed call fail."""
    parts = getattr(type(exc), "_parts", None)
    if parts is None or issubclass(parts[1], EOFError):
        return exc
    return _rebuild(parts[0], None, exc.__dict__)


@contextmanager
def _plain_errors() -> Iterator[None]:
    try:
        yield
    except UnpicklingError as exc:
        plain = _plain(exc)
        if plain is exc:
            raise
        raise plain from exc


def _current() -> tuple[Policy, Limits | None]:
    with _lock:
        innermost = _active[-1]
        return innermost.policy, innermost.limits


def _patched_loads(data: Any, /, **kwargs: Any) -> Any:
    """``pickle.loads`` while patched (same keywords: fix_imports, encoding, errors, buffers)."""
    policy, limits = _current()
    with _plain_errors():
        return loads(data, policy=policy, limits=limits, **kwargs)


def _patched_load(file: Any, /, **kwargs: Any) -> Any:
    """``pickle.load`` while patched (same keywords as ``pickle.load``)."""
    policy, limits = _current()
    with _plain_errors():
        return load(file, policy=policy, limits=limits, **kwargs)


class _PatchedUnpickler(Unpickler):
    """``pickle.Unpickler`` while patched: pickle's constructor, picklefence's policy."""

    def __init__(self, file: Any, **kwargs: Any) -> None:
        policy, limits = _current()
        super().__init__(file, policy=policy, limits=limits, **kwargs)

    def load(self) -> Any:
        with _plain_errors():
            return super().load()


_REPLACEMENTS: dict[str, Any] = {"load": _patched_load, "loads": _patched_loads, "Unpickler": _PatchedUnpickler}


class patch:
    """Route ``pickle.load``, ``pickle.loads`` and ``pickle.Unpickler`` through
    picklefence under ``policy`` while active: ``with patch(policy="pandas"): ...``,
    or ``install()`` / ``uninstall()``.

    Limits: the ``pickle`` module is process-wide, so every thread sees the patch
    while it is active; patches nest (the innermost policy applies) and are undone in
    reverse order.  Code that took a reference to ``pickle.load`` or subclassed
    ``pickle.Unpickler`` before the patch is not affected, nor is ``pickle._Unpickler``
    (the pure-Python one).  Errors that would also be a TypeError, AttributeError or
    ImportError are raised as plain :class:`picklefence.UnpicklingError`, so that no
    caller's fallback to a laxer unpickler can be triggered by the pickle.
    """

    def __init__(self, policy: PolicyLike = None, *, limits: Limits | None = None) -> None:
        self.policy = resolve_policy(policy)
        self.limits = limits
        self._installed = False

    def install(self) -> None:
        with _lock:
            if self._installed:
                raise RuntimeError("this patch is already installed")
            if not _active:
                for name, replacement in _REPLACEMENTS.items():
                    _originals[name] = getattr(pickle, name)
                    setattr(pickle, name, replacement)
            _active.append(self)
            self._installed = True

    def uninstall(self) -> None:
        with _lock:
            if not self._installed:
                raise RuntimeError("this patch is not installed")
            if _active[-1] is not self:
                raise RuntimeError("patches must be uninstalled in reverse order")
            _active.pop()
            self._installed = False
            if not _active:
                for name, original in _originals.items():
                    setattr(pickle, name, original)
                _originals.clear()

    def __enter__(self) -> patch:
        self.install()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.uninstall()
