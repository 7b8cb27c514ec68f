"""Rules: what one allowed global may be used for, and with which arguments.

A rule is plain data (so it renders to TOML and compares by value) except for an
optional Python ``check`` callable, which app code uses for constraints TOML cannot say.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from ._aliases import canonical
from ._names import join_name

__all__ = ["CAPABILITIES", "Arg", "Call", "Exclusion", "Rule", "Signature", "Validator"]

#: Every capability a rule can grant, in the order the docs list them.
CAPABILITIES: tuple[str, ...] = ("reference", "call", "construct", "state", "items")

_CLASS_DEFAULT = frozenset(CAPABILITIES)
_ENUM_DEFAULT = frozenset({"reference", "call"})
_FUNCTION_DEFAULT = frozenset({"reference", "call"})
_VALUE_DEFAULT = frozenset({"reference"})

#: Type names a TOML ``type`` constraint may use, matched exactly (``bool`` is not ``int``).
TYPE_NAMES: Mapping[str, type] = MappingProxyType(
    {
        t.__name__: t
        for t in (
            int,
            float,
            complex,
            bool,
            str,
            bytes,
            bytearray,
            tuple,
            list,
            dict,
            set,
            frozenset,
            type(None),
            range,
            slice,
        )
    }
)


class Call(Protocol):
    """What an argument check sees: the call about to be made, and the load's globals."""

    @property
    def name(self) -> str:
        """The callee as ``"module:qualname"``."""

    @property
    def args(self) -> tuple[Any, ...]: ...

    @property
    def kwargs(self) -> Mapping[str, Any]: ...

    def global_name(self, obj: object) -> str | None:
        """The name ``obj`` was looked up by in this load, or ``None`` if it is not a global."""

    def allows(self, obj: object, capability: str) -> bool:
        """Whether ``obj`` is a global of this load whose rule grants ``capability``."""

    def spend(self, nbytes: int) -> None:
        """Charge memory the call is about to allocate to the load's amplification
        budget (``Limits.max_amplification``); raises ``LimitExceededError`` past it.
        A check calls this before it accepts a call whose allocation its arguments
        tell (a shape, a count); the audit and the pickler allocate nothing."""


Check = Callable[[Call], bool]
#: A validator: ``None`` when the object is safe to use, else the invariant it breaks.
Validator = Callable[[Any], "str | None"]


class CallInfo:
    """The :class:`Call` a check sees; the loader, the pickler and the audit each say
    how globals are named and judged where they are."""

    __slots__ = ("_allows", "_names", "_spend", "args", "kwargs", "name")

    def __init__(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        names: Callable[[object], str | None],
        allows: Callable[[object, str], bool],
        spend: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self._names = names
        self._allows = allows
        self._spend = spend

    def global_name(self, obj: object) -> str | None:
        return self._names(obj)

    def allows(self, obj: object, capability: str) -> bool:
        return self._allows(obj, capability)

    def spend(self, nbytes: int) -> None:
        if self._spend is not None:
            self._spend(nbytes)


@dataclass(frozen=True)
class Arg:
    """Constraints on one argument; every given constraint must hold.

    ``types``: exact type names (``"int"``, ``"NoneType"``, ``"module:qualname"``).
    ``values``: allowed literal values (compared with their type, so ``True`` is not ``1``).
    ``globals``: the argument must be the object this load looked up under one of
    these names. ``max_len``: ``len()`` bound. ``min``/``max``: numeric bounds.
    ``pattern``: a regular expression a ``str`` argument must match in full.
    """

    types: frozenset[str] | None = None
    values: tuple[Any, ...] | None = None
    globals: frozenset[str] | None = None
    max_len: int | None = None
    min: int | float | None = None
    max: int | float | None = None
    pattern: str | None = None
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    # the builtin types among ``types``, matched by identity before any name is built
    _builtins: frozenset[type] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.types is not None:
            if not self.types:
                raise ValueError("an argument's 'type' list is empty: nothing could match")
            object.__setattr__(self, "_builtins", frozenset(TYPE_NAMES[n] for n in self.types if n in TYPE_NAMES))
            for name in self.types:
                if name not in TYPE_NAMES and ":" not in name:
                    known = ", ".join(sorted(TYPE_NAMES))
                    raise ValueError(f"unknown type name {name!r} (use one of {known}, or 'module:qualname')")
        if self.values is not None and not self.values:
            raise ValueError("an argument's 'value' list is empty: nothing could match")
        if self.globals is not None and not self.globals:
            raise ValueError("an argument's 'global' list is empty: nothing could match")
        if self.max_len is not None and self.max_len < 0:
            raise ValueError(f"max_len must be >= 0, got {self.max_len}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is larger than max {self.max}: nothing could match")
        if self.pattern is not None:
            try:
                object.__setattr__(self, "_regex", re.compile(self.pattern))
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regular expression: {exc}") from None

    def accepts(self, value: object, call: Call | None) -> bool:
        """Whether ``value`` meets every constraint; ``call`` (which names the load's
        globals) is needed only for a ``globals`` constraint."""
        if self.types is not None and type(value) not in self._builtins and not _type_matches(value, self.types):
            return False
        if self.values is not None and not any(type(value) is type(v) and value == v for v in self.values):
            return False
        if self.globals is not None and (call is None or not _is_one_of(call.global_name(value), self.globals)):
            return False
        if self.max_len is not None:
            try:
                if len(value) > self.max_len:  # type: ignore[arg-type]
                    return False
            except TypeError:
                return False
        if self.min is not None or self.max is not None:
            if type(value) not in (int, float):
                return False
            if self.min is not None and value < self.min:  # type: ignore[operator]
                return False
            if self.max is not None and value > self.max:  # type: ignore[operator]
                return False
        return self._regex is None or (type(value) is str and self._regex.fullmatch(value) is not None)

    def spec(self) -> tuple[Any, ...]:
        """What the compiled positional test (``_signatures.c``) reads of this argument:
        ``(types, values, max_len, min, max, arg)``, ``arg`` being this Arg where the C
        test asks :meth:`accepts` instead (a class named by module, a pattern)."""
        if self.pattern is not None or (self.types is not None and len(self._builtins) != len(self.types)):
            return (None, None, -1, None, None, self)
        max_len = -1 if self.max_len is None else self.max_len
        return (self._builtins if self.types is not None else None, self.values, max_len, self.min, self.max, None)


def _is_one_of(name: str | None, names: frozenset[str]) -> bool:
    """``name`` (or the canonical name it is a known alias of) is in ``names``."""
    if name is None:
        return False
    if name in names:
        return True
    module, _, qualname = name.partition(":")
    alias = canonical(module, qualname)
    return alias is not None and join_name(*alias) in names


def _type_matches(value: object, names: frozenset[str]) -> bool:
    cls = type(value)
    if cls.__name__ in names and TYPE_NAMES.get(cls.__name__) is cls:
        return True
    return _is_one_of(join_name(cls.__module__, cls.__qualname__), names)


ArgLike = Arg | type | tuple[type, ...]


def as_arg(spec: ArgLike) -> Arg:
    """Shorthand: a type or a tuple of types means "exactly one of these types"."""
    if isinstance(spec, Arg):
        return spec
    types = spec if isinstance(spec, tuple) else (spec,)
    names = []
    for t in types:
        if not isinstance(t, type):
            raise TypeError(f"an argument is described by an Arg or a type, not {t!r}")
        names.append(t.__name__ if TYPE_NAMES.get(t.__name__) is t else join_name(t.__module__, t.__qualname__))
    return Arg(types=frozenset(names))


@dataclass(frozen=True)
class Signature:
    """One accepted way of calling: positional ``args`` (``None``: any), then any number
    of further positional arguments each matching ``varargs`` (if given), keyword
    arguments named in ``kwargs`` (none allowed unless named), and an optional
    ``check`` (a Python callable, or the name of a check shipped with picklefence)."""

    args: tuple[Arg, ...] | None = None
    kwargs: Mapping[str, Arg] = field(default_factory=lambda: MappingProxyType({}))
    check: Check | str | None = None
    varargs: Arg | None = None

    @property
    def names_globals(self) -> bool:
        """Whether an argument has a ``globals`` constraint (which asks the load which
        global a value is)."""
        specs = (*(self.args or ()), *((self.varargs,) if self.varargs is not None else ()))
        return any(spec.globals is not None for spec in specs)

    def accepts_positional(self, args: tuple[Any, ...], call: Call | None) -> bool:
        """Whether positional ``args`` match (``call`` as for :meth:`Arg.accepts`)."""
        if self.args is not None or self.varargs is not None:
            fixed = self.args or ()
            if len(args) < len(fixed) or (self.varargs is None and len(args) != len(fixed)):
                return False
            for index, spec in enumerate(fixed):
                if not spec.accepts(args[index], call):
                    return False
            if self.varargs is not None:
                for value in args[len(fixed) :]:
                    if not self.varargs.accepts(value, call):
                        return False
        return True

    def spec(self) -> tuple[Any, ...] | None:
        """What the compiled positional test reads of this signature: ``None`` (any
        positional arguments), or the specs of the fixed arguments and of the rest."""
        if self.args is None and self.varargs is None:
            return None
        return tuple(a.spec() for a in self.args or ()), None if self.varargs is None else self.varargs.spec()

    def accepts(self, call: Call, checks: Mapping[str, Check]) -> bool:
        if not self.accepts_positional(call.args, call):
            return False
        if call.kwargs:  # (most calls have none: no items() to make)
            for key, value in call.kwargs.items():
                kwspec = self.kwargs.get(key)
                if kwspec is None or not kwspec.accepts(value, call):
                    return False
        if self.check is None:
            return True
        check = checks[self.check] if isinstance(self.check, str) else self.check
        return bool(check(call))


@dataclass(frozen=True)
class Exclusion:
    """A name a policy deliberately does not allow: why, and which policy says so, for
    the refusal of a pickle that names it (a rule with no table would say nothing)."""

    why: str
    source: str


@dataclass(frozen=True)
class Rule:
    """What may be done with the global ``module:qualname``.

    ``can``: granted capabilities; ``None`` means the defaults for the object's kind
    (a class: all; an enum class or a function: reference and call; anything else:
    reference). Every rule grants ``reference``: the lookup itself.
    ``signatures``: accepted calls (``None``: any arguments).
    ``state_keys``: attribute names BUILD may set (``None``: any non-dunder name).
    ``state_check``: a check that sees BUILD's ``(instance, state)`` as its arguments,
    for state that is not a dict of attributes (an ndarray's shape, dtype and bytes).
    ``validator``: run on every instance of the class this load made, once the whole
    load is built (a shipped validator's name, or a function returning ``None`` when the
    object is safe to use and the broken invariant otherwise): for classes whose
    compiled code trusts their state (G8).
    """

    module: str
    qualname: str
    can: frozenset[str] | None = None
    signatures: tuple[Signature, ...] | None = None
    state_keys: frozenset[str] | None = None
    why: str = ""
    state_check: Check | str | None = None
    validator: Validator | str | None = None

    def __post_init__(self) -> None:
        if self.can is not None:
            unknown = self.can - set(CAPABILITIES)
            if unknown:
                raise ValueError(f"unknown capability {sorted(unknown)[0]!r} (use {', '.join(CAPABILITIES)})")
            object.__setattr__(self, "can", self.can | {"reference"})
        if self.signatures is not None and not self.signatures:
            raise ValueError(f"{self.name}: an empty 'signatures' list allows no call at all")

    @property
    def name(self) -> str:
        return join_name(self.module, self.qualname)

    def capabilities(self, obj: object) -> frozenset[str]:
        if self.can is not None:
            return self.can
        if isinstance(obj, type):
            return _ENUM_DEFAULT if issubclass(obj, enum.Enum) else _CLASS_DEFAULT
        if callable(obj):
            return _FUNCTION_DEFAULT
        return _VALUE_DEFAULT

    def accepts(self, call: Call, checks: Mapping[str, Check]) -> bool:
        if self.signatures is None:
            return True
        for sig in self.signatures:  # noqa: SIM110 (a generator for any() costs more than the check, per call)
            if sig.accepts(call, checks):
                return True
        return False

    def accepts_state(self, call: Callable[[], Call], checks: Mapping[str, Check]) -> bool:
        """Whether ``state_check`` (if any) accepts BUILD's ``call().args == (instance,
        state)``; ``call`` makes that call only for a rule with a check (most have none,
        and a BUILD of their classes pays for no call object)."""
        if self.state_check is None:
            return True
        check = checks[self.state_check] if isinstance(self.state_check, str) else self.state_check
        return bool(check(call()))

    def union(self, other: Rule) -> Rule:
        """A rule allowing whatever either rule allows.

        Argument and state constraints come only from rules that grant what they
        constrain: a reference-only rule (no signatures, as it allows no call) must
        not lift the signatures of a rule that allows calling."""
        can = None if self.can is None or other.can is None else self.can | other.can
        signatures = _merge(
            (self.signatures, self._grants("call", "construct")), (other.signatures, other._grants("call", "construct"))
        )
        state_keys = _merge((self.state_keys, self._grants("state")), (other.state_keys, other._grants("state")))
        why = self.why if not other.why or other.why == self.why else f"{self.why}; {other.why}".strip("; ")
        checks = {r.state_check for r in (self, other) if r._grants("state") and r.state_check is not None}
        if len(checks) > 1:
            raise ValueError(f"{self.name}: two different state checks cannot be combined; keep one rule")
        # A validator is never dropped: either rule may make the instances it checks.
        validators = {r.validator for r in (self, other) if r.validator is not None}
        if len(validators) > 1:
            raise ValueError(f"{self.name}: two different validators cannot be combined; keep one rule")
        return Rule(
            self.module,
            self.qualname,
            can,
            signatures,
            state_keys,
            why,
            checks.pop() if checks else None,
            validators.pop() if validators else None,
        )

    def _grants(self, *capabilities: str) -> bool:
        """Whether the rule may grant any of ``capabilities`` (unknown for defaults)."""
        return self.can is None or any(c in self.can for c in capabilities)


_Constraint = TypeVar("_Constraint", tuple[Signature, ...], frozenset[str])


def _merge(*parts: tuple[_Constraint | None, bool]) -> _Constraint | None:
    """The union of constraints of the rules that grant what they constrain;
    ``None`` (unconstrained) wins among those."""
    granting = [constraint for constraint, grants in parts if grants]
    constrained = [c for c in granting if c is not None]
    if not granting or len(constrained) < len(granting):
        return None
    merged = constrained[0]
    for constraint in constrained[1:]:
        if isinstance(merged, tuple):
            merged = merged + tuple(c for c in constraint if c not in merged)
        else:
            merged = merged | constraint
    return merged


def make_signatures(
    args: Iterable[ArgLike] | None,
    signatures: Iterable[Signature | Iterable[ArgLike]] | None,
    check: Check | str | None,
) -> tuple[Signature, ...] | None:
    """Turn the shorthand keywords of ``Policy.allow`` into signatures."""
    result: list[Signature] = []
    if signatures is not None:
        for sig in signatures:
            result.append(sig if isinstance(sig, Signature) else Signature(tuple(as_arg(a) for a in sig)))
    if args is not None:
        result.append(Signature(tuple(as_arg(a) for a in args)))
    if check is not None:
        if any(sig.check is not None for sig in result):
            raise ValueError("give 'check' either to allow() or to its Signature objects, not both")
        result = [replace(sig, check=check) for sig in result] or [Signature(check=check)]
    return tuple(result) if result else None
