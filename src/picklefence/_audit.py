"""Static audit: which globals a pickle would need, and how, without loading it.

The auditor is the engine itself with the effectful steps replaced: globals become
symbols (nothing is imported), calls and constructions become symbols (nothing is
called), BUILD and item methods on symbols are recorded.  Everything else — framing,
memo, marks, containers — runs the engine's own code, so what is audited is exactly
what the loader would execute.
"""

from __future__ import annotations

import collections
import mmap
import sys
from dataclasses import dataclass
from typing import Any

from ._engine import Engine, build_dispatch
from ._gate import Verdict, state_key_refusal
from ._names import join_name, python2_rename
from ._reader import BytesReader, FileReader
from ._rules import CAPABILITIES, CallInfo, Rule
from .errors import LimitExceededError, UnpicklingError
from .limits import Limits
from .policy import Policy, PolicyLike, resolve_policy

__all__ = ["Audit", "GlobalUse", "audit", "audit_all"]


@dataclass(frozen=True)
class GlobalUse:
    """One global a pickle uses: ``uses`` are the capabilities it needs
    (``reference``, ``call``, ``construct``, ``state``, ``items``, ``arguments``
    when a call's arguments, all known without loading, break the rule's signatures,
    and ``value`` when a global the pickle may only call is kept as a value),
    ``offsets`` the byte offsets of the opcodes that need them, ``refused`` what the
    policy does not grant.  ``at_load``: what only the load can decide (arguments that
    are results of other calls, checks that judge real objects); never a refusal."""

    name: str
    uses: frozenset[str]
    offsets: tuple[int, ...]
    refused: frozenset[str]
    at_load: frozenset[str] = frozenset()

    @property
    def allowed(self) -> bool:
        return not self.refused


@dataclass(frozen=True)
class Audit:
    """What :func:`audit` found.  ``problems`` lists uses that no rule could allow
    (calling something that is not a global, changing a global); ``error`` is the
    malformed-stream error, if the stream is not a well-formed pickle."""

    globals: tuple[GlobalUse, ...]
    problems: tuple[str, ...]
    error: UnpicklingError | None
    first_refusal: int | None
    start: int = 0
    end: int = 0

    @property
    def refused(self) -> tuple[GlobalUse, ...]:
        return tuple(g for g in self.globals if g.refused)

    @property
    def safe(self) -> bool:
        """True if the policy allows every global use and the stream is well formed."""
        return self.error is None and not self.problems and not self.refused


_KEEP = 1 << 16  # payloads up to this size are kept (a short str may name a global)
_BUFFERS = frozenset({"out-of-band buffer", "payload"})


class _Symbol:
    """Stands for an object the loader would create or look up.  For a call's result,
    ``classes`` are the globals it may be an instance of: the callee, and a class passed
    as the first argument (``_reconstruct(ndarray, ...)``, ``_new_Index(RangeIndex, ...)``),
    since what BUILD and item opcodes need is judged on the instance's class."""

    __slots__ = ("args", "call_only", "classes", "is_global", "name", "state")

    def __init__(self, name: str, is_global: bool, classes: tuple[str, ...] = (), args: Any = None) -> None:
        self.name = name
        self.is_global = is_global
        self.classes = classes or (name,)
        # a call's arguments, for what only they say (a dtype's size); never when they
        # hold a global, whose references tell where it is used (see _check_values)
        self.args = None if type(args) is tuple and any(isinstance(a, _Symbol) for a in args) else args
        self.state: Any = None  # what BUILD set
        self.call_only = False  # a global the pickle may only call (G8)


class _Auditor(Engine):
    def __init__(self, reader: Any, policy: Policy, limits: Limits, fix_imports: bool) -> None:
        super().__init__(
            reader,
            policy,
            limits,
            fix_imports=fix_imports,
            encoding="latin1",
            errors="strict",
            buffers=None,
            persistent_load=lambda pid: _Symbol("persistent id", False),
        )
        self.symbols: dict[str, _Symbol] = {}
        self.uses: dict[str, dict[str, list[int]]] = {}
        self.problems: list[tuple[int, str]] = []
        self.symbol_args: dict[int, tuple[Any, ...]] = {}  # argument tuples that passed a call-only global
        self.deferred: dict[str, set[str]] = {}  # uses only the load can judge, by global
        self.nested = False  # a pickle inside another (joblib): the outer one's STOP judges values

    def record(self, name: str, capability: str, *, deferred: bool = False) -> None:
        """A use of the global ``name``; ``deferred``: only the load can judge it."""
        if deferred:
            self.deferred.setdefault(name, set()).add(capability)
            return
        self.uses.setdefault(name, {}).setdefault(capability, []).append(self.op_start)

    def problem(self, text: str) -> None:
        self.problems.append((self.op_start, text))

    def find(self, module: str, qualname: str) -> Any:
        self.lookups += 1
        if self.lookups > self.limits.max_globals:
            raise LimitExceededError("too many global lookups", limit="max_globals", value=self.lookups)
        if self.proto < 3 and self.fix_imports:
            module, qualname = python2_rename(module, qualname)
        name = join_name(module, qualname)
        self.record(name, "reference")
        symbol = self.symbols.get(name)
        if symbol is None:
            symbol = self.symbols[name] = _Symbol(name, True)
            rule = None if self.policy.is_unrestricted else self.policy.rule(module, qualname)
            symbol.call_only = rule is not None and self.gate.call_only(rule)
        return symbol

    def _target(self, func: Any, capability: str, opname: str) -> str | None:
        if isinstance(func, _Symbol) and func.is_global:
            self.record(func.name, capability)
            return func.name
        self.problem(f"{opname} on a value that is not a global ({type(func).__name__})")
        return None

    def _arguments(self, name: str | None, args: Any, kwargs: Any) -> None:
        """Check argument rules where every argument is known (literals, containers
        of them, globals): ``bytes(10**9)`` is refused here as on load.  A check that
        needs the real objects, or arguments only the load makes, are decided at load;
        a call-only global is refused where the callee's rule does not take it."""
        if name is None or type(args) is not tuple or self.policy.is_unrestricted:
            return
        module, _, qualname = name.partition(":")
        rule = self.policy.rule(module, qualname)
        if rule is None:
            return
        self._passed_globals(name, rule, args)
        if rule.signatures is None:
            return
        if _unknown(args) or _unknown(kwargs):
            self.record(name, "arguments", deferred=True)
            return
        symbolic = any(isinstance(a, _Symbol) for a in args) or any(
            isinstance(v, _Symbol) for v in (kwargs or {}).values()
        )
        verdict = self.gate.arguments_verdict(
            rule, CallInfo(name, args, kwargs or {}, _symbol_name, self._allows), symbolic
        )
        if verdict is Verdict.REFUSED:
            self.record(name, "arguments")
        elif verdict is Verdict.AT_LOAD:
            self.record(name, "arguments", deferred=True)

    def _passed_globals(self, name: str, rule: Rule, args: tuple[Any, ...]) -> None:
        """The value-use rule for arguments: a call-only global only where the rule takes it."""
        passed = [(i, a) for i, a in enumerate(args) if isinstance(a, _Symbol) and a.call_only]
        if not passed:
            return
        takes = self.gate.takes_globals(rule)
        for position, symbol in passed:
            if position not in takes:
                self.record(symbol.name, "value")
        self.symbol_args[id(args)] = args

    def finish(self, result: object) -> None:
        if not self.nested:
            self.check_values(result)

    def check_values(self, result: object) -> None:
        """A call-only global held anywhere but by the audit's own tables, the memo and
        argument tuples a rule takes it in is a value use: the engine's rule, on symbols."""
        memo = collections.Counter(map(id, self.memo.values())) if self.memo else {}
        for args in self.symbol_args.values():
            if sys.getrefcount(args) > 3 + memo.get(id(args), 0):  # symbol_args, memo, getrefcount, loop
                for a in args:
                    if isinstance(a, _Symbol) and a.call_only:
                        self.record(a.name, "value")
        for symbol in self.symbols.values():
            if symbol.call_only:
                kept = 3 + memo.get(id(symbol), 0) + sum(args.count(symbol) for args in self.symbol_args.values())
                if sys.getrefcount(symbol) > kept:  # (symbols, getrefcount and this loop: the 3)
                    self.record(symbol.name, "value")

    def _allows(self, obj: object, capability: str) -> bool:
        name = _symbol_name(obj)
        return name is not None and capability in _granted(self.policy, name)

    def call(self, func: Any, args: Any, opname: str) -> Any:
        name = self._target(func, "call", opname)
        self._arguments(name, args, None)
        if name == "builtins:getattr" and type(args) is tuple and len(args) == 2:
            target, attr = args
            if isinstance(target, _Symbol) and target.is_global and type(attr) is str:
                module, _, qualname = target.name.partition(":")
                return self.find(module, f"{qualname}.{attr}")
        if name == "copyreg:_reconstructor" and type(args) is tuple and args and isinstance(args[0], _Symbol):
            self.record(args[0].name, "construct")
            return _Symbol(args[0].name, False)
        first = args[0] if type(args) is tuple and args else None
        if isinstance(first, _Symbol) and first.is_global and name is not None:
            return _Symbol(name, False, (first.name, name), args)
        return _Symbol(name or "?", False, (), args)

    def new(self, cls: Any, args: Any, kwargs: Any, opname: str) -> Any:
        name = self._target(cls, "construct", opname)
        self._arguments(name, args, kwargs)
        return _Symbol(name or "?", False)

    def instantiate(self, klass: Any, args: list[Any], opname: str) -> Any:
        return self.call(klass, tuple(args), opname)

    def _change(self, target: Any, capability: str, opname: str) -> bool:
        """Record a change of ``target``; True if it is a real container to update."""
        if isinstance(target, _Symbol):
            if target.is_global:
                self.problem(f"{opname} would change the global {target.name!r}")
            elif target.name != "?":
                granted = [c for c in target.classes if capability in _granted(self.policy, c)]
                self.record(granted[0] if granted else target.classes[0], capability)
            return False
        return True

    def op_BUILD(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if not isinstance(target, _Symbol):  # a list, dict, ... built by the pickle
            self.record(f"builtins:{type(target).__name__}", "state")
            return
        self._change(target, "state", "BUILD")
        target.state = state
        if _JOBLIB_WRAPPER in target.classes and type(state) is dict:
            self._joblib_array(state)
        for part in state if type(state) is tuple and len(state) == 2 else (state,):
            if type(part) is dict:
                for key in part:
                    if isinstance(key, _Symbol) and not key.is_global:
                        continue
                    refusal = state_key_refusal(key)
                    if refusal is not None:
                        self.problem(refusal.message)
                    elif not target.is_global:
                        self._state_key(target, key)

    def _joblib_array(self, state: dict[Any, Any]) -> None:
        """joblib writes an array's bytes right after its wrapper's BUILD (an object
        array as a nested pickle): skip them as joblib's loader reads them."""
        shape, dtype = state.get("shape"), state.get("dtype")
        size = _dtype_size(dtype)
        if type(shape) is not tuple or not all(type(d) is int and d >= 0 for d in shape) or size is None:
            self.problem("a joblib array whose size cannot be told without loading")
            return
        if size == 0:  # object dtype: a nested pickle with its own memo
            nested = _Auditor(self.reader, self.policy, self.limits, self.fix_imports)
            nested.uses, nested.problems, nested.symbols = self.uses, self.problems, self.symbols
            nested.deferred, nested.nested = self.deferred, True
            Engine.load(nested)
            return
        count = 1
        for dim in shape:
            count *= dim
        if state.get("numpy_array_alignment_bytes") is not None:
            self.reader.skip(self.read(1)[0])  # type: ignore[attr-defined]
        self.reader.skip(self.length(count * size))  # type: ignore[attr-defined]

    def _state_key(self, target: _Symbol, key: str) -> None:
        for name in target.classes:
            module, _, qualname = name.partition(":")
            rule = self.policy.rule(module, qualname)
            if rule is not None and rule.state_keys is not None and key not in rule.state_keys:
                self.problem(f"BUILD state key {key!r} is not in the state_keys of {name!r}")

    def op_APPEND(self) -> None:
        value = self.stack.pop()
        if self._change(self.stack[-1], "items", "APPEND") and type(self.stack[-1]) is list:
            self.stack[-1].append(value)

    def op_APPENDS(self) -> None:
        items = self.pop_mark()
        if self._change(self.stack[-1], "items", "APPENDS") and type(self.stack[-1]) is list:
            self.stack[-1].extend(items)

    def op_SETITEM(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        if self._change(self.stack[-1], "items", "SETITEM") and type(self.stack[-1]) is dict:
            self.stack[-1][key] = value

    def op_SETITEMS(self) -> None:
        items = self.pop_mark()
        if self._change(self.stack[-1], "items", "SETITEMS") and type(self.stack[-1]) is dict:
            self.stack[-1].update(zip(items[::2], items[1::2], strict=True))

    def op_ADDITEMS(self) -> None:
        items = self.pop_mark()
        if self._change(self.stack[-1], "items", "ADDITEMS") and type(self.stack[-1]) is set:
            self.stack[-1].update(items)

    # Payloads are skipped, not copied: scanning a gigabyte of arrays costs the opcodes.

    def _payload(self, n: int) -> None:
        if n <= _KEEP:
            self.stack.append(self.read(n))
        else:
            self.reader.skip(self.length(n))  # type: ignore[attr-defined]
            self.stack.append(_Symbol("payload", False))

    def op_BINBYTES(self) -> None:
        self._payload(int.from_bytes(self.read(4), "little"))

    def op_BINBYTES8(self) -> None:
        self._payload(int.from_bytes(self.read(8), "little"))

    def op_BYTEARRAY8(self) -> None:
        self._payload(int.from_bytes(self.read(8), "little"))

    def op_BINUNICODE(self) -> None:
        n = int.from_bytes(self.read(4), "little")
        if n <= _KEEP:
            self.stack.append(str(self.read(n), "utf-8", "surrogatepass"))
        else:
            self._payload(n)

    def op_BINUNICODE8(self) -> None:
        n = int.from_bytes(self.read(8), "little")
        if n <= _KEEP:
            self.stack.append(str(self.read(n), "utf-8", "surrogatepass"))
        else:
            self._payload(n)

    def op_NEXT_BUFFER(self) -> None:
        self.stack.append(_Symbol("out-of-band buffer", False))

    def op_READONLY_BUFFER(self) -> None:
        buf = self.stack[-1]
        if not (isinstance(buf, (bytes, bytearray)) or (isinstance(buf, _Symbol) and buf.name in _BUFFERS)):
            self.problem("READONLY_BUFFER on a value that is not a buffer")


_Auditor.dispatch = build_dispatch(_Auditor)


_JOBLIB_WRAPPER = "joblib.numpy_pickle:NumpyArrayWrapper"
_WRAPPER_CAPABILITIES = frozenset({"reference", "construct", "state"})
_ITEM_BYTES = {"U": 4}  # numpy dtype codes whose number counts items, not bytes


def _dtype_size(dtype: object) -> int | None:
    """The item size of a dtype built by ``numpy.dtype(code, ...)`` (BUILD's elsize when
    it gives one), 0 for object dtypes, None when it cannot be told without loading."""
    if not isinstance(dtype, _Symbol) or dtype.name not in ("numpy:dtype",) or type(dtype.args) is not tuple:
        return None
    state = dtype.state
    fields = state[4] if type(state) is tuple and len(state) > 5 else None
    if type(fields) is dict and any(_dtype_size(f[0]) == 0 for f in fields.values() if type(f) is tuple and f):
        return 0
    code = dtype.args[0] if dtype.args else None
    if type(code) is not str:
        return None
    code = code.lstrip("<>|=")
    if code.startswith("O"):
        return 0
    if type(state) is tuple and len(state) > 5 and type(state[5]) is int and state[5] > 0:
        return state[5]
    kind, digits = code[:1], code[1:]
    if not digits.isdigit():
        return 1 if code == "?" else None
    return int(digits) * _ITEM_BYTES.get(kind, 1)


def _symbol_name(obj: object) -> str | None:
    return obj.name if isinstance(obj, _Symbol) and obj.is_global else None


def _unknown(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds something only the loader would know (a call's result)."""
    if isinstance(value, _Symbol):
        return not value.is_global
    if depth > 8:
        return True
    if isinstance(value, (tuple, list, set, frozenset)):
        return any(_unknown(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_unknown(k, depth + 1) or _unknown(v, depth + 1) for k, v in value.items())
    return False


def _granted(policy: Policy, name: str) -> frozenset[str]:
    if policy.is_unrestricted:
        return frozenset(CAPABILITIES)
    if name == _JOBLIB_WRAPPER:  # judged as picklefence.joblib.load reads joblib files
        return _WRAPPER_CAPABILITIES
    module, _, qualname = name.partition(":")
    rule = policy.rule(module, qualname)
    if rule is None:
        return frozenset()
    if rule.can is not None:
        return rule.can
    return rule.capabilities(_loaded_object(rule))


def _loaded_object(rule: Rule) -> object:
    """The object a rule names if its module is already imported; else a stand-in
    class (an allowed name whose kind is unknown is judged as a class)."""
    obj: Any = sys.modules.get(rule.module)
    if obj is None:
        return _Symbol
    for part in rule.qualname.split("."):
        obj = getattr(obj, part, None)
    return _Symbol if obj is None else obj


def audit(
    data: Any,
    /,
    *,
    policy: PolicyLike = None,
    limits: Limits | None = None,
    fix_imports: bool = True,
) -> Audit:
    """List every global one pickle (bytes, or a binary file) would use, with the
    policy's verdict, without importing or calling anything."""
    pol = resolve_policy(policy)
    lim = limits if limits is not None else Limits()
    if isinstance(data, (bytes, bytearray, memoryview)):
        reader: Any = BytesReader(bytes(data))
    else:
        reader = FileReader(data)
    return _audit_next(_Auditor(reader, pol, lim, fix_imports), pol)


def audit_all(
    data: bytes | mmap.mmap, *, policy: PolicyLike = None, limits: Limits | None = None, start: int = 0
) -> list[Audit]:
    """Audit every pickle of a stream of concatenated pickles from ``start``, up to the
    first malformed one (whose audit carries the error)."""
    pol = resolve_policy(policy)
    reader = BytesReader(data)
    reader.offset = start
    auditor = _Auditor(reader, pol, limits if limits is not None else Limits(), True)
    audits: list[Audit] = []
    while reader.offset < len(data) or not audits:
        report = _audit_next(auditor, pol)
        audits.append(report)
        if report.error is not None:
            break
    return audits


def _audit_next(auditor: _Auditor, policy: Policy) -> Audit:
    auditor.uses = {}
    auditor.problems = []
    auditor.deferred = {}
    auditor.symbol_args = {}
    start = auditor.reader.offset
    error: UnpicklingError | None = None
    try:
        auditor.load()
    except UnpicklingError as exc:
        error = exc
    uses: list[GlobalUse] = []
    first: int | None = None
    for name, caps in auditor.uses.items():
        refused = frozenset(caps) - _granted(policy, name)
        offsets = tuple(sorted({o for c in caps.values() for o in c}))
        uses.append(GlobalUse(name, frozenset(caps), offsets, refused, frozenset(auditor.deferred.get(name, ()))))
        for cap in refused:
            first = min(caps[cap][0], first if first is not None else caps[cap][0])
    for offset, _ in auditor.problems:
        first = offset if first is None else min(first, offset)
    problems = tuple(text for _, text in auditor.problems)
    return Audit(tuple(uses), problems, error, first, start, auditor.reader.offset)
