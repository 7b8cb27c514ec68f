"""The exception family.

Every failure of a load is a :class:`UnpicklingError`, so one ``except`` clause covers
malformed input, policy refusals and exceeded limits alike.  Where CPython's own
unpickler raises a different builtin type for the same input (``EOFError`` for a
truncated stream, ``ValueError`` for a bad literal, ``TypeError`` for a bad call), the
raised class *also* derives from that builtin, so code written against ``pickle``
(``while True: load(f)`` / ``except EOFError``) keeps working.
"""

from __future__ import annotations

import pickle
from typing import TypeVar, cast

__all__ = [
    "CallFailedError",
    "LimitExceededError",
    "MalformedPickleError",
    "PicklingError",
    "PolicyViolation",
    "TruncatedPickleError",
    "UnpicklingError",
]


class UnpicklingError(pickle.UnpicklingError):
    """Base of every error raised while loading.

    ``offset`` is the byte offset of the opcode being executed and ``opcode`` its
    pickletools name, when known.
    """

    def __init__(self, message: str, *, offset: int | None = None, opcode: str | None = None) -> None:
        self.message = message
        self.offset = offset
        self.opcode = opcode
        # Not super().__init__: a class mixed with e.g. UnicodeDecodeError must not run
        # that type's __init__, which wants its own arguments.
        Exception.__init__(self, self._render())

    def __str__(self) -> str:
        return self._render()

    def _render(self) -> str:
        where = []
        if self.opcode is not None:
            where.append(self.opcode)
        if self.offset is not None:
            where.append(f"at byte {self.offset}")
        return f"{self.message} ({' '.join(where)})" if where else self.message

    def locate(self, offset: int, opcode: str) -> None:
        """Attach the position of the failing opcode, unless one is already known."""
        if self.offset is None:
            self.offset = offset
            self.opcode = opcode
            self.args = (self._render(),)

    def __reduce__(self) -> tuple[object, ...]:
        base, kind = getattr(type(self), "_parts", (type(self), None))
        return (_rebuild, (base, kind, self.__dict__))


def _rebuild(
    base: type[UnpicklingError], kind: type[BaseException] | None, state: dict[str, object]
) -> UnpicklingError:
    """Unpickles an error (e.g. sent back from a worker process), mixed classes included."""
    cls = mixed(base, kind) if kind is not None else base
    exc = cls.__new__(cls)
    exc.__dict__.update(state)
    Exception.__init__(exc, exc._render())
    return exc


class MalformedPickleError(UnpicklingError):
    """The bytes are not a well-formed pickle (bad opcode, bad stack, bad literal)."""


class TruncatedPickleError(MalformedPickleError, EOFError):
    """The input ended before STOP, or inside a frame or an argument."""


class PolicyViolation(UnpicklingError):
    """The policy does not allow what the pickle asks for.

    ``module`` and ``qualname`` name the refused global (``None`` when the refusal is
    not about a global, e.g. a BUILD on an object that came from a call), and
    ``capability`` is one of ``"reference"``, ``"call"``, ``"construct"``, ``"state"``,
    ``"items"`` or ``"arguments"``.
    """

    def __init__(
        self,
        message: str,
        *,
        module: str | None = None,
        qualname: str | None = None,
        capability: str,
        offset: int | None = None,
        opcode: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.module = module
        self.qualname = qualname
        self.capability = capability
        self.hint = hint
        super().__init__(message, offset=offset, opcode=opcode)

    @property
    def name(self) -> str | None:
        """The refused global as ``"module:qualname"``."""
        if self.module is None or self.qualname is None:
            return None
        return f"{self.module}:{self.qualname}"

    def _render(self) -> str:
        text = super()._render()
        return f"{text}\n{self.hint}" if self.hint else text


class LimitExceededError(UnpicklingError):
    """A resource limit of :class:`picklefence.Limits` would be exceeded.

    ``limit`` is the name of the :class:`Limits` field, ``value`` the amount asked for.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        value: int,
        offset: int | None = None,
        opcode: str | None = None,
    ) -> None:
        self.limit = limit
        self.value = value
        super().__init__(message, offset=offset, opcode=opcode)


class CallFailedError(UnpicklingError):
    """A call the policy allowed raised an exception; it is chained as ``__cause__``."""


class PicklingError(pickle.PicklingError):
    """The policy would refuse, on load, an object that is being dumped.

    ``module``/``qualname`` name the global (``name`` joins them), ``capability`` is
    what it would be used for, ``obj_type`` is the type of the offending object and
    ``path`` where it sits in the object being dumped (``root["model"].steps[0]``),
    when that can be found.
    """

    def __init__(
        self,
        message: str,
        *,
        module: str | None = None,
        qualname: str | None = None,
        capability: str | None = None,
        obj: object = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.module = module
        self.qualname = qualname
        self.capability = capability
        self.obj_type = type(obj)
        self.path: str | None = None
        self.hint = hint
        Exception.__init__(self, self._render())

    @property
    def name(self) -> str | None:
        if self.module is None or self.qualname is None:
            return None
        return f"{self.module}:{self.qualname}"

    def set_path(self, path: str | None) -> None:
        self.path = path
        self.args = (self._render(),)

    def _render(self) -> str:
        text = self.message
        if self.path is not None:
            text += f" (at {self.path})"
        return f"{text}\n{self.hint}" if self.hint else text

    def __str__(self) -> str:
        return self._render()


_MIXED: dict[tuple[type[UnpicklingError], type[BaseException]], type[UnpicklingError]] = {}
_E = TypeVar("_E", bound=UnpicklingError)
# Builtins never mixed in: they signal the state of the process or change control flow
# (a StopIteration subclass raised in a generator turns into RuntimeError).
_NOT_MIXED = (MemoryError, RuntimeError, SystemError, StopIteration, StopAsyncIteration, Warning)


def mixed(base: type[_E], builtin: type[BaseException]) -> type[_E]:
    """``base`` extended with the builtin exception CPython raises in the same place.

    The builtin is the nearest builtin ancestor of ``builtin`` (a library's own error
    class is not mixed in), so ``except UnicodeDecodeError:`` or
    ``except ModuleNotFoundError:`` written against :mod:`pickle` still catches it.
    """
    for kind in builtin.__mro__[:-2]:  # never BaseException or object
        if kind.__module__ != "builtins" or kind is Exception or issubclass(kind, _NOT_MIXED):
            continue
        assert issubclass(kind, BaseException)
        if issubclass(base, kind):
            return base
        key = (base, kind)
        if key not in _MIXED:
            try:
                namespace = {"__module__": __name__, "_parts": key}
                _MIXED[key] = type(f"{base.__name__}[{kind.__name__}]", (base, kind), namespace)
            except TypeError:  # an incompatible instance layout: try a more general builtin
                continue
        return cast("type[_E]", _MIXED[key])
    return base
