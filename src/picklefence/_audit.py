"""Static audit: which globals a pickle would need, and how, without loading it.

The auditor is the engine itself with the effectful steps replaced: globals become
symbols (nothing is imported), calls and constructions become symbols (nothing is
called), BUILD and item methods on symbols are recorded.  Everything else — framing,
memo, marks, containers — runs the engine's own code, so what is audited is exactly
what the loader would execute.
"""

from __future__ import annotations

import collections
import importlib
import mmap
import sys
from dataclasses import dataclass
from typing import Any

from ._engine import Engine, build_dispatch
from ._gate import Gate, Verdict, state_key_refusal
from ._names import join_name, python2_rename
from ._reader import BytesReader, FileReader
from ._rules import CAPABILITIES, CallInfo, Rule
from .errors import LimitExceededError, UnpicklingError
from .limits import Limits
from .policy import Policy, PolicyLike, resolve_policy

__all__ = ["JOBLIB_WRAPPER", "Audit", "GlobalUse", "audit", "audit_all"]


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
                if granted:
                    self.record(granted[0], capability)
                elif self._made_by_function(target):
                    # the loader judges the change on the class of what the function
                    # returned, which only the load knows (RandomState's constructor)
                    self.record(target.classes[0], capability, deferred=True)
                else:
                    self.record(target.classes[0], capability)
            return False
        return True

    def _made_by_function(self, target: _Symbol) -> bool:
        """Whether ``target`` is what an allowed function (not a class) returned."""
        module, _, qualname = target.classes[0].partition(":")
        rule = self.policy.rule(module, qualname)
        if rule is None or "call" not in _granted(self.policy, target.classes[0]):
            return False
        made_by = _loaded_object(rule)
        return made_by is not _Symbol and not isinstance(made_by, type)

    def op_BUILD(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if not isinstance(target, _Symbol):  # a list, dict, ... built by the pickle
            self.record(f"builtins:{type(target).__name__}", "state")
            return
        self._change(target, "state", "BUILD")
        for name in target.classes:  # a state check judges real objects: decided at load
            module, _, qualname = name.partition(":")
            rule = self.policy.rule(module, qualname)
            if rule is not None and rule.state_check is not None:
                self.record(name, "state", deferred=True)
        target.state = state
        self._state_check(target)
        if _JOBLIB_WRAPPER in target.classes:
            self._joblib_array(state)
        for part in state if type(state) is tuple and len(state) == 2 else (state,):
            if type(part) is dict:
                for key in part:
                    if isinstance(key, _Symbol) and not key.is_global:
                        continue
                    refusal = state_key_refusal(key, part[key])
                    if refusal is not None:
                        self.problem(refusal.message)
                    elif not target.is_global:
                        self._state_key(target, key)

    #: joblib's loader reads array bytes after a wrapper's BUILD; the plain pickle.load
    #: it runs for an object array's nested pickle does not.
    joblib_arrays = True
    #: Dtypes (and the values inside their state) already built in this audit, by id:
    #: each is built once, however many arrays share it.
    joblib_dtypes: dict[tuple[int, int], tuple[Any, Any]] | None = None

    def _joblib_array(self, state: Any) -> None:
        """joblib writes an array's bytes right after its wrapper's BUILD (an object
        array as a nested pickle): skip them as joblib's loader reads them, sized by the
        dtype numpy itself builds from the pickle's dtype and its state."""
        if not self.joblib_arrays:
            return
        if type(state) is tuple and len(state) == 2:  # (dict, slot state): both become attributes
            parts = [p for p in state if p is not None]
            state = (
                {k: v for p in parts if type(p) is dict for k, v in p.items()}
                if all(type(p) is dict for p in parts)
                else None
            )
        if type(state) is not dict:
            self.problem("a joblib array wrapper whose state cannot be told without loading")
            return
        if self.joblib_dtypes is None:
            self.joblib_dtypes = {}
        shape, dtype = state.get("shape"), _joblib_dtype(state.get("dtype"), self.joblib_dtypes)
        count = _joblib_count(shape)
        if count is None or dtype is None or (dtype.itemsize == 0 and not dtype.hasobject):
            self.problem("a joblib array whose size cannot be told without loading")
            return
        if dtype.hasobject:  # a nested pickle with its own memo, read by plain pickle.load
            nested = _Auditor(self.reader, self.policy, self.limits, self.fix_imports)
            nested.uses, nested.problems, nested.symbols = self.uses, self.problems, self.symbols
            nested.deferred, nested.nested = self.deferred, True
            nested.joblib_arrays, nested.joblib_dtypes = False, self.joblib_dtypes
            Engine.load(nested)
            return
        if state.get("numpy_array_alignment_bytes") is not None:
            self.reader.skip(self.read(1)[0])  # type: ignore[attr-defined]
        self.reader.skip(self.length(count * dtype.itemsize))  # type: ignore[attr-defined]

    def _state_check(self, target: _Symbol) -> None:
        """A rule's state check judges the real instance and state (a partial's function
        is the one it was made with): only the load decides it."""
        if target.is_global or target.name == "?":
            return
        for name in target.classes:
            module, _, qualname = name.partition(":")
            rule = self.policy.rule(module, qualname)
            if rule is not None and rule.state_check is not None and "state" in _granted(self.policy, name):
                self.record(name, "state", deferred=True)
                return

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


JOBLIB_WRAPPER = _JOBLIB_WRAPPER = "joblib.numpy_pickle:NumpyArrayWrapper"
_WRAPPER_CAPABILITIES = frozenset({"reference", "construct", "state"})
_DTYPE_NODES = 10_000  # values looked at to build one joblib dtype (a DAG is built once per node)


class _Unknowable(Exception):
    """A value only the loader could tell."""


def _numpy() -> Any:
    """numpy, which joblib's loader needs to read any array (imported by picklefence,
    never because a pickle names it)."""
    try:
        return importlib.import_module("numpy")
    except ImportError:
        return None


def _joblib_count(shape: object) -> int | None:
    """The element count joblib reads for ``shape`` (numpy's int64 product, as joblib
    computes it), or None where joblib would fail."""
    if type(shape) is not tuple or not all(type(d) is int and 0 <= d < 2**63 for d in shape):
        return None
    numpy = _numpy()
    if numpy is None:
        return None
    with numpy.errstate(over="ignore"):
        count = int(numpy.multiply.reduce([numpy.int64(d) for d in shape])) if shape else 1
    return count if count >= 0 else None


def _joblib_dtype(value: object, built: dict[tuple[int, int], tuple[Any, Any]]) -> Any:
    """The dtype numpy builds from a symbol of ``numpy.dtype(code, align, True)`` and its
    BUILD state, as joblib's loader gets it (numpy, not this module, decides the item
    size and whether it holds objects); None when it cannot be told without loading.
    ``built`` caches what was built in this audit."""
    numpy = _numpy()
    if numpy is None or not isinstance(value, _Symbol):
        return None
    try:
        return _real(value, numpy, built, [_DTYPE_NODES])
    except (_Unknowable, RecursionError):
        return None


def _real(value: Any, numpy: Any, built: dict[tuple[int, int], tuple[Any, Any]], budget: list[int]) -> Any:
    """``value`` with each dtype symbol replaced by the dtype numpy builds; every node is
    built once (by id, the value kept alive with its result; a symbol by its state too,
    since a later BUILD changes the dtype), so shared structure costs its size, not its
    unfolded size."""
    if value is None or type(value) in (str, int, bool, float, bytes):
        return value
    key = (id(value), id(value.state) if isinstance(value, _Symbol) else 0)
    if key in built:
        if built[key][1] is _Unknowable:  # a cycle, or a value that could not be built
            raise _Unknowable
        return built[key][1]
    budget[0] -= 1
    if budget[0] < 0:
        raise _Unknowable
    built[key] = (value, _Unknowable)
    if type(value) is tuple:
        result: Any = tuple(_real(v, numpy, built, budget) for v in value)
    elif type(value) is dict:
        result = {_real(k, numpy, built, budget): _real(v, numpy, built, budget) for k, v in value.items()}
    elif isinstance(value, _Symbol) and value.name == "numpy:dtype" and type(value.args) is tuple:
        args = _real(value.args, numpy, built, budget)
        if len(args) != 3 or type(args[0]) is not str or args[2] is not True:  # never a shared builtin dtype
            raise _Unknowable
        state = None if value.state is None else _real(value.state, numpy, built, budget)
        try:
            result = numpy.dtype(*args)
            if state is not None:
                result.__setstate__(state)
        except Exception:  # whatever numpy refuses, the loader cannot build either
            raise _Unknowable from None
    else:
        raise _Unknowable
    built[key] = (value, result)
    return result


def _symbol_name(obj: object) -> str | None:
    return obj.name if isinstance(obj, _Symbol) and obj.is_global else None


def _unknown(value: Any) -> bool:
    """Whether ``value`` holds something only the loader would know (a call's result).
    Each container is looked at once (by id): memo references make the value a DAG,
    which a tree walk would unfold exponentially."""
    seen: set[int] = set()
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, _Symbol):
            if not item.is_global:
                return True
            continue
        if not isinstance(item, (tuple, list, set, frozenset, dict)) or id(item) in seen:
            continue
        seen.add(id(item))
        todo.extend(item.items() if isinstance(item, dict) else item)
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
    return Gate.capabilities(rule, _loaded_object(rule))


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
    data: bytes | mmap.mmap,
    *,
    policy: PolicyLike = None,
    limits: Limits | None = None,
    start: int = 0,
    joblib_arrays: bool = True,
) -> list[Audit]:
    """Audit every pickle of a stream of concatenated pickles from ``start``, up to the
    first malformed one (whose audit carries the error).  ``joblib_arrays=False`` reads
    a joblib file as ``pickle.load`` reads it: the array bytes as opcodes."""
    pol = resolve_policy(policy)
    reader = BytesReader(data)
    reader.offset = start
    auditor = _Auditor(reader, pol, limits if limits is not None else Limits(), True)
    auditor.joblib_arrays = joblib_arrays
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
