"""Writing pickles under a policy: ``dumps``, ``dump`` and ``Pickler``.

CPython's C pickler does the writing, so the bytes are exactly ``pickle.dumps``'s.
Its ``reducer_override`` hook sees every object that is not a plain builtin value
before anything is written for it; there picklefence computes the reduction the C
pickler would compute (dispatch table, then ``__reduce_ex__``), judges every global it
would write — classes and functions by reference, reduce callables, NEWOBJ classes,
state and item methods, argument rules — with the same rules the loader applies, and
hands the reduction back so it is computed once.  What the policy would refuse on load
is refused here, where the author can still fix it.
"""

from __future__ import annotations

import _pickle
import collections
import copyreg
import functools
import pickle
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._audit import audit
from ._gate import Gate, PositionalTest, Refusal, mutation_refusal
from ._hints import arguments_hint
from ._names import join_name
from ._rules import CallInfo, Rule
from .errors import PicklingError
from .policy import Policy, PolicyLike, resolve_policy

_SPECIAL_TYPES: Mapping[type, object] = {
    type(None): None,
    type(Ellipsis): Ellipsis,
    type(NotImplemented): NotImplemented,
}

# Globals the C pickler writes for plain builtin values at low protocols, without
# asking reducer_override, with the arguments it always uses: (name, args, protocols).
_IMPLICIT: tuple[tuple[str, tuple[Any, ...], range], ...] = (
    ("_codecs:encode", ("a", "latin1"), range(0, 3)),
    ("builtins:bytes", (), range(0, 3)),
    ("builtins:bytearray", (), range(0, 5)),
    ("builtins:bytearray", (b"a",), range(0, 5)),
    ("builtins:set", ([1],), range(0, 4)),
    ("builtins:frozenset", ([1],), range(0, 4)),
)


def _which_module(obj: object, name: str) -> str:
    """The module the C pickler writes for ``obj`` (``pickle.whichmodule``, untyped)."""
    module: str = getattr(pickle, "whichmodule")(obj, name)  # noqa: B009
    return module


class _Refusal(Exception):
    """Carries a refusal, and the object refused, out of the C pickler's call to
    reducer_override (the error itself keeps only the object's type)."""

    def __init__(self, error: PicklingError, obj: object) -> None:
        self.error = error
        self.obj = obj


class _Judge:
    """Applies a policy to the reductions the C pickler is about to write."""

    def __init__(self, policy: Policy, protocol: int, dispatch_table: Callable[[], Mapping[type, Any]]) -> None:
        self.policy = policy
        self.gate = Gate.of(policy)
        self.protocol = protocol
        self.dispatch_table = dispatch_table
        # per thread: ids of call-only globals the C pickler is about to write as a
        # callee or as an argument a rule takes (it writes them right after asking)
        self.local = threading.local()
        # the names classes and functions are written under, by id: the object, its
        # __module__ and __qualname__ when the name was worked out (a renamed class is
        # named anew; a C type makes these strings anew each time, so they are compared
        # by value), the name; bounded, as programs make classes at run time
        self.names: dict[int, tuple[object, object, object, str | None]] = {}
        # what check_call found for a callee whose rule needs only the positional
        # arguments, by id: the callee, its __module__ and __qualname__, the rule's
        # positional test (None: any), the positions where it takes call-only globals
        self.call_plans: dict[int, tuple[Any, object, object, PositionalTest | None, frozenset[int]]] = {}

    def begin(self) -> None:
        """A new dump: no global is expected yet."""
        self.local.expected = set()

    def expect(self, obj: object) -> None:
        expected: set[int] | None = getattr(self.local, "expected", None)
        if expected is None:
            expected = self.local.expected = set()
        expected.add(id(obj))

    def expect_taken(self, positions: frozenset[int], args: tuple[Any, ...]) -> None:
        """The arguments at ``positions``, where the callee's rule takes a call-only
        global, are written right after as arguments, not as values."""
        for position in positions:
            if position < len(args):
                self.expect(args[position])

    # -- naming ------------------------------------------------------------------------

    def reduce_of(self, obj: object) -> Any:
        reducer = self.dispatch_table().get(type(obj))
        if reducer is not None:
            return reducer(obj)
        return obj.__reduce_ex__(self.protocol)

    def global_name(self, obj: object) -> str | None:
        """The name ``obj`` is written under when pickled by reference, if it is."""
        if isinstance(obj, type) or type(obj) is types.FunctionType:
            module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
            known = self.names.get(id(obj))
            if known is not None and known[0] is obj and known[1] == module and known[2] == qualname:
                return known[3]
            name = join_name(_which_module(obj, qualname), qualname) if isinstance(qualname, str) else None
            if len(self.names) >= _NAMES_KEPT:
                self.names.clear()
            self.names[id(obj)] = (obj, module, qualname, name)
            return name
        try:
            rv = self.reduce_of(obj)
        except Exception:
            return None
        if isinstance(rv, str):
            return join_name(_which_module(obj, rv), rv)
        if type(rv) is tuple and len(rv) >= 2 and rv[0] is getattr and type(rv[1]) is tuple and len(rv[1]) == 2:
            parent = self.global_name(rv[1][0])
            if parent is not None and isinstance(rv[1][1], str):
                return f"{parent}.{rv[1][1]}"
        return None

    # -- judging -----------------------------------------------------------------------

    def call_info(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None) -> CallInfo:
        return CallInfo(name, args, kwargs or {}, self.global_name, self.allows)

    def allows(self, obj: object, capability: str) -> bool:
        """Whether ``obj`` is written by a name whose rule grants ``capability``."""
        name = self.global_name(obj)
        if name is None:
            return False
        module, _, qualname = name.partition(":")
        rule = self.policy.rule(module, qualname)
        return rule is not None and self.gate.grant(((name, rule),), obj, capability) is not None

    def rule_for(self, name: str, target: object, capability: str, what: Callable[[], str], subject: object) -> Rule:
        """The rule granting ``capability`` on the global ``name`` (the object
        ``target``), needed because of ``subject``, the object being dumped (``what()``
        says so, for the refusal only)."""
        module, _, qualname = name.partition(":")
        reference = self.gate.reference(module, qualname)
        if reference is None or self.gate.grant(reference[0], target, capability) is None:
            missing = "is not allowed by the policy" if reference is None else f"is not allowed for '{capability}'"
            raise self.refusal(module, qualname, capability, subject, f"{what()}: global {name!r} {missing}")
        return reference[0][0][1]

    def refusal(self, module: str, qualname: str, capability: str, subject: object, message: str) -> _Refusal:
        return self.refused(self.gate.refusal(module, qualname, capability, message), subject)

    def refused(self, refusal: Refusal, subject: object) -> _Refusal:
        """The gate's refusal, as a dump raises it."""
        error = PicklingError(
            refusal.message,
            module=refusal.module,
            qualname=refusal.qualname,
            capability=refusal.capability,
            obj=subject,
            hint=refusal.hint,
        )
        return _Refusal(error, subject)

    def plain_refusal(self, message: str, subject: object) -> _Refusal:
        return _Refusal(PicklingError(message, obj=subject), subject)

    def check_reference(self, obj: object) -> None:
        """A class or function written by name (GLOBAL, STACK_GLOBAL or EXT)."""
        if obj in _SPECIAL_TYPES:  # written as type(None), type(...), type(NotImplemented)
            self.check_call(type, (_SPECIAL_TYPES[obj],), obj)  # type: ignore[index]
            return
        name = self.global_name(obj)
        if name is None:
            raise self.plain_refusal(f"{_describe(obj)} has no global name to be written under", obj)
        self.check_name(name, obj)

    def check_name(self, name: str, obj: object) -> None:
        module, _, qualname = name.partition(":")
        if self.protocol < 4 and "." in qualname:
            # Protocols 0-3 write a nested name as getattr(parent, "last").
            parent_name, _, last = qualname.rpartition(".")
            parent: Any = sys.modules.get(module)
            for part in parent_name.split("."):
                parent = getattr(parent, part, None)
            if parent is None:
                raise self.plain_refusal(f"{_describe(obj)} cannot be found under its name {name!r}", obj)
            self.check_call(getattr, (parent, last), obj)
        rule = self.rule_for(name, obj, "reference", lambda: f"{_describe(obj)} is written by reference", obj)
        if self.gate.call_only(rule):
            expected: set[int] = getattr(self.local, "expected", set())
            if id(obj) not in expected and not self.implicit(name):
                raise self.refused(self.gate.value_refusal(module, qualname, "written as a value"), obj)
            expected.discard(id(obj))

    def implicit(self, name: str) -> bool:
        """Whether the C pickler writes ``name`` itself at this protocol, as the callee of
        a plain builtin value (``_codecs.encode`` for bytes at protocols 0-2, ...); it asks
        reducer_override about that callee but not about the value, so such a name cannot
        be told from a value use here (the loader still refuses a value use)."""
        return any(name == implicit and self.protocol in protocols for implicit, _, protocols in _IMPLICIT)

    def check_call(
        self, func: Any, args: tuple[Any, ...], obj: object, kwargs: Mapping[str, Any] | None = None
    ) -> None:
        plan = self.call_plans.get(id(func))
        if (
            plan is not None
            and plan[0] is func
            and not kwargs
            and (plan[3] is None or plan[3](args))
            and getattr(func, "__module__", None) == plan[1]  # (not renamed since)
            and getattr(func, "__qualname__", None) == plan[2]
        ):
            self.expect_taken(plan[4], args)
            self.expect(func)
            return
        name = self.global_name(func)
        if name is None:
            raise self.plain_refusal(
                f"{_describe(obj)} reduces to a call of {_describe(func)}, which has no global name", obj
            )
        rule = self.check_arguments(name, func, args, kwargs, "call", obj)
        self.expect(func)
        test = self.gate.positional_test(rule)
        if func is not getattr and (rule.signatures is None or test is not None):
            if len(self.call_plans) >= _NAMES_KEPT:
                self.call_plans.clear()
            takes = self.gate.takes_globals(rule)
            names = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
            self.call_plans[id(func)] = (func, *names, test, takes)
        if func is getattr and len(args) == 2 and isinstance(args[1], str):
            parent = self.global_name(args[0])
            if parent is not None:
                self.rule_for(
                    f"{parent}.{args[1]}", func, "reference", lambda: f"{_describe(obj)} is written by reference", obj
                )

    def check_arguments(
        self,
        name: str,
        func: Any,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any] | None,
        capability: str,
        obj: object,
    ) -> Rule:
        """The rule that lets ``func`` be called (or constructed) with these arguments."""

        def what() -> str:
            return f"{_describe(obj)} is rebuilt by {'calling' if capability == 'call' else 'constructing'} {name}"

        rule = self.rule_for(name, func, capability, what, obj)
        self.expect_taken(self.gate.takes_globals(rule), args)
        if rule.signatures is None:
            return rule
        test = None if kwargs else self.gate.positional_test(rule)  # (most calls: no check needs the dump)
        if (test is None or not test(args)) and not self.gate.arguments(rule, self.call_info(name, args, kwargs)):
            module, _, qualname = name.partition(":")
            error = PicklingError(
                f"{what()} with arguments the policy does not accept",
                module=module,
                qualname=qualname,
                capability="arguments",
                obj=obj,
                hint=arguments_hint(self.policy, name),
            )
            raise _Refusal(error, obj)
        return rule

    def check_instance(self, obj: object, capability: str, state: object = None) -> None:
        cls = type(obj)
        name = self.global_name(cls)
        if name is None:
            raise self.plain_refusal(f"{_describe(obj)} has a class with no global name", obj)
        rule = self.rule_for(name, cls, capability, lambda: f"{_describe(obj)} needs '{capability}' on its class", obj)
        refusal = mutation_refusal(obj, "BUILD" if capability == "state" else "an item method", self.policy)
        if refusal is None and capability == "state":
            refusal = self.gate.state(rule, cls, state, lambda: self.call_info(name, (obj, state), None))
        if refusal is not None:
            raise self.refused(refusal, obj)

    def check_reduction(self, obj: object, rv: Any) -> None:
        if isinstance(rv, str):
            self.check_name(join_name(_which_module(obj, rv), rv), obj)
            return
        if type(rv) is not tuple or not 2 <= len(rv) <= 6 or type(rv[1]) is not tuple:
            return  # the C pickler refuses a malformed reduction before writing anything
        func, args = rv[0], rv[1]
        state, listitems, dictitems, setter = (*rv[2:], None, None, None, None)[:4]
        callable_name = getattr(func, "__name__", None)
        if self.protocol >= 2 and callable_name == "__newobj__" and args:
            self.check_construct(args[0], args[1:], None, obj)
        elif self.protocol >= 2 and callable_name == "__newobj_ex__" and len(args) == 3:
            if self.protocol < 4:
                raise self.plain_refusal(
                    f"{_describe(obj)} needs keyword arguments to be rebuilt: use protocol 4 or 5", obj
                )
            self.check_construct(args[0], args[1], args[2], obj)
        else:
            self.check_call(func, args, obj)
        if state is not None:
            self.check_instance(obj, "state", state)
        if listitems is not None or dictitems is not None:
            self.check_instance(obj, "items")
        if setter is not None:
            self.check_call(setter, (obj, state), obj)

    def reduce(self, obj: Any, rv: Any = NotImplemented) -> Any:
        """What reducer_override returns for ``obj``: ``rv`` (a reducer's answer) or
        the usual reduction, after judging it."""
        if rv is NotImplemented:
            if isinstance(obj, type) or type(obj) is types.FunctionType:
                self.check_reference(obj)
                return NotImplemented
            rv = self.reduce_of(obj)
        self.check_reduction(obj, rv)
        return rv

    def check_construct(self, cls: Any, args: Any, kwargs: Any, obj: object) -> None:
        name = self.global_name(cls) if isinstance(cls, type) else None
        if name is None or type(args) is not tuple:
            return  # the C pickler refuses these itself
        self.check_arguments(name, cls, args, kwargs, "construct", obj)
        self.expect(cls)


def _describe(obj: object) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        return f"the function {getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    cls = type(obj)
    return f"a {cls.__module__}.{cls.__qualname__} object"


class _CPickler(_pickle.Pickler):
    """The C pickler, with the judge in ``reducer_override``."""

    _reduce: Callable[[Any], Any]

    def reducer_override(self, obj: Any) -> Any:
        return self._reduce(obj)


class _CPicklerWithIds(_CPickler):
    _persistent_id: Callable[[Any], Any]

    def persistent_id(self, obj: Any) -> Any:
        return self._persistent_id(obj)


class _Sink:
    """Collects output without copying it (``dumps``), or so it can be verified
    before the caller's file sees it."""

    def __init__(self) -> None:
        self.parts: list[bytes | memoryview] = []

    def write(self, data: bytes | pickle.PickleBuffer) -> int:
        # Keep what the C pickler passes without copying (bytes, or a PickleBuffer of a
        # large payload); take() joins it once, as pickle.dumps copies it once.
        if type(data) is bytes:
            self.parts.append(data)
            return len(data)
        view = memoryview(data)
        self.parts.append(view)
        return view.nbytes

    def take(self) -> bytes:
        parts, self.parts = self.parts, []
        return b"".join(parts)


@functools.lru_cache(maxsize=128)
def _implicit_globals_allowed(policy: Policy, protocol: int) -> bool:
    """Whether ``policy`` allows the globals the C pickler writes for plain builtin
    values at ``protocol`` (if not, output is verified after pickling)."""
    judge = _Judge(policy, protocol, lambda: copyreg.dispatch_table)
    for name, args, protocols in _IMPLICIT:
        if protocol not in protocols:
            continue
        module, _, qualname = name.partition(":")
        rule = policy.rule(module, qualname)
        if rule is None or (rule.can is not None and "call" not in rule.can):
            return False
        if not judge.gate.arguments(rule, judge.call_info(name, args, None)):
            return False
    return True


@functools.lru_cache(maxsize=128)
def _default_judge(policy: Policy, protocol: int) -> _Judge:
    return _Judge(policy, protocol, lambda: copyreg.dispatch_table)


class Pickler:
    """Writes pickles to a binary file, refusing what ``policy`` would refuse on load.

    The surface of :class:`pickle.Pickler`: ``dump``, ``clear_memo``, ``memo``,
    ``fast``, ``dispatch_table``, and the overridable ``persistent_id`` and
    ``reducer_override`` (whose results are judged like any other reduction).
    """

    def __init__(
        self,
        file: Any,
        protocol: int | None = None,
        *,
        policy: PolicyLike = None,
        fix_imports: bool = True,
        buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None,
    ) -> None:
        self._policy = resolve_policy(policy)
        self._protocol = _protocol(protocol)
        self._file = file
        self._verify = not self._policy.is_unrestricted and not _implicit_globals_allowed(self._policy, self._protocol)
        self._sink = _Sink() if self._verify else None
        with_ids = type(self).persistent_id is not Pickler.persistent_id
        inner = (_CPicklerWithIds if with_ids else _CPickler)(
            self._sink if self._sink is not None else file,
            protocol,
            fix_imports=fix_imports,
            buffer_callback=buffer_callback,
        )
        inner._reduce = self._reduce
        if isinstance(inner, _CPicklerWithIds):
            inner._persistent_id = self.persistent_id
        self._inner = inner
        self._judge = _Judge(self._policy, self._protocol, self._dispatch_table)

    def _dispatch_table(self) -> Mapping[type, Any]:
        table: Mapping[type, Any] = getattr(self._inner, "dispatch_table", copyreg.dispatch_table)
        return table

    # -- the pickle.Pickler surface ----------------------------------------------------

    def dump(self, obj: Any) -> None:
        """Write the pickle of ``obj``, or raise :class:`picklefence.PicklingError`."""
        try:
            _dump_judged(self._inner, obj, self._judge)
        finally:
            data = self._sink.take() if self._sink is not None else b""
        if self._sink is not None:
            self._check_output(data, obj)
            self._file.write(data)

    def _check_output(self, data: bytes, root: object) -> None:
        """Verify what the C pickler wrote for plain values, when the policy lacks a
        global it uses for them at this protocol (e.g. a policy without set())."""
        report = audit(data, policy=self._policy)
        for use in report.refused:
            module, _, qualname = use.name.partition(":")
            capability = sorted(use.refused)[0]
            raise self._judge.refusal(
                module, qualname, capability, root, f"the pickle needs {use.name!r} for a builtin value"
            ).error

    def clear_memo(self) -> None:
        self._inner.clear_memo()

    @property
    def memo(self) -> Any:
        return self._inner.memo

    @memo.setter
    def memo(self, value: Any) -> None:
        self._inner.memo = value

    @property
    def fast(self) -> bool:
        return bool(self._inner.fast)

    @fast.setter
    def fast(self, value: bool) -> None:
        self._inner.fast = value

    @property
    def dispatch_table(self) -> Mapping[type, Any]:
        return self._dispatch_table()

    @dispatch_table.setter
    def dispatch_table(self, table: Mapping[type, Any]) -> None:
        self._inner.dispatch_table = table

    def persistent_id(self, obj: Any) -> Any:
        """Override to write ``obj`` as a persistent id; ``None`` pickles it normally."""
        return None

    def reducer_override(self, obj: Any) -> Any:
        """Override to reduce ``obj`` yourself; ``NotImplemented`` uses the usual way."""
        return NotImplemented

    # -- judging -------------------------------------------------------------------------

    def _reduce(self, obj: Any) -> Any:
        rv = self.reducer_override(obj)
        if self._policy.is_unrestricted:
            return rv
        return self._judge.reduce(obj, rv)


def _protocol(protocol: int | None) -> int:
    """The protocol number pickle uses for ``protocol`` (None: default, negative: highest)."""
    if protocol is None:
        return pickle.DEFAULT_PROTOCOL
    return pickle.HIGHEST_PROTOCOL if protocol < 0 else protocol


def dumps(
    obj: Any,
    protocol: int | None = None,
    *,
    policy: PolicyLike = None,
    fix_imports: bool = True,
    buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None,
) -> bytes:
    """The pickle of ``obj``, byte for byte ``pickle.dumps``'s, if ``policy`` allows it."""
    pol = resolve_policy(policy)
    # Small pickles are dominated by setting up a pickler: reuse one per thread (the
    # slot also holds what was worked out for its policy and protocol).
    slot = getattr(_reuse, "slot", None)
    if (
        slot is None
        or slot[0] is not pol
        or slot[1] != protocol
        or slot[2] != fix_imports
        or buffer_callback is not None
        or _reuse.busy
    ):
        if pol.is_unrestricted:
            return pickle.dumps(obj, protocol, fix_imports=fix_imports, buffer_callback=buffer_callback)
        proto = _protocol(protocol)
        if not _implicit_globals_allowed(pol, proto):
            sink = _Sink()
            Pickler(sink, protocol, policy=pol, fix_imports=fix_imports, buffer_callback=buffer_callback).dump(obj)
            return sink.take()
        if buffer_callback is not None or getattr(_reuse, "busy", False):
            sink, inner = _judged_pickler(pol, protocol, fix_imports, buffer_callback)
            _dump_judged(inner, obj, _default_judge(pol, proto))
            return sink.take()
        judged = _judged_pickler(pol, protocol, fix_imports, None)
        slot = _reuse.slot = (pol, protocol, fix_imports, *judged, _default_judge(pol, proto))
    sink, inner, judge = slot[3], slot[4], slot[5]
    _reuse.busy = True  # a __reduce__ that calls dumps gets its own pickler
    data = b""
    try:
        _dump_judged(inner, obj, judge)
        data = sink.take()
        return data
    finally:
        if not 0 < len(data) <= _REUSE_MAX:  # a large dump, or a failed one
            # The C pickler keeps its memo table and (protocols 0-3) its output buffer
            # at their largest size, and clear_memo() zeroes that whole table: every
            # later small dump would pay for this large one.  A pickle of n bytes has
            # at most n memo entries, so a small output never grew them.
            _reuse.slot = None
        else:
            inner.clear_memo()  # neither keep the objects alive nor share them with the next dump
        sink.parts.clear()
        _reuse.busy = False


_reuse = threading.local()
#: How many class and function names a judge keeps (see _Judge.names).
_NAMES_KEPT = 4096
#: Outputs longer than this retire the thread's reused pickler (see dumps).
_REUSE_MAX = 64 << 10


def _judged_pickler(
    policy: Policy,
    protocol: int | None,
    fix_imports: bool,
    buffer_callback: Callable[[pickle.PickleBuffer], Any] | None,
) -> tuple[_Sink, _CPickler]:
    """A C pickler writing to a fresh sink, judged by ``policy``'s cached judge."""
    sink = _Sink()
    inner = _CPickler(sink, protocol, fix_imports=fix_imports, buffer_callback=buffer_callback)
    inner._reduce = _default_judge(policy, _protocol(protocol)).reduce
    return sink, inner


def _dump_judged(inner: _CPickler, obj: Any, judge: _Judge) -> None:
    """Run the C pickler; turn a refusal into a PicklingError that says where the
    refused object sits in ``obj``."""
    judge.begin()
    try:
        inner.dump(obj)
    except _Refusal as refusal:
        error = refusal.error
        error.set_path(_find_path(obj, refusal.obj))
        raise error from None


def dump(
    obj: Any,
    file: Any,
    protocol: int | None = None,
    *,
    policy: PolicyLike = None,
    fix_imports: bool = True,
    buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None,
) -> None:
    """Write the pickle of ``obj`` to ``file``, if ``policy`` allows it."""
    Pickler(file, protocol, policy=policy, fix_imports=fix_imports, buffer_callback=buffer_callback).dump(obj)


def _find_path(root: object, target: object, limit: int = 200_000) -> str | None:
    """Where ``target`` sits inside ``root``, as Python source (``root["a"].b[0]``);
    a breadth-first search, run only to explain a refusal."""
    if target is root:
        return "root"
    seen = {id(root)}
    queue: collections.deque[tuple[object, str]] = collections.deque([(root, "root")])
    while queue and len(seen) < limit:
        node, path = queue.popleft()
        for child, child_path in _children(node, path):
            if child is target:
                return child_path
            if id(child) not in seen:
                seen.add(id(child))
                queue.append((child, child_path))
    return None


def _children(node: object, path: str) -> Iterator[tuple[object, str]]:
    if isinstance(node, (str, bytes, bytearray, int, float, complex, type, types.FunctionType)):
        return
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield item, f"{path}[{i}]"
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key, f"a key of {path}"
            yield value, f"{path}[{key!r}]"
    elif isinstance(node, (set, frozenset)):
        for item in node:
            yield item, f"a member of {path}"
    attrs = getattr(node, "__dict__", None)
    if isinstance(attrs, dict):
        for key, value in attrs.items():
            yield value, f"{path}.{key}"
    for slot in getattr(type(node), "__slots__", ()):
        if isinstance(slot, str) and hasattr(node, slot):
            yield getattr(node, slot), f"{path}.{slot}"
