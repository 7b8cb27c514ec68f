"""Routing ``pickle.load``, ``pickle.loads`` and ``pickle.Unpickler`` — and ``torch.load`` —
through picklefence for code you do not control (``pandas.read_pickle``, a library's
cache, a model hub's loader)."""

from __future__ import annotations

import importlib
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

from typing_extensions import override

from ._unpickler import Unpickler, load, loads
from .errors import UnpicklingError, _rebuild
from .limits import Limits
from .policy import Policy, PolicyLike, resolve_policy

_lock = threading.RLock()


class _Routes:
    """One set of module attributes, replaced while any patch of them is active.
    Patches of one set nest (the innermost applies) and are undone in reverse order."""

    def __init__(self, replacements: Callable[[], list[tuple[Any, str, Any]]]) -> None:
        self.replacements = replacements
        self.active: list[patch] = []
        self.originals: list[tuple[Any, str, Any]] = []

    def current(self) -> tuple[Policy, Limits | None]:
        with _lock:
            innermost = self.active[-1]
            return innermost.policy, innermost.limits

    def push(self, new: patch) -> None:
        if not self.active:
            replacements = self.replacements()  # first: a missing module is an error before any change
            for owner, name, replacement in replacements:
                self.originals.append((owner, name, getattr(owner, name)))
                setattr(owner, name, replacement)
        self.active.append(new)

    def pop(self, old: patch) -> None:
        if self.active[-1] is not old:
            raise RuntimeError("patches must be uninstalled in reverse order")
        self.active.pop()
        if not self.active:
            for owner, name, original in reversed(self.originals):
                setattr(owner, name, original)
            self.originals.clear()


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


def _patched_loads(data: Any, /, **kwargs: Any) -> Any:
    """``pickle.loads`` while patched (same keywords: fix_imports, encoding, errors, buffers)."""
    policy, limits = _PICKLE.current()
    with _plain_errors():
        return loads(data, policy=policy, limits=limits, **kwargs)


def _patched_load(file: Any, /, **kwargs: Any) -> Any:
    """``pickle.load`` while patched (same keywords as ``pickle.load``)."""
    policy, limits = _PICKLE.current()
    with _plain_errors():
        return load(file, policy=policy, limits=limits, **kwargs)


class _PatchedUnpickler(Unpickler):
    """``pickle.Unpickler`` while patched: pickle's constructor, picklefence's policy."""

    def __init__(self, file: Any, **kwargs: Any) -> None:
        policy, limits = _PICKLE.current()
        super().__init__(file, policy=policy, limits=limits, **kwargs)

    @override  # (checked: a rename of Unpickler.load must not leave this one unused)
    def load(self) -> Any:
        with _plain_errors():
            return super().load()


_PICKLE = _Routes(
    lambda: [
        (pickle, "load", _patched_load),
        (pickle, "loads", _patched_loads),
        (pickle, "Unpickler", _PatchedUnpickler),
    ]
)


def _patched_torch_load(
    f: Any,
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    **pickle_load_args: Any,
) -> Any:
    """``torch.load`` while patched: ``picklefence.torch.load(f, map_location=...)``
    under the patch's policy, whatever ``weights_only`` or ``pickle_module`` the caller
    asked for (the policy decides what loads; ``mmap`` reads are plain reads)."""
    from .torch import load as torch_load

    if pickle_load_args.keys() - {"encoding"}:
        raise TypeError(f"torch.load() got unexpected keyword arguments {sorted(pickle_load_args)}")
    policy, limits = _TORCH.current()
    with _plain_errors():
        return torch_load(f, policy=policy, map_location=map_location, limits=limits)


def _torch_replacements() -> list[tuple[Any, str, Any]]:
    torch = importlib.import_module("torch")
    return [(torch, "load", _patched_torch_load), (torch.serialization, "load", _patched_torch_load)]


_TORCH = _Routes(_torch_replacements)


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

    _routes = _PICKLE

    def __init__(self, policy: PolicyLike = None, *, limits: Limits | None = None) -> None:
        self.policy = resolve_policy(policy)
        self.limits = limits
        self._installed = False

    def install(self) -> None:
        with _lock:
            if self._installed:
                raise RuntimeError("this patch is already installed")
            self._routes.push(self)
            self._installed = True

    def uninstall(self) -> None:
        with _lock:
            if not self._installed:
                raise RuntimeError("this patch is not installed")
            self._routes.pop(self)
            self._installed = False

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.uninstall()


class torch_patch(patch):
    """Route ``torch.load`` (and ``torch.serialization.load``) through
    :func:`picklefence.torch.load` under ``policy`` (default ``"torch"``) while active,
    for code you do not control: ``with picklefence.torch.patch(): model = hub_call()``.

    Every call goes through the policy, ``weights_only=False`` included: that is what
    callers switch to after torch's own allowlist refuses a checkpoint.  The same limits
    as :class:`patch`: process-wide while active, nesting, reverse-order undo, plain
    errors; code that took a reference to ``torch.load`` before the patch is not
    affected.  Needs torch; the legacy (pre-1.6) checkpoint format is refused.
    """

    _routes = _TORCH

    @override
    def __init__(self, policy: PolicyLike = "torch", *, limits: Limits | None = None) -> None:
        super().__init__(policy, limits=limits)
