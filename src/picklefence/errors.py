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
        super().__init__(self._render())

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
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[UnpicklingError], state: dict[str, object]) -> UnpicklingError:
    exc = cls.__new__(cls)
    exc.__dict__.update(state)
    exc.args = (exc._render(),)
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
    """The policy does not allow an object that is being dumped."""


_MIXABLE: tuple[type[BaseException], ...] = (
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
    LookupError,
    ArithmeticError,
)


_MIXED: dict[tuple[type[UnpicklingError], type[BaseException]], type[UnpicklingError]] = {}
_E = TypeVar("_E", bound=UnpicklingError)


def mixed(base: type[_E], builtin: type[BaseException]) -> type[_E]:
    """``base`` extended with the builtin exception CPython raises in the same place."""
    for kind in _MIXABLE:
        if issubclass(builtin, kind):
            if issubclass(base, kind):
                return base
            key = (base, kind)
            if key not in _MIXED:
                name = f"{base.__name__}[{kind.__name__}]"
                _MIXED[key] = type(name, (base, kind), {"__module__": __name__})
            return cast("type[_E]", _MIXED[key])
    return base
