"""The strict interpreter: every opcode of protocols 0-5, every effect checked.

This is the reference semantics of picklefence.  It follows CPython's
``pickle._Unpickler`` opcode by opcode, and asks the policy at each place where the
format reaches code: looking up a global, calling it (REDUCE, INST, OBJ), constructing
an instance (NEWOBJ, NEWOBJ_EX), setting its state (BUILD) and calling its item
methods (APPEND(S), SETITEM(S), ADDITEMS on anything but the builtin containers).

Provenance is tracked by identity: ``self.globals`` maps ``id(obj)`` to the object and
the names it was looked up by, and holds a reference so the id stays valid.  Only an
object found there can be called, and no object found there can be mutated.
"""

from __future__ import annotations

import codecs
import collections
import copyreg
import importlib
import pickle
import sys
from collections.abc import Callable, Iterator, Mapping
from struct import Struct
from typing import Any

from ._gate import (
    NEVER_MUTATED,
    PLAIN,
    ClassInfo,
    Gate,
    Named,
    PositionalTest,
    Refusal,
    mutation_refusal,
    run_validators,
)
from ._hints import arguments_hint
from ._names import RENAMED_MODULES, is_dunder, join_name, python2_rename
from ._opcodes import NAMES, name_of
from ._reader import BytesReader, Reader
from ._rules import CallInfo, Rule
from .errors import (
    CallFailedError,
    LimitExceededError,
    MalformedPickleError,
    PolicyViolation,
    UnpicklingError,
    mixed,
)
from .limits import Limits
from .policy import Policy

_DOUBLE = Struct(">d")
_MISSING = object()
_new = object.__new__
#: What a find_class hook returns when the Unpickler's find_class is not overridden.
NOT_OVERRIDDEN = object()

# Provenance of objects primed into the memo: they may be referenced, nothing more.
_PRIMED = Rule("picklefence", "primed memo", can=frozenset({"reference"}))

_BUFFER_TYPES = (bytes, bytearray, memoryview, pickle.PickleBuffer)


class _Stop(Exception):
    def __init__(self, value: object) -> None:
        self.value = value


def _describe(obj: object) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    cls = type(obj)
    return f"a {cls.__module__}.{cls.__qualname__} object"


def _preview(args: tuple[Any, ...], kwargs: Mapping[str, Any] | None) -> str:
    parts = [_short_repr(a) for a in args]
    parts += [f"{k}={_short_repr(v)}" for k, v in (kwargs or {}).items()]
    return ", ".join(parts)


def _short_repr(value: object) -> str:
    """A preview for error messages that never runs code of the object's class."""
    cls = type(value)
    if cls is int and value.bit_length() > 64:  # type: ignore[attr-defined]
        return f"<int of {value.bit_length()} bits>"  # type: ignore[attr-defined]
    if cls in (int, float, complex, bool, type(None)):
        return repr(value)
    if cls in (str, bytes, bytearray):
        return repr(value[:40]) + ("..." if len(value) > 40 else "")  # type: ignore[index, arg-type]
    if cls in (list, tuple, dict, set, frozenset):
        return f"<{cls.__name__} of {len(value)}>"  # type: ignore[arg-type]
    if isinstance(value, type):
        return f"<class {value.__module__}.{value.__qualname__}>"
    return f"<{cls.__module__}.{cls.__qualname__} object>"


GlobalEntry = tuple[object, tuple[Named, ...]]


class Engine:
    """One unpickling session: the memo and provenance outlive a single ``load``
    (as ``pickle.Unpickler`` keeps its memo), the stack does not."""

    # (slots: a small load pays for making its engine)
    __slots__ = (
        "budget",
        "buffer_ids",
        "buffers",
        "calls",
        "created",
        "encoding",
        "errors",
        "find_class_hook",
        "fix_imports",
        "found",
        "gate",
        "globals",
        "input_size",
        "limits",
        "lookups",
        "made_info",
        "memo",
        "metastack",
        "op_start",
        "pending",
        "persistent_load",
        "plans",
        "policy",
        "proto",
        "read",
        "reader",
        "readline",
        "stack",
        "token_args",
        "tokens",
        "type_rules",
        "unrestricted",
    )
    dispatch: list[Callable[[Any], None]]

    def __init__(
        self,
        reader: Reader,
        policy: Policy,
        limits: Limits,
        fix_imports: bool,
        encoding: str,
        errors: str,
        buffers: Iterator[Any] | None,
        persistent_load: Callable[[Any], Any],
    ) -> None:
        # (positional: calling a class with keyword arguments builds a dict of them, a
        # fifth of what making a small load's engine costs)
        self.reader = reader
        self.read = reader.read
        self.readline = reader.readline
        self.policy = policy
        gate = self.gate = Gate.of(policy)
        self.unrestricted = gate.unrestricted
        self.limits = limits
        self.fix_imports = fix_imports
        self.encoding = encoding
        self.errors = errors
        self.buffers = buffers
        self.persistent_load = persistent_load
        self.find_class_hook: Callable[[str, str], Any] | None = None
        self.memo: dict[int, Any] = {}
        self.globals: dict[int, GlobalEntry] = {}
        self.found: dict[tuple[str, str], Any] = {}
        # how each global of this load may be called where the gate needs nothing but
        # the positional arguments (Gate.plain_call), by id: the global as the pickle
        # holds it, the object called, the name, the arguments' test (None: any)
        self.plans: dict[int, tuple[object, Any, str, PositionalTest | None]] = {}
        self.buffer_ids: dict[int, object] = {}
        self.type_rules: dict[tuple[type, str], Rule] = {}  # the rule granting a capability on a class
        # objects this load made whose class has a validator, with it (G8)
        self.pending: list[tuple[object, tuple[str, Any]]] = []
        self.made_info: dict[type, ClassInfo] = {}  # see made
        self.tokens: dict[int, CallOnly] = {}  # stand-ins of call-only globals, by id of the global
        self.token_args: dict[int, tuple[Any, ...]] = {}  # argument tuples that passed one
        self.created = 0  # bytes allowed calls and BUILDs made, for the amplification budget
        self.budget = limits.amplification_floor  # raised to the real budget once passed
        self.input_size = len(reader.data) if isinstance(reader, BytesReader) else 0
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.proto = 0
        self.calls = 0
        self.lookups = 0
        self.op_start = 0

    # -- driver ----------------------------------------------------------------------

    def load(self) -> Any:
        self.stack = []
        self.metastack = []
        self.pending = []
        self.created = 0
        self.budget = self.limits.amplification_floor
        self.proto = 0
        reader = self.reader
        reader.begin(self.limits.max_input_bytes)
        read = self.read
        dispatch = self.dispatch
        start = reader.offset
        key = -1
        data = reader.data if isinstance(reader, BytesReader) else None
        try:
            if data is not None:
                # In memory: fetch the opcode byte without a call while inside the
                # current frame (or the input); the reader handles every boundary.
                while True:
                    start = self.op_start = reader.offset
                    key = -1
                    if start < reader.frame_end:  # type: ignore[attr-defined]
                        key = data[start]
                        reader.offset = start + 1
                    else:
                        key = read(1)[0]
                    dispatch[key](self)
            while True:
                start = self.op_start = reader.offset
                key = -1
                key = read(1)[0]
                dispatch[key](self)
        except _Stop as stop:
            return stop.value
        except UnpicklingError as exc:
            exc.locate(start, name_of(key))
            raise
        except IndexError as exc:
            raise MalformedPickleError(
                "stack underflow: the opcode needs more values than the stack holds",
                offset=start,
                opcode=name_of(key),
            ) from exc
        except RecursionError as exc:
            raise MalformedPickleError("nesting too deep", offset=start, opcode=name_of(key)) from exc
        except Exception as exc:
            raise mixed(MalformedPickleError, type(exc))(
                f"{type(exc).__name__}: {exc}", offset=start, opcode=name_of(key)
            ) from exc

    # -- helpers ---------------------------------------------------------------------

    def pop_mark(self) -> list[Any]:
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def length(self, n: int) -> int:
        if n > self.limits.max_string_bytes:
            raise LimitExceededError(
                f"a length prefix claims {n} bytes, over Limits.max_string_bytes={self.limits.max_string_bytes}",
                limit="max_string_bytes",
                value=n,
            )
        return n

    def decode_string(self, value: bytes) -> Any:
        if self.encoding == "bytes":
            return value
        return value.decode(self.encoding, self.errors)

    def parse_int(self, digits: bytes) -> int:
        if len(digits) > self.limits.max_int_digits + 3:
            raise mixed(LimitExceededError, ValueError)(
                f"a text integer of {len(digits)} characters is over "
                f"Limits.max_int_digits={self.limits.max_int_digits}",
                limit="max_int_digits",
                value=len(digits),
            )
        return int(digits, 0)

    def memo_get(self, index: int) -> None:
        try:
            self.stack.append(self.memo[index])
        except KeyError:
            raise MalformedPickleError(f"memo value not found at index {index}") from None

    def memo_put(self, index: int) -> None:
        memo = self.memo
        if index not in memo:
            if index > self.limits.max_memo_index:
                raise LimitExceededError(
                    f"memo index {index} is over Limits.max_memo_index={self.limits.max_memo_index}",
                    limit="max_memo_index",
                    value=index,
                )
            if len(memo) >= self.limits.max_memo_entries:
                raise LimitExceededError(
                    f"more than Limits.max_memo_entries={self.limits.max_memo_entries} memo entries",
                    limit="max_memo_entries",
                    value=len(memo) + 1,
                )
        memo[index] = self.stack[-1]

    def count_call(self) -> None:
        self.calls += 1
        if self.calls > self.limits.max_calls:
            raise LimitExceededError(
                f"more than Limits.max_calls={self.limits.max_calls} calls",
                limit="max_calls",
                value=self.calls,
            )

    def prime_memo(self, memo: Mapping[int, Any]) -> None:
        self.memo = dict(memo)
        if not self.unrestricted:
            for value in self.memo.values():
                self.globals.setdefault(id(value), (value, (("picklefence:primed memo", _PRIMED),)))

    # -- globals ---------------------------------------------------------------------

    def find(self, module: str, qualname: str) -> Any:
        """A global named by the pickle: counted, judged, resolved, and shown to a
        ``find_class`` override, which may refuse it but not replace it."""
        self.lookups += 1
        if self.lookups > self.limits.max_globals:
            raise LimitExceededError(
                f"more than Limits.max_globals={self.limits.max_globals} global lookups",
                limit="max_globals",
                value=self.lookups,
            )
        hook = self.find_class_hook
        if hook is None:
            return self.lookup(module, qualname)
        if self.unrestricted:
            other = self.invoke(hook, (module, qualname), None, "find_class")
            return self.lookup(module, qualname) if other is NOT_OVERRIDDEN else other
        obj = self.lookup(module, qualname)
        other = self.invoke(hook, (module, qualname), None, "find_class")
        if other is not obj and other is not NOT_OVERRIDDEN and other is not real_global(obj):
            raise PolicyViolation(
                f"find_class({module!r}, {qualname!r}) returned {_describe(other)} instead of the global the "
                "policy allows; an override may refuse a global but not replace it",
                module=module,
                qualname=qualname,
                capability="reference",
            )
        return obj

    def lookup(self, module: str, qualname: str) -> Any:
        """Resolve a global as the policy allows (after Python 2 renames), recording it
        as callable/immutable provenance."""
        if type(module) is not str or type(qualname) is not str:
            raise mixed(UnpicklingError, TypeError)(
                f"a global's module and name must be str, not {module!r}, {qualname!r}"
            )
        if self.proto < 3 and self.fix_imports and module in RENAMED_MODULES:
            module, qualname = python2_rename(module, qualname)
        key = (module, qualname)
        value = self.found.get(key, _MISSING)
        if value is not _MISSING:
            return value
        if self.unrestricted:
            obj = _resolve(module, qualname, self.proto >= 4)
            names: tuple[Named] = ((join_name(module, qualname), Rule(module, qualname)),)
            call_only = False
        else:
            reference = self.gate.reference(module, qualname)
            if reference is None:
                message = f"global {join_name(module, qualname)!r} is not allowed by the policy"
                raise self.refusal(module, qualname, "reference", message)
            names, call_only = reference
            obj = _resolve(module, qualname, True)
        value = obj
        if call_only:
            # The pickle gets a stand-in it can only call (or pass where a signature's
            # 'global' constraint names it); the object itself never becomes a value.
            value = self.tokens.get(id(obj))
            if value is None:
                value = self.tokens[id(obj)] = _new(CallOnly)
                value.obj = obj
            # its provenance too, as _record keeps the value's (so checks shown the
            # unwrapped object can name it), but no call plan: the pickle never holds it
            # (written out: a call per global costs ~1k instructions of a small load)
            entry = self.globals.get(id(obj))
            self.globals[id(obj)] = (obj, names if entry is None or entry[0] is not obj else (*entry[1], *names))
        self.found[key] = value
        self._record(value, names)
        return value

    def _record(self, obj: object, named: tuple[Named]) -> None:
        """``obj``, the object the pickle holds, was found by the one name of ``named``:
        its provenance (the gate's tuple itself, for a global found by one name), and
        its call plan."""
        key = id(obj)
        entry = self.globals.get(key)
        names = named if entry is None or entry[0] is not obj else (*entry[1], *named)
        self.globals[key] = (obj, names)
        real = obj.obj if type(obj) is CallOnly else obj
        plan = None if self.unrestricted or real is getattr else self.gate.plain_call(names, real)
        if plan is not None:
            self.plans[key] = (obj, real, *plan)
        elif key in self.plans:
            del self.plans[key]

    def global_entry(self, obj: object) -> GlobalEntry | None:
        """The names and rules ``obj`` was looked up by in this load, if it is a global."""
        entry = self.globals.get(id(obj))
        return entry if entry is not None and entry[0] is obj else None

    def refusal(self, module: str, qualname: str, capability: str, message: str) -> PolicyViolation:
        return violation(self.gate.refusal(module, qualname, capability, message))

    def global_rule(self, obj: object, capability: str, opname: str) -> tuple[str, Rule]:
        """The name and rule that let ``obj`` be used for ``capability``."""
        entry = self.global_entry(obj)
        if entry is None:
            raise PolicyViolation(
                f"{opname} target is {_describe(obj)}, which did not come from a global the "
                f"policy allows; only allowed globals can be used for '{capability}'",
                capability=capability,
            )
        granted = self.gate.grant(entry[1], obj.obj if type(obj) is CallOnly else obj, capability)
        if granted is not None:
            return granted
        name = entry[1][0][0]
        module, _, qualname = name.partition(":")
        raise self.refusal(
            module, qualname, capability, f"the policy allows {name!r}, but not for '{capability}' ({opname})"
        )

    def type_rule(self, inst: object, capability: str, opname: str) -> Rule:
        """The rule letting ``inst`` be changed (BUILD, item methods); refuse otherwise."""
        entry = self.global_entry(inst)
        if entry is not None:
            name = entry[1][0][0]
            module, _, qualname = name.partition(":")
            raise PolicyViolation(
                f"{opname} would change the global {name!r} for the whole process",
                module=module,
                qualname=qualname,
                capability=capability,
            )
        cls = type(inst)
        kept = self.type_rules.get((cls, capability))  # (kept only for classes never refused below)
        if kept is not None:
            return kept
        never = isinstance(inst, NEVER_MUTATED)
        if never:
            refusal = mutation_refusal(inst, opname, self.policy)
            if refusal is not None:
                raise violation(refusal)
        granted = self.gate.grant(_class_names(self.global_entry(cls), self.gate, cls), cls, capability)
        if granted is not None:
            if not never:
                self.type_rules[(cls, capability)] = granted[1]
            return granted[1]
        module, qualname = cls.__module__, cls.__qualname__
        raise self.refusal(
            module,
            qualname,
            capability,
            f"{opname} on an instance of {join_name(module, qualname)!r} needs '{capability}', "
            "which the policy does not grant",
        )

    def call_info(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None) -> CallInfo:
        return CallInfo(name, args, kwargs or {}, self.global_name, self.allows, self.spend)

    def spend(self, nbytes: int) -> None:
        """Charge ``nbytes`` to the amplification budget (Limits.max_amplification)."""
        self.created += nbytes
        if self.created > self.budget:
            self.over_budget()

    def over_budget(self) -> None:
        """The budget as the input so far allows it (the floor until then: a load pays
        for the multiplication only once past it); refuse when still over."""
        limits = self.limits
        size = max(self.input_size, self.reader.offset)
        self.budget = limits.amplification_floor + limits.max_amplification * size
        if self.created > self.budget:
            raise LimitExceededError(
                f"allowed calls and BUILDs would create {self.created} bytes from a pickle of {size}, over the "
                f"amplification budget of {self.budget} bytes (Limits.amplification_floor + "
                "Limits.max_amplification x input bytes)",
                limit="max_amplification",
                value=self.created,
            )

    def global_name(self, obj: object) -> str | None:
        """The name ``obj`` was looked up by in this load, if it is a global."""
        entry = self.global_entry(obj)
        return None if entry is None else entry[1][0][0]

    def allows(self, obj: object, capability: str) -> bool:
        """Whether ``obj`` is a global of this load whose rule grants ``capability``."""
        entry = self.global_entry(obj)
        return entry is not None and self.gate.grant(entry[1], real_global(obj), capability) is not None

    def authorize(
        self, func: object, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None, capability: str, opname: str
    ) -> str:
        """Judge a call; ``args`` have call-only globals unwrapped (see :meth:`unwrap_args`)."""
        name, rule = self.global_rule(func, capability, opname)
        if rule.signatures is not None and not self.gate.arguments(rule, self.call_info(name, args, kwargs)):
            module, _, qualname = name.partition(":")
            raise PolicyViolation(
                f"{name}({_preview(args, kwargs)}) does not match any argument signature the policy allows",
                module=module,
                qualname=qualname,
                capability="arguments",
                hint=arguments_hint(self.policy, name),
            )
        return name

    def invoke(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any] | None, name: CallName
    ) -> Any:
        """``func(*args, **kwargs)``, an exception in it a CallFailedError naming the call
        (``name``: a global's, or an object and the method called on it, named only if it
        fails: item methods run once per item)."""
        try:
            return func(*args, **kwargs) if kwargs else func(*args)
        except UnpicklingError:
            raise
        except Exception as exc:
            raise call_failed(name, exc) from exc

    def call(self, func: Any, args: Any, opname: str) -> Any:
        if type(args) is not tuple:
            raise mixed(MalformedPickleError, TypeError)(
                f"{opname} arguments must be a tuple, not {type(args).__name__}"
            )
        self.count_call()
        if self.unrestricted:
            return self.invoke(func, args, None, _callable_name(func))
        plan = self.plans.get(id(func))
        if plan is not None and plan[0] is func and (not self.tokens or not _holds_token(args)):
            test = plan[3]  # (most calls: see Gate.plain_call; a failed test takes the full path, for its words)
            if test is None or test(args):
                try:  # (invoke's, inline)
                    result = plan[1](*args)
                except UnpicklingError:
                    raise
                except Exception as exc:
                    raise call_failed(plan[2], exc) from exc
                return result if self.made_info.get(type(result)) is PLAIN else self.made(result)
        real_args = args
        if self.tokens:
            for arg in args:  # (inline: most calls pass no call-only global)
                if type(arg) is CallOnly:
                    real_args = self.unwrap_args(func, args, opname)
                    break
        name = self.authorize(func, real_args, None, "call", opname)
        real = func.obj if type(func) is CallOnly else func
        if real is getattr:
            return self.getattr_global(args)
        result = self.invoke(real, real_args, None, name)
        return result if self.made_info.get(type(result)) is PLAIN else self.made(result)

    def unwrap_args(self, func: object, args: tuple[Any, ...], opname: str) -> tuple[Any, ...]:
        """``args`` with each call-only global replaced by the global itself, where the
        callee's rule takes it there; anywhere else it is refused (G8: it would become
        a value a library calls later, outside every check)."""
        for arg in args:  # (a loop: any() of a generator costs more, on every call)
            if type(arg) is CallOnly:
                break
        else:
            return args
        entry = self.global_entry(func)
        rules = () if entry is None else tuple(rule for _, rule in entry[1])
        real = list(args)
        for position, arg in enumerate(args):
            if type(arg) is CallOnly:
                if not any(position in self.gate.takes_globals(rule) for rule in rules):
                    raise self.value_refusal(arg, f"passed to {self.global_name(func) or _describe(func)} ({opname})")
                real[position] = arg.obj
        self.token_args[id(args)] = args  # (the pickle may have memoized it: see finish)
        return tuple(real)

    def value_refusal(self, token: CallOnly, where: str) -> PolicyViolation:
        name = self.global_name(token) or "?"
        module, _, qualname = name.partition(":")
        return violation(self.gate.value_refusal(module, qualname, where))

    def getattr_global(self, args: tuple[Any, ...]) -> Any:
        """``getattr(G, "attr")`` on a global is the lookup of the global ``G.attr``:
        it needs its own rule, and the result keeps global provenance.  On an object the
        load made, the gate decides (the policy's signatures already accepted the call)."""
        if len(args) != 2 or type(args[1]) is not str:
            raise PolicyViolation("getattr is only allowed as getattr(<global>, 'name')", capability="arguments")
        target, attr = args
        entry = self.global_entry(target)
        if entry is None:
            refusal = self.gate.instance_attribute(self.policy.rule("builtins", "getattr"), _describe(target), attr)
            if refusal is not None:
                raise violation(refusal)
            return self.invoke(getattr, (target, attr), None, "builtins:getattr")
        module, _, qualname = entry[1][0][0].partition(":")
        if is_dunder(attr) or not attr.isidentifier():
            raise PolicyViolation(f"getattr of {attr!r} is never allowed", capability="reference")
        return self.find(module, f"{qualname}.{attr}")

    def new(self, cls: Any, args: Any, kwargs: Any, opname: str) -> Any:
        real = real_global(cls)  # (a class whose construction the policy constrains is call-only)
        if not isinstance(real, type):
            raise mixed(MalformedPickleError, TypeError)(f"{opname} class argument isn't a type object")
        if type(args) is not tuple:
            raise mixed(MalformedPickleError, TypeError)(
                f"{opname} args argument must be a tuple, not {type(args).__name__}"
            )
        self.count_call()
        if self.unrestricted:
            return self.invoke(real.__new__, (real, *args), kwargs, _callable_name(real))
        if not kwargs and (not self.tokens or not _holds_token(args)):
            entry = self.globals.get(id(cls))
            # (most constructions: see Gate.plain_call; a failed test takes the full path, for its words)
            plan = None if entry is None or entry[0] is not cls else self.gate.plain_call(entry[1], real, "construct")
            if plan is not None and (plan[1] is None or plan[1](args)):
                return self.made(self.invoke(real.__new__, (real, *args), None, plan[0]))
        if self.tokens:
            args = self.unwrap_args(cls, args, opname)
        name = self.authorize(cls, args, kwargs, "construct", opname)
        return self.made(self.invoke(real.__new__, (real, *args), kwargs, name))

    def instantiate(self, klass: Any, args: list[Any], opname: str) -> Any:
        targs = tuple(args)
        real = real_global(klass)
        if targs or not isinstance(real, type) or hasattr(real, "__getinitargs__"):
            return self.call(klass, targs, opname)
        self.count_call()
        if self.unrestricted:
            return self.invoke(real.__new__, (real,), None, _callable_name(real))
        name = self.authorize(klass, (), None, "call", opname)
        return self.made(self.invoke(real.__new__, (real,), None, name))

    def made(self, obj: Any) -> Any:
        """An allowed call made ``obj``: charge its size to the amplification budget and
        keep it for its class's validator, if it has one (run at STOP)."""
        cls = type(obj)
        known = self.made_info.get(cls)
        if known is PLAIN:  # (most results: checked without another call)
            return obj
        if known is None:
            # the gate's answer for the class, by the names this load found it by (kept
            # for the load: a class made once is made often)
            entry = self.globals.get(id(cls))
            names = entry[1] if entry is not None and entry[0] is cls else ()
            known = self.made_info[cls] = self.gate.class_info(cls, names)
        if known[0]:
            try:  # noqa: SIM105 (the memory it holds itself, a bytearray's bytes, a list's slots; suppress() costs more)
                self.created += sys.getsizeof(obj)
            except Exception:  # a half-built native object may not know its size
                pass
            if self.created > self.budget:
                self.over_budget()
        if known[1] is not None:
            self.pending.append((obj, known[1]))
        return obj

    def items_target(self, target: object, opname: str) -> None:
        if not self.unrestricted:
            self.type_rule(target, "items", opname)

    # -- opcodes, in pickletools order -----------------------------------------------

    def op_INT(self) -> None:
        data = self.readline()
        if data == b"00\n":
            self.stack.append(False)
        elif data == b"01\n":
            self.stack.append(True)
        else:
            self.stack.append(self.parse_int(data[:-1]))

    def op_BININT(self) -> None:
        self.stack.append(int.from_bytes(self.read(4), "little", signed=True))

    def op_BININT1(self) -> None:
        self.stack.append(self.read(1)[0])

    def op_BININT2(self) -> None:
        self.stack.append(int.from_bytes(self.read(2), "little"))

    def op_LONG(self) -> None:
        val = self.readline()[:-1]
        if val and val[-1] == 0x4C:  # trailing 'L' of Python 2
            val = val[:-1]
        self.stack.append(self.parse_int(val))

    def op_LONG1(self) -> None:
        n = self.read(1)[0]
        self.stack.append(int.from_bytes(self.read(n), "little", signed=True))

    def op_LONG4(self) -> None:
        n = int.from_bytes(self.read(4), "little", signed=True)
        if n < 0:
            raise MalformedPickleError("LONG pickle has negative byte count")
        self.stack.append(int.from_bytes(self.read(self.length(n)), "little", signed=True))

    def op_STRING(self) -> None:
        data = self.readline()[:-1]
        if len(data) >= 2 and data[0] == data[-1] and data[0] in b"\"'":
            data = data[1:-1]
        else:
            raise MalformedPickleError("the STRING opcode argument must be quoted")
        self.stack.append(self.decode_string(codecs.escape_decode(data)[0]))

    def op_BINSTRING(self) -> None:
        n = int.from_bytes(self.read(4), "little", signed=True)
        if n < 0:
            raise MalformedPickleError("BINSTRING pickle has negative byte count")
        self.stack.append(self.decode_string(self.read(self.length(n))))

    def op_SHORT_BINSTRING(self) -> None:
        self.stack.append(self.decode_string(self.read(self.read(1)[0])))

    def op_BINBYTES(self) -> None:
        self.stack.append(self.read(self.length(int.from_bytes(self.read(4), "little"))))

    def op_SHORT_BINBYTES(self) -> None:
        self.stack.append(self.read(self.read(1)[0]))

    def op_BINBYTES8(self) -> None:
        self.stack.append(self.read(self.length(int.from_bytes(self.read(8), "little"))))

    def op_BYTEARRAY8(self) -> None:
        self.stack.append(self.reader.read_bytearray(self.length(int.from_bytes(self.read(8), "little"))))

    def op_NEXT_BUFFER(self) -> None:
        if self.buffers is None:
            raise MalformedPickleError("pickle stream refers to out-of-band data but no *buffers* argument was given")
        try:
            buf = next(self.buffers)
        except StopIteration:
            raise MalformedPickleError("not enough out-of-band buffers") from None
        self.buffer_ids[id(buf)] = buf
        self.stack.append(buf)

    def op_READONLY_BUFFER(self) -> None:
        buf = self.stack[-1]
        if not self.unrestricted and type(buf) not in _BUFFER_TYPES and self.buffer_ids.get(id(buf)) is not buf:
            raise PolicyViolation(f"READONLY_BUFFER on {_describe(buf)}, which is not a buffer", capability="state")
        with memoryview(buf) as m:
            if not m.readonly:
                self.stack[-1] = m.toreadonly()

    def op_NONE(self) -> None:
        self.stack.append(None)

    def op_NEWTRUE(self) -> None:
        self.stack.append(True)

    def op_NEWFALSE(self) -> None:
        self.stack.append(False)

    def op_UNICODE(self) -> None:
        self.stack.append(str(self.readline()[:-1], "raw-unicode-escape"))

    def op_SHORT_BINUNICODE(self) -> None:
        self.stack.append(str(self.read(self.read(1)[0]), "utf-8", "surrogatepass"))

    def op_BINUNICODE(self) -> None:
        self.stack.append(str(self.read(self.length(int.from_bytes(self.read(4), "little"))), "utf-8", "surrogatepass"))

    def op_BINUNICODE8(self) -> None:
        self.stack.append(str(self.read(self.length(int.from_bytes(self.read(8), "little"))), "utf-8", "surrogatepass"))

    def op_FLOAT(self) -> None:
        self.stack.append(float(self.readline()[:-1]))

    def op_BINFLOAT(self) -> None:
        self.stack.append(_DOUBLE.unpack(self.read(8))[0])

    def op_EMPTY_LIST(self) -> None:
        self.stack.append([])

    def op_APPEND(self) -> None:
        stack = self.stack
        value = stack.pop()
        target = stack[-1]
        if type(target) is list and id(target) not in self.globals:
            target.append(value)
            return
        self.items_target(target, "APPEND")
        self.invoke(target.append, (value,), None, (target, "append"))

    def op_APPENDS(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is list and id(target) not in self.globals:
            target.extend(items)
            return
        self.items_target(target, "APPENDS")
        extend = getattr(target, "extend", None)
        if extend is not None:
            self.invoke(extend, (items,), None, (target, "extend"))
            return
        append = target.append
        for item in items:
            self.invoke(append, (item,), None, (target, "append"))

    def op_LIST(self) -> None:
        items = self.pop_mark()
        self.stack.append(items)

    def op_EMPTY_TUPLE(self) -> None:
        self.stack.append(())

    def op_TUPLE(self) -> None:
        items = tuple(self.pop_mark())
        self.stack.append(items)

    def op_TUPLE1(self) -> None:
        self.stack[-1] = (self.stack[-1],)

    def op_TUPLE2(self) -> None:
        stack = self.stack
        second = stack.pop()
        stack[-1] = (stack[-1], second)

    def op_TUPLE3(self) -> None:
        stack = self.stack
        third = stack.pop()
        second = stack.pop()
        stack[-1] = (stack[-1], second, third)

    def op_EMPTY_DICT(self) -> None:
        self.stack.append({})

    def op_DICT(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise MalformedPickleError("odd number of items for DICT")
        self.stack.append(dict(zip(items[::2], items[1::2], strict=True)))

    def op_SETITEM(self) -> None:
        stack = self.stack
        value = stack.pop()
        key = stack.pop()
        self.set_item(stack[-1], key, value)

    def set_item(self, target: Any, key: object, value: object) -> None:
        """SETITEM (the fast path calls this for targets it did not build itself)."""
        if type(target) is dict and id(target) not in self.globals:
            target[key] = value
            return
        self.items_target(target, "SETITEM")
        self.invoke(type(target).__setitem__, (target, key, value), None, (target, "__setitem__"))

    def op_SETITEMS(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise MalformedPickleError("odd number of items for SETITEMS")
        target = self.stack[-1]
        if type(target) is dict and id(target) not in self.globals:
            target.update(zip(items[::2], items[1::2], strict=True))
            return
        self.items_target(target, "SETITEMS")
        setitem = type(target).__setitem__
        for i in range(0, len(items), 2):
            self.invoke(setitem, (target, items[i], items[i + 1]), None, (target, "__setitem__"))

    def op_EMPTY_SET(self) -> None:
        self.stack.append(set())

    def op_ADDITEMS(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is set and id(target) not in self.globals:
            target.update(items)
            return
        self.items_target(target, "ADDITEMS")
        if isinstance(target, set):
            self.invoke(target.update, (items,), None, (target, "update"))
            return
        add = target.add
        for item in items:
            self.invoke(add, (item,), None, (target, "add"))

    def op_FROZENSET(self) -> None:
        items = frozenset(self.pop_mark())
        self.stack.append(items)

    def op_POP(self) -> None:
        if self.stack:
            del self.stack[-1]
        else:
            self.pop_mark()

    def op_DUP(self) -> None:
        self.stack.append(self.stack[-1])

    def op_MARK(self) -> None:
        self.metastack.append(self.stack)
        self.stack = []
        if len(self.metastack) > self.limits.max_mark_depth:
            raise LimitExceededError(
                f"MARK nesting deeper than Limits.max_mark_depth={self.limits.max_mark_depth}",
                limit="max_mark_depth",
                value=len(self.metastack),
            )

    def op_POP_MARK(self) -> None:
        self.pop_mark()

    def op_GET(self) -> None:
        self.memo_get(int(self.readline()[:-1]))

    def op_BINGET(self) -> None:
        self.memo_get(self.read(1)[0])

    def op_LONG_BINGET(self) -> None:
        self.memo_get(int.from_bytes(self.read(4), "little"))

    def op_PUT(self) -> None:
        index = int(self.readline()[:-1])
        if index < 0:
            raise mixed(MalformedPickleError, ValueError)("negative PUT argument")
        self.memo_put(index)

    def op_BINPUT(self) -> None:
        self.memo_put(self.read(1)[0])

    def op_LONG_BINPUT(self) -> None:
        self.memo_put(int.from_bytes(self.read(4), "little"))

    def op_MEMOIZE(self) -> None:
        self.memo_put(len(self.memo))

    def _ext(self, code: int) -> None:
        key = copyreg._inverted_registry.get(code)  # type: ignore[attr-defined]
        if not key:
            if code <= 0:
                raise MalformedPickleError("EXT specifies code <= 0")
            raise mixed(MalformedPickleError, ValueError)(f"unregistered extension code {code}")
        if type(key) is not tuple or len(key) != 2 or not all(type(part) is str for part in key):
            raise mixed(MalformedPickleError, ValueError)(f"copyreg's entry for extension code {code} is not a name")
        self.stack.append(self.find(*key))

    def op_EXT1(self) -> None:
        self._ext(self.read(1)[0])

    def op_EXT2(self) -> None:
        self._ext(int.from_bytes(self.read(2), "little"))

    def op_EXT4(self) -> None:
        self._ext(int.from_bytes(self.read(4), "little", signed=True))

    def op_GLOBAL(self) -> None:
        module = self.readline()[:-1].decode("utf-8")
        name = self.readline()[:-1].decode("utf-8")
        self.stack.append(self.find(module, name))

    def op_STACK_GLOBAL(self) -> None:
        stack = self.stack
        name = stack.pop()
        module = stack.pop()
        if type(name) is not str or type(module) is not str:
            raise MalformedPickleError("STACK_GLOBAL requires str")
        stack.append(self.find(module, name))

    def op_REDUCE(self) -> None:
        stack = self.stack
        args = stack.pop()
        stack[-1] = self.call(stack[-1], args, "REDUCE")

    def op_BUILD(self) -> None:
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        self.count_call()
        if not self.unrestricted:
            self.check_state(inst, state, self.type_rule(inst, "state", "BUILD"))
        try:
            setstate: Any = getattr(inst, "__setstate__", _MISSING)
        except Exception as exc:
            name = f"{type(inst).__qualname__}.__setstate__"
            raise mixed(CallFailedError, type(exc))(f"looking up {name} raised {exc!r}") from exc
        if setstate is not _MISSING:
            self.invoke(setstate, (state,), None, (inst, "__setstate__"))
            return
        self.invoke(_set_state, (inst, state), None, f"BUILD of {type(inst).__qualname__}")

    def check_state(self, inst: object, state: object, rule: Rule) -> None:
        refusal = self.gate.state(rule, type(inst), state, lambda: self.call_info(rule.name, (inst, state), None))
        if refusal is not None:
            raise violation(refusal)

    def op_INST(self) -> None:
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        klass = self.find(module, name)
        args = self.pop_mark()
        self.stack.append(self.instantiate(klass, args, "INST"))

    def op_OBJ(self) -> None:
        args = self.pop_mark()
        cls = args.pop(0)
        self.stack.append(self.instantiate(cls, args, "OBJ"))

    def op_NEWOBJ(self) -> None:
        stack = self.stack
        args = stack.pop()
        cls = stack.pop()
        stack.append(self.new(cls, args, None, "NEWOBJ"))

    def op_NEWOBJ_EX(self) -> None:
        stack = self.stack
        kwargs = stack.pop()
        args = stack.pop()
        cls = stack.pop()
        if type(kwargs) is not dict:
            raise mixed(MalformedPickleError, TypeError)(
                f"NEWOBJ_EX kwargs argument must be a dict, not {type(kwargs).__name__}"
            )
        stack.append(self.new(cls, args, kwargs, "NEWOBJ_EX"))

    def op_PROTO(self) -> None:
        proto = self.read(1)[0]
        if proto > pickle.HIGHEST_PROTOCOL:
            raise mixed(MalformedPickleError, ValueError)(f"unsupported pickle protocol: {proto}")
        self.proto = proto

    def op_STOP(self) -> None:
        value = self.stack.pop()
        # What is left below the result (and in unclosed MARKs) is dropped, as pickle
        # drops it: it is no value of the load, so it must not count as one.
        self.stack = []
        self.metastack = []
        self.finish(value)
        raise _Stop(value)

    def finish(self, result: object) -> None:
        """The load is built (and the stack emptied): run the validators of everything
        it made (G8); then no call-only global may be held anywhere but where the load
        itself keeps it: not in the result, a container, an object's state or a call's
        arguments.  Told by reference counts, exactly, so a load pays nothing per value
        it builds: a stand-in may be held by the load's own tables, the memo, and the
        argument tuples that passed it where a rule takes it (the pickle may memoize
        those; a tuple read back from the memo into the result is then held once more,
        and refused)."""
        if self.pending:
            pending, self.pending = self.pending, []
            refusal = run_validators(pending)
            if refusal is not None:
                raise violation(refusal)
        if not self.tokens:
            return
        memo = collections.Counter(map(id, self.memo.values())) if self.memo else None  # (the fast path's was C's)
        token_args = self.token_args
        for args in token_args.values():
            # held by: token_args, the memo, getrefcount's argument, this loop
            if sys.getrefcount(args) > 3 + (memo.get(id(args), 0) if memo else 0):
                raise self.value_refusal(next(a for a in args if type(a) is CallOnly), "kept as a value in the result")
        plans = self.plans
        held = self.globals
        for token in self.tokens.values():
            # held by: tokens, its globals entry, found (once per name it was found by:
            # lookup records each name in the token's entry as it puts the token in found
            # under it), its call plan, this loop, getrefcount's argument; the memo and
            # the tuples above
            key = id(token)
            plan = plans.get(key)
            kept = 4 + len(held[key][1]) + (plan is not None and plan[0] is token)
            if memo:
                kept += memo.get(key, 0)
            if token_args:
                kept += sum(args.count(token) for args in token_args.values())
            if sys.getrefcount(token) > kept:
                where = "returned as the result" if result is token else "kept as a value in the result"
                raise self.value_refusal(token, where)

    def op_FRAME(self) -> None:
        size = int.from_bytes(self.read(8), "little")
        if size > sys.maxsize:
            raise mixed(MalformedPickleError, ValueError)(f"frame size > sys.maxsize: {size}")
        self.reader.open_frame(size)

    def op_PERSID(self) -> None:
        try:
            pid = self.readline()[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise MalformedPickleError("persistent IDs in protocol 0 must be ASCII strings") from None
        self.stack.append(self.persistent(pid))

    def op_BINPERSID(self) -> None:
        stack = self.stack
        stack[-1] = self.persistent(stack[-1])

    def persistent(self, pid: object) -> Any:
        try:
            return self.persistent_load(pid)
        except pickle.UnpicklingError:
            raise
        except Exception as exc:
            raise mixed(CallFailedError, type(exc))(
                f"persistent_load({pid!r}) raised {type(exc).__name__}: {exc}"
            ) from exc

    def op_invalid(self) -> None:
        raise MalformedPickleError("invalid load key")


class CallOnly:
    """What the pickle gets for a global whose rule constrains its call (G8): it can be
    called (REDUCE, NEWOBJ, INST, OBJ) or passed where a signature's ``global``
    constraint takes it, and nothing else: it never becomes a value of the result,
    where a library would call it later with arguments no check saw."""

    __slots__ = ("obj",)
    obj: Any  # (set by Engine.lookup, which makes a stand-in without an __init__ frame)

    def __repr__(self) -> str:
        return f"<call-only global {_callable_name(self.obj)}>"


def real_global(obj: object) -> Any:
    """The global a :class:`CallOnly` stands for, or ``obj`` itself."""
    return obj.obj if type(obj) is CallOnly else obj


def violation(refusal: Refusal) -> PolicyViolation:
    """The gate's refusal, as a load raises it."""
    return PolicyViolation(
        refusal.message,
        module=refusal.module,
        qualname=refusal.qualname,
        capability=refusal.capability,
        hint=refusal.hint,
    )


def _set_state(inst: Any, state: Any) -> None:
    """BUILD without ``__setstate__``: what ``pickle`` does, for an allowed class."""
    slotstate = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slotstate = state
    if state:
        inst_dict = inst.__dict__
        intern = sys.intern
        for k, v in state.items():
            if type(k) is str:
                inst_dict[intern(k)] = v
            else:
                inst_dict[k] = v
    if slotstate:
        for k, v in slotstate.items():
            setattr(inst, k, v)


def _callable_name(func: object) -> str:
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return join_name(module, qualname)
    return type(func).__qualname__


def resolve_global(module: str, qualname: str) -> Any:
    """The object an allowed ``module:qualname`` names (imports the module)."""
    return _resolve(module, qualname, True)


def _resolve(module: str, qualname: str, dotted: bool) -> Any:
    """Import ``module`` and walk ``qualname`` (its dots too, if ``dotted``); only
    called for an allowed name (G1).  (Arguments positional: a call per global.)"""
    sys.audit("pickle.find_class", module, qualname)
    obj: Any = sys.modules.get(module)
    try:
        # what import_module returns, without its cost, once the module is fully imported
        if obj is None or getattr(getattr(obj, "__spec__", None), "_initializing", False):
            obj = importlib.import_module(module)
    except Exception as exc:
        raise mixed(UnpicklingError, type(exc))(
            f"cannot import module {module!r} for global {join_name(module, qualname)!r}: {exc}"
        ) from exc
    parts = qualname.split(".") if dotted else [qualname]
    for part in parts:
        if part == "<locals>":
            raise mixed(UnpicklingError, AttributeError)(f"cannot get local object {qualname!r} of {module!r}")
        try:
            obj = getattr(obj, part)
        except Exception as exc:
            raise mixed(UnpicklingError, AttributeError)(
                f"cannot get attribute {qualname!r} of module {module!r}"
            ) from exc
    return obj


#: How a call is named in its error: a global's name, or an object and a method's name.
CallName = str | tuple[object, str]


def call_failed(name: CallName, exc: Exception) -> CallFailedError:
    """An allowed call raised: the error says which, and is also of the raised type."""
    said = name if isinstance(name, str) else f"{type(name[0]).__qualname__}.{name[1]}"
    return mixed(CallFailedError, type(exc))(f"{said}(...) raised {type(exc).__name__}: {exc}")


def _holds_token(args: tuple[Any, ...]) -> bool:
    """Whether a call-only global is among ``args`` (then :meth:`Engine.unwrap_args`
    decides whether the callee takes it there)."""
    for arg in args:  # noqa: SIM110 (per call: a loop costs less than any())
        if type(arg) is CallOnly:
            return True
    return False


def _class_names(entry: GlobalEntry | None, gate: Gate, cls: type) -> tuple[Named, ...]:
    """The names and rules for ``cls``: from its entry among this load's globals, or by
    its own name if its module is already imported and the name really leads to it
    (nothing is imported here)."""
    if entry is not None:
        return entry[1]
    module, qualname = cls.__module__, cls.__qualname__
    reference = gate.reference(module, qualname)
    if reference is None or module not in sys.modules:
        return ()
    obj: Any = sys.modules[module]
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return reference[0] if obj is cls else ()


def build_dispatch(cls: type[Engine]) -> list[Callable[[Any], None]]:
    """The 256-entry opcode table of ``cls``, so subclasses can replace handlers."""
    table: list[Callable[[Any], None]] = [cls.op_invalid] * 256
    for code, name in NAMES.items():
        table[code] = getattr(cls, f"op_{name}")
    return table


Engine.dispatch = build_dispatch(Engine)
