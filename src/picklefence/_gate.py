"""The gate: every decision about what a pickle may do with a global, in one place.

The engine (real objects, while loading), the audit (symbols, without loading), the
fast path's callbacks (through the engine's handlers) and the pickler (the objects it
is about to write) each ask the gate the same questions, so a rule exists once and the
four cannot disagree.  The gate knows nothing of opcodes or TOML: it answers with
``None`` (allowed) or a :class:`Refusal` that each caller turns into its own error type,
at its own position.

What each caller supplies is how globals are named where it runs (provenance by
identity in the engine, symbols in the audit, ``whichmodule`` in the pickler), as the
:class:`~picklefence._rules.Call` a check sees.
"""

from __future__ import annotations

import _codecs
import enum
import functools
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._checks import CHECKS, JUDGES_SYMBOLS, POSITIONAL_CHECKS, TAKES_GLOBALS
from ._hints import allow_hint, exclusion_words
from ._names import is_dunder, join_name
from ._rules import Call, CallInfo, Rule, Signature, Validator
from ._validators import VALIDATORS

try:
    from . import _signatures
except ImportError:  # built without its C extension: the tests are Python closures
    _signatures = None  # type: ignore[assignment]
from .policy import Policy

__all__ = [
    "INERT_DUNDERS",
    "MEASURED",
    "NEVER_MUTATED",
    "PLAIN",
    "ClassInfo",
    "Gate",
    "Named",
    "PositionalTest",
    "Refusal",
    "Verdict",
    "mutation_refusal",
    "state_key_refusal",
]

#: Objects that are never the target of BUILD or of item methods, whatever the policy
#: says of their type: changing them would change code or classes for the process (G3).
#: The one exception is BUILD on a ``functools.partial`` under a rule whose state check
#: is the shipped ``functools_partial_state`` (the function stays the one it was made
#: with, its arguments plain data): see :func:`mutation_refusal`.
#: Hot callers test ``isinstance(obj, NEVER_MUTATED)`` and ask :func:`mutation_refusal`
#: for the words.
NEVER_MUTATED = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.CodeType,
    types.FrameType,
    functools.partial,
    staticmethod,
    classmethod,
    property,
)


#: A global's provenance: the name the pickle found it by, and the rule of that name.
Named = tuple[str, Rule]
#: What an object an allowed call made owes (:meth:`Gate.class_info`): whether it is
#: measured, and its validator.
ClassInfo = tuple[bool, tuple[str, Validator] | None]

#: The classes whose objects allowed calls and BUILDs are charged for by measuring them:
#: the builtin types whose size is what they hold (a bytearray copied by an allowed
#: call).  Library objects that allocate from their arguments are charged by their
#: checks (``call.spend``) before they allocate, the only point where a shape-sized
#: allocation can still be refused.
MEASURED = frozenset({bytes, bytearray, str, list, tuple, dict, set, frozenset, int, complex})

#: What class_info says of most classes: nothing to measure, no validator.
PLAIN: ClassInfo = (False, None)
#: Whether a call's positional arguments match a rule's signatures.
PositionalTest = Callable[[tuple[Any, ...]], bool]


@dataclass(frozen=True)
class Refusal:
    """Why something is refused: the words, and the global and capability concerned."""

    message: str
    capability: str
    module: str | None = None
    qualname: str | None = None
    hint: str | None = None


class Verdict(enum.Enum):
    """The audit's three answers: checks that need real objects cannot refuse symbols."""

    ALLOWED = "allowed"
    REFUSED = "refused"
    AT_LOAD = "decided at load"


_PARTIAL_STATE = "functools_partial_state"


def mutation_refusal(target: object, opname: str, policy: Policy | None = None) -> Refusal | None:
    """The never-mutate rule (G3), for what the policy cannot change: code, classes,
    modules; and partials, unless ``policy``'s rule for ``functools:partial`` checks
    their BUILD state with the shipped check that keeps the function."""
    if isinstance(target, NEVER_MUTATED):
        if type(target) is functools.partial and opname == "BUILD" and policy is not None:
            rule = policy.rule("functools", "partial")
            if rule is not None and rule.state_check == _PARTIAL_STATE:
                return None
        return Refusal(
            f"{opname} would change {_describe(target)}; classes, functions and modules are never changed", "state"
        )
    return None


def _describe(obj: object) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    cls = type(obj)
    return f"a {cls.__module__}.{cls.__qualname__} object"


#: Dunder state keys that are inert data while they hold a str or None: an instance's
#: docstring and name (scipy's distributions and numpy's ``vectorize`` pickle them).
#: Every other dunder (``__class__``, ``__dict__``, ...) reaches a class's machinery.
INERT_DUNDERS = frozenset({"__doc__", "__name__"})


def state_key_refusal(key: object, value: object) -> Refusal | None:
    """BUILD state keys are ordinary attribute names: str, and never dunders but the
    inert ones holding text."""
    if type(key) is not str or is_dunder(key):
        if key in INERT_DUNDERS and (value is None or type(value) is str):
            return None
        return Refusal(f"BUILD state key {key!r} is not an ordinary attribute name", "state")
    return None


class Gate:
    """The decisions of one policy.  Made once per policy (``Gate.of``) and shared, so
    what does not depend on a load (a class's validator) is worked out once."""

    __slots__ = (
        "_class_info",
        "_construct_plans",
        "_latin1",
        "_plans",
        "_references",
        "_takes",
        "_tests",
        "_validators",
        "known",
        "policy",
        "unrestricted",
    )

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.unrestricted = policy.is_unrestricted  # (read per load: a slot costs less than the property)
        self._validators: dict[type, tuple[str, Validator] | None] = {}
        # class_info's answers (read by _calls.c too, for a planned call's result)
        self._class_info: dict[type, tuple[tuple[Named, ...], ClassInfo]] = {}
        self._takes: dict[int, tuple[Rule, frozenset[int]]] = {}
        self._references: dict[tuple[str, str], tuple[tuple[Named], bool]] = {}
        # what the fast path's compiled find_class (_calls.Find) learned of Engine.lookup's
        # answers for allowed names: (module, qualname) -> (the object, its names tuple
        # from reference, whether call-only, its plain_call answer); read and written
        # there alone, and only ever holding what the engine itself decided
        self.known: dict[tuple[str, str], tuple[object, tuple[Named], bool, object]] = {}
        self._tests: dict[int, tuple[Rule, PositionalTest | None]] = {}
        # plain_call's answers for globals found by one name (kept named, by its id)
        self._plans: dict[int, tuple[Named, object, tuple[str, PositionalTest | None] | None]] = {}
        self._construct_plans: dict[int, tuple[Named, object, tuple[str, PositionalTest | None] | None]] = {}
        self._latin1: dict[int, tuple[Named, object, bool]] = {}  # encodes_latin1's, like _plans

    @staticmethod
    def of(policy: Policy) -> Gate:
        """The gate of ``policy``, kept by identity (a policy is a value that never
        changes; hashing one per load would cost more than the rest of a small load)."""
        kept = _GATES.get(id(policy))
        if kept is not None and kept.policy is policy:
            return kept
        if len(_GATES) >= _GATES_KEPT:
            _GATES.clear()
        gate = _GATES[id(policy)] = Gate(policy)
        return gate

    # -- refusals --------------------------------------------------------------------

    def refusal(self, module: str, qualname: str, capability: str, message: str) -> Refusal:
        """A refusal about a global, with the lines that would allow it, and why the
        policy refuses it where a policy file excludes it on purpose."""
        hint = allow_hint(self.policy, module, qualname, capability)
        exclusion = self.policy.exclusion(module, qualname)
        if exclusion is not None:
            message += f"; {exclusion_words(exclusion)}"
        return Refusal(message, capability, module, qualname, hint)

    # -- globals ---------------------------------------------------------------------

    def reference(self, module: str, qualname: str) -> tuple[tuple[Named], bool] | None:
        """Whether the pickle may name this global: its provenance, as the names a
        global's entry holds (the same tuple for every load, kept here: a name's rule
        depends on the policy alone, and what is kept by that tuple's identity stays
        valid), and whether it is call-only (:meth:`call_only`); ``None`` if the policy
        does not allow it.  Only allowed names are kept, so a stream of refused names
        grows nothing."""
        key = (module, qualname)
        known = self._references.get(key)
        if known is None:
            rule = self.policy.rule(module, qualname)
            if rule is None:
                return None
            known = self._references[key] = (((join_name(module, qualname), rule),), self.call_only(rule))
        return known

    @staticmethod
    def capabilities(rule: Rule, obj: object) -> frozenset[str]:
        """What ``rule`` grants on ``obj``: its ``can``, or by what ``obj`` is (a class may
        be constructed, a function called, another value only referenced)."""
        return rule.capabilities(obj)

    def grant(self, names: Iterable[Named], obj: object, capability: str) -> Named | None:
        """Of the names a global was found by, the first whose rule grants ``capability``
        on ``obj`` (see :meth:`capabilities`)."""
        for named in names:
            if capability in named[1].capabilities(obj):
                return named
        return None

    def plain_call(
        self, names: tuple[Named, ...], obj: object, capability: str = "call"
    ) -> tuple[str, PositionalTest | None] | None:
        """The name under which ``obj`` may be used for ``capability`` (``"call"``, or
        ``"construct"`` for NEWOBJ), and the test its positional arguments must pass
        (``None``: any), where nothing else decides the call: no signature has a
        ``globals`` constraint or a check that needs more than the positional arguments.
        A hot caller keeps the answer for the load and asks :meth:`arguments` only when
        the test fails (for the words) or the call has keyword arguments; ``None`` when
        every call needs that."""
        if len(names) == 1:  # (a global found by one name: the same answer in every load)
            plans = self._plans if capability == "call" else self._construct_plans
            known_plan = plans.get(id(names[0]))
            if known_plan is not None and known_plan[0] is names[0] and known_plan[1] is obj:
                return known_plan[2]
            plan = self._plain_call(names, obj, capability)
            plans[id(names[0])] = (names[0], obj, plan)
            return plan
        return self._plain_call(names, obj, capability)

    def _plain_call(
        self, names: tuple[Named, ...], obj: object, capability: str
    ) -> tuple[str, PositionalTest | None] | None:
        named = self.grant(names, obj, capability)
        if named is None:
            return None
        rule = named[1]
        if rule.signatures is None:
            return named[0], None
        test = self.positional_test(rule)
        return None if test is None else (named[0], test)

    def encodes_latin1(self, names: tuple[Named, ...], obj: object) -> bool:
        """Whether ``obj``, found by ``names``, is ``_codecs.encode`` and may be called as
        ``encode(text, "latin1")`` for every str text: protocol 2's spelling of bytes,
        which the fast path then makes from the pickle's UTF-8 without the text."""
        if len(names) != 1:
            return self._encodes_latin1(names, obj)
        known = self._latin1.get(id(names[0]))  # (as plain_call keeps its answers)
        if known is not None and known[0] is names[0] and known[1] is obj:
            return known[2]
        verdict = self._encodes_latin1(names, obj)
        self._latin1[id(names[0])] = (names[0], obj, verdict)
        return verdict

    def _encodes_latin1(self, names: tuple[Named, ...], obj: object) -> bool:
        named = self.grant(names, obj, "call") if obj is _codecs.encode else None
        if named is None:
            return False
        signatures = named[1].signatures
        return signatures is None or any(_any_text_latin1(sig) for sig in signatures)

    def positional_test(self, rule: Rule) -> PositionalTest | None:
        """``rule``'s signatures as one test of a call's positional arguments, where no
        signature needs the load (a check but :data:`POSITIONAL_CHECKS`, a ``globals``
        constraint): a call without keyword arguments that passes it is accepted by
        :meth:`arguments` too, and one that fails it is refused there (ask it then, for
        the words)."""
        known = self._tests.get(id(rule))
        if known is None or known[0] is not rule:
            test = None if rule.signatures is None else _positional_test(rule.signatures)
            known = self._tests[id(rule)] = (rule, test)
        return known[1]

    # -- calls -----------------------------------------------------------------------

    def arguments(self, rule: Rule, call: Call) -> bool:
        """Whether ``rule`` accepts the call's arguments (any, where it has no
        signatures: a hot caller may skip asking then)."""
        return rule.accepts(call, CHECKS)

    def arguments_verdict(self, rule: Rule, call: Call, symbolic: bool) -> Verdict:
        """The audit's question: ``symbolic`` says some argument is a stand-in for an
        object only the load makes; a check that needs real objects cannot refuse it."""
        if rule.signatures is None:
            return Verdict.ALLOWED
        if symbolic and any(_needs_objects(sig.check) for sig in rule.signatures):
            return Verdict.AT_LOAD
        return Verdict.ALLOWED if rule.accepts(call, CHECKS) else Verdict.REFUSED

    def call_only(self, rule: Rule) -> bool:
        """The value-use rule (G8): a global whose rule constrains its call may only be
        called by the pickle, never handed out as a value, since a library would call a
        stored callable later with arguments no check saw.  A global that may appear as a
        value has a rule that allows any call (a pure function) or no call at all."""
        return rule.signatures is not None and (rule.can is None or "call" in rule.can or "construct" in rule.can)

    def takes_globals(self, rule: Rule) -> frozenset[int]:
        """Argument positions where ``rule``'s signatures take a call-only global: a
        ``global`` constraint, or a shipped check that judges a global there."""
        known = self._takes.get(id(rule))
        if known is not None and known[0] is rule:
            return known[1]
        positions: set[int] = set()
        for sig in rule.signatures or ():
            positions.update(i for i, arg in enumerate(sig.args or ()) if arg.globals is not None)
            if isinstance(sig.check, str):
                positions.update(TAKES_GLOBALS.get(sig.check, ()))
        found = frozenset(positions)
        self._takes[id(rule)] = (rule, found)  # (rules are not hashable; the rule keeps its id)
        return found

    def value_refusal(self, module: str, qualname: str, where: str) -> Refusal:
        name = f"{module}:{qualname}"
        return Refusal(
            f"{name} may only be called by the pickle, but it is {where}: its rule constrains its "
            "arguments, and a library calling a stored callable later would run it outside every check",
            "value",
            module,
            qualname,
        )

    def instance_attribute(self, rule: Rule | None, target: str, attr: str) -> Refusal | None:
        """``getattr(obj, "name")`` on an object this load made, not a global (a discrete
        scipy distribution pickles its bound ``_entropy`` that way): only where the
        policy's getattr rule constrains its arguments, so that one of its signatures
        accepted this very object and name, and never for a dunder."""
        if rule is None or rule.signatures is None:
            return Refusal(f"getattr on {target}, which is not a global", "arguments")
        if is_dunder(attr) or not attr.isidentifier():
            return Refusal(f"getattr of {attr!r} is never allowed", "reference")
        return None

    # -- state -----------------------------------------------------------------------

    def state(self, rule: Rule, cls: type, state: object, call: Callable[[], Call]) -> Refusal | None:
        """BUILD of ``state`` on an instance of ``cls`` that ``rule`` lets be changed;
        ``call`` makes the BUILD's call for the rule's state check (see
        :meth:`Rule.accepts_state`)."""
        parts = state if type(state) is tuple and len(state) == 2 else (state,)
        for part in parts:
            if type(part) is not dict:
                if part is None or getattr(cls, "__setstate__", None) is not None:
                    continue
                return Refusal(f"BUILD state for {cls.__qualname__} must be a dict, not {type(part).__name__}", "state")
            allowed = rule.state_keys
            for key in part:  # (is_dunder only for keys that could be one: a model has many keys)
                if type(key) is not str or (key[:2] == "__" and is_dunder(key)):
                    refusal = state_key_refusal(key, part[key])
                    if refusal is not None:
                        return refusal
                if allowed is not None and key not in allowed:
                    return self.refusal(
                        rule.module,
                        rule.qualname,
                        "state",
                        f"BUILD state key {key!r} is not in the state_keys the policy allows for {rule.name!r}",
                    )
        if not rule.accepts_state(call, CHECKS):
            return Refusal(
                f"BUILD state for {rule.name!r} does not pass the policy's state check",
                "state",
                rule.module,
                rule.qualname,
            )
        return None

    # -- validators (G8) -------------------------------------------------------------

    def class_info(self, cls: type, names: tuple[Named, ...]) -> ClassInfo:
        """What an allowed call or BUILD that made an instance of ``cls`` owes: whether
        the object is measured for the amplification budget (:data:`MEASURED`), and its
        validator (:meth:`validator`); ``names`` are the names this load found the
        class by.  Kept by class for the last ``names`` tuple asked with (the one
        :meth:`reference` keeps, for a class found by one name, or none)."""
        known = self._class_info.get(cls)
        if known is not None and known[0] is names:
            return known[1]
        info: ClassInfo = (cls in MEASURED, self.validator(cls, names))
        if info == PLAIN:
            info = PLAIN
        self._class_info[cls] = (names, info)
        return info

    def validator(self, cls: type, names: Iterable[Named] = ()) -> tuple[str, Validator] | None:
        """The validator of ``cls``'s instances: from the rules of ``names`` (the names
        this load found the class by), else from the rule for the class's own name."""
        for _, rule in names:
            if rule.validator is not None:
                return _resolve_validator(rule)
        try:
            return self._validators[cls]
        except KeyError:
            pass
        own = self.policy.rule(cls.__module__, cls.__qualname__)
        found = _resolve_validator(own) if own is not None and own.validator is not None else None
        self._validators[cls] = found
        return found


#: Gates by the id of their policy (which each holds, so the id stays its own).
_GATES: dict[int, Gate] = {}
_GATES_KEPT = 64


def _positional_test(signatures: tuple[Signature, ...]) -> PositionalTest | None:
    """The signatures as one test of positional arguments, if none needs the load (a
    ``globals`` constraint, a check that is not one of :data:`POSITIONAL_CHECKS`):
    compiled where the C extension is built and no signature has a check (it decides
    as ``accepts_positional``); a signature that only checks is its check itself."""
    pairs = tuple((sig, _positional_check(sig)) for sig in signatures)
    if any(sig.names_globals or (sig.check is not None and check is None) for sig, check in pairs):
        return None
    if len(pairs) == 1 and pairs[0][0].spec() is None and pairs[0][1] is not None:
        return pairs[0][1]
    if _signatures is not None and all(check is None for _, check in pairs):
        compiled: PositionalTest = _signatures.PositionalTest(tuple(sig.spec() for sig in signatures))
        return compiled

    def test(args: tuple[Any, ...]) -> bool:
        for sig, check in pairs:  # noqa: SIM110 (per call: a loop costs less than any())
            if sig.accepts_positional(args, None) and (check is None or check(args)):
                return True
        return False

    return test


def _positional_check(sig: Signature) -> PositionalTest | None:
    return POSITIONAL_CHECKS.get(sig.check) if isinstance(sig.check, str) else None


def _any_text_latin1(sig: Signature) -> bool:
    """Whether ``sig`` takes ``(text, "latin1")`` for every str text; judged from what
    it declares, never by trying (a check or a bound might refuse some text)."""
    if sig.check is not None:
        return False
    if sig.args is None and sig.varargs is None:
        return True
    specs = (*(sig.args or ()), sig.varargs, sig.varargs)[:2]
    text, encoding = specs
    if len(sig.args or ()) > 2 or text is None or encoding is None:
        return False
    any_str = text.types is None or bool({"str", "builtins:str"} & text.types)
    unbounded = (text.values, text.globals, text.max_len, text.min, text.max, text.pattern) == (None,) * 6
    probe = CallInfo("_codecs:encode", ("", "latin1"), {}, lambda _: None, lambda _, __: False)
    return any_str and unbounded and encoding.accepts("latin1", probe)


def _resolve_validator(rule: Rule) -> tuple[str, Validator]:
    validator = rule.validator
    if isinstance(validator, str):
        return rule.name, VALIDATORS[validator]
    assert validator is not None
    return rule.name, validator


def _needs_objects(check: object) -> bool:
    """Checks judge real objects (a class's bases, a dtype's layout) unless they say
    they can judge the audit's stand-ins; a Python check of app code always needs them."""
    if check is None:
        return False
    return not isinstance(check, str) or check not in JUDGES_SYMBOLS


def run_validators(pending: Iterable[tuple[Any, tuple[str, Validator]]]) -> Refusal | None:
    """Run every validator on its object; the first failure, as a refusal."""
    for obj, (name, validator) in pending:
        try:
            problem = validator(obj)
        except Exception as exc:  # forged state can make a validator's own code fail
            problem = f"its validator failed on it: {type(exc).__name__}: {exc}"
        if problem is not None:
            module, _, qualname = name.partition(":")
            return Refusal(
                f"{name} object is not safe to use: {problem}",
                "validation",
                module,
                qualname,
            )
    return None
