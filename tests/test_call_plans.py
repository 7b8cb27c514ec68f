"""The gate's answers kept per policy and per load (call plans, references, names) decide
exactly as the full questions: a cached answer never outlives what it was worked out
from, and a call that fails a kept test is refused with the full path's words."""

from __future__ import annotations

import datetime
import io
import pickle
import pickletools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import picklefence
from picklefence import Policy, PolicyViolation, _checks
from picklefence._gate import Gate
from picklefence._rules import CallInfo
from picklefence.errors import PicklingError

_STDLIB = Policy.named("stdlib")
_PACKED = b"\x07\xe8\x01\x02\x03\x04\x05\x00\x00\x00"  # datetime(2024, 1, 2, 3, 4, 5)


def _reduce(func: Any, args: tuple[Any, ...], protocol: int = 2) -> bytes:
    """A pickle of ``func(*args)`` as the C pickler writes it."""

    class Reduced:
        def __reduce__(self) -> tuple[Any, ...]:
            return func, args

    return pickle.dumps(Reduced(), protocol)


def _rules_with_positional_tests() -> list[tuple[str, Any]]:
    found = []
    for name in Policy.shipped_names():
        policy = Policy.named(name)
        gate = Gate.of(policy)
        for rule in policy:
            if rule.signatures is not None and gate.positional_test(rule) is not None:
                found.append((f"{name}/{rule.name}", rule))
    return found


_TESTED = _rules_with_positional_tests()
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.binary(max_size=12),
    st.sampled_from(["latin1", "utf-8", "ascii", "", "a" * 40, b"\x00" * 10, 0, 1, -1, 255, 256]),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.lists(st.integers(), max_size=3),
    st.just(datetime.UTC),
    st.just(datetime.datetime),
)


def test_there_are_positional_tests_to_compare() -> None:
    assert len(_TESTED) > 50


@settings(max_examples=300, deadline=None, derandomize=True)
@given(index=st.integers(min_value=0, max_value=len(_TESTED) - 1), args=st.lists(_VALUES, max_size=4))
def test_a_positional_test_decides_as_the_full_signature_check(index: int, args: list[Any]) -> None:
    label, rule = _TESTED[index]
    call = CallInfo(rule.name, tuple(args), {}, lambda obj: None, lambda obj, cap: False)
    gate = Gate.of(Policy([rule]))
    test = gate.positional_test(rule)
    assert test is not None, label
    assert test(tuple(args)) == gate.arguments(rule, call), label


def test_a_rule_with_a_check_or_a_global_constraint_has_no_positional_test() -> None:
    policy = (
        Policy()
        .allow("collections:OrderedDict", signatures=[[]], check=lambda call: True)
        .allow("copyreg:_reconstructor", args=[picklefence.Arg(globals=frozenset({"builtins:object"}))])
    )
    gate = Gate.of(policy)
    for rule in policy:
        assert gate.positional_test(rule) is None, rule.name


def test_a_check_that_reads_only_positional_arguments_is_a_positional_test() -> None:
    policy = Policy().allow("fractions:Fraction", args=[int, int], check="bounded_ints")
    policy = policy.allow("collections:OrderedDict", check="bounded_ints").allow("builtins:int", check="numpy_scalar")
    gate = Gate.of(policy)
    for rule in policy:
        assert gate.positional_test(rule) is not None, rule.name
    # a signature that only checks is tested by the check itself (no frame of a closure)
    assert gate.positional_test(policy.rule("builtins", "int")) is _checks.POSITIONAL_CHECKS["numpy_scalar"]


def _scalar_rows() -> list[tuple[tuple[Any, ...], bool]]:
    np = pytest.importorskip("numpy")
    f8, c16, obj, v0 = np.dtype("f8"), np.dtype("c16"), np.dtype("O"), np.dtype("V0")
    return [
        ((f8, b"\x00" * 8), True),
        ((f8, "\x00" * 8), True),  # latin-1 text, from Python 2
        ((f8, bytearray(8)), True),
        ((f8, b"\x00" * 7), False),  # a forged size: scalar() would read past the data
        ((f8, b"\x00" * 9), False),
        ((f8, b"\x00" * 16), False),
        ((c16, b"\x00" * 16), True),
        ((f8, [1.0]), False),
        ((obj, [1]), True),  # an object scalar: the item itself
        ((v0, b""), False),
        ((v0, b"x"), False),
        (("f8", b"\x00" * 8), False),  # a dtype's code, not a dtype
        ((f8,), False),
        ((f8, b"\x00" * 8, 1), False),
        ((), False),
    ]


def test_the_numpy_scalar_test_decides_as_its_check() -> None:
    rows = _scalar_rows()
    policy = Policy.named("numpy")
    rule = policy.rule("numpy._core.multiarray", "scalar")
    assert rule is not None and rule.signatures is not None
    gate = Gate.of(policy)
    test = gate.positional_test(rule)
    assert test is not None
    for args, expected in rows:
        call = CallInfo(rule.name, args, {}, lambda obj: None, lambda obj, cap: False)
        assert test(args) is expected, args
        assert gate.arguments(rule, call) is expected, args
        # with a keyword argument the check refuses, and the engine never plans such a call
        assert not gate.arguments(rule, CallInfo(rule.name, args, {"x": 1}, lambda obj: None, lambda obj, cap: False))


def test_numpy_scalars_are_planned_and_a_forged_one_is_refused_on_both_paths() -> None:
    np = pytest.importorskip("numpy")
    good = list(np.arange(50, dtype=np.float64))
    for protocol in (2, 5):
        data = pickle.dumps(good, protocol)
        assert picklefence.loads(data, policy="numpy") == good
        engine = _engine_after(data, "numpy")
        scalar = engine.found[("numpy._core.multiarray", "scalar")]
        assert engine.plans[id(scalar)][3] is _checks.POSITIONAL_CHECKS["numpy_scalar"]
        # the 51st scalar has 7 bytes of data: the kept test fails, the full path refuses it
        bad = pickle.dumps([*good, _Short()], protocol)
        for load in (picklefence.loads, _strict_loads):
            with pytest.raises(PolicyViolation) as refused:
                load(bad, policy="numpy")
            assert (refused.value.module, refused.value.qualname, refused.value.capability) == (
                "numpy._core.multiarray",
                "scalar",
                "arguments",
            ), protocol


class _Short:
    """Reduces as a float64 does, numpy's own ``scalar(dtype, data)``, with 7 bytes."""

    def __reduce__(self) -> tuple[Any, ...]:
        import numpy as np

        func, (dtype, _) = np.float64(0).__reduce__()  # type: ignore[misc]
        return func, (dtype, b"\x00" * 7)


def _strict_loads(data: bytes, policy: str) -> Any:
    return picklefence.Unpickler(io.BytesIO(data), policy=policy).load()


def _engine_after(data: bytes, policy: str) -> Any:
    """The strict engine of a load of ``data``, once it is loaded."""
    unpickler = picklefence.Unpickler(io.BytesIO(data), policy=policy)
    unpickler.load()
    return unpickler._engine


@pytest.mark.parametrize("protocol", [2, 5])
def test_a_call_failing_the_kept_test_is_refused_as_by_the_full_path(protocol: int) -> None:
    good = pickle.dumps([datetime.datetime(2024, 1, 2, 3, 4, 5)] * 2, protocol)
    bad = pickle.dumps([datetime.datetime(2024, 1, 2, 3, 4, 5), _Forged(b"\x07" * 11)], protocol)
    assert picklefence.loads(good, policy=_STDLIB) == pickle.loads(good)
    with pytest.raises(PolicyViolation) as refused:
        picklefence.loads(bad, policy=_STDLIB)  # the first call made the plan, the second fails its test
    assert (refused.value.module, refused.value.qualname, refused.value.capability) == (
        "datetime",
        "datetime",
        "arguments",
    )


class _Forged:
    """Reduces to ``datetime.datetime(packed)`` with the bytes given (too long: refused)."""

    def __init__(self, packed: bytes) -> None:
        self.packed = packed

    def __reduce__(self) -> tuple[Any, ...]:
        return datetime.datetime, (self.packed,)


def _two_names(first: str, second: str) -> bytes:
    """A pickle that looks up OrderedDict by both names (``_collections`` holds the class
    ``collections`` exports), then calls what the second lookup gave."""
    body = f"c{first.replace(':', chr(10))}\n0c{second.replace(':', chr(10))}\n(](S'a'\nI1\ntatR.".encode()
    return b"\x80\x02" + body


def test_a_global_found_by_two_names_is_called_under_a_name_that_grants_the_call() -> None:
    import _collections
    import collections

    assert _collections.OrderedDict is collections.OrderedDict
    policy = Policy().allow("_collections:OrderedDict", can=["reference"]).allow("collections:OrderedDict")
    called_by_the_other_name = _two_names("collections:OrderedDict", "_collections:OrderedDict")
    only_referenced = _two_names("_collections:OrderedDict", "_collections:OrderedDict")
    for _ in range(2):  # and again, with the gate's kept answers warm: the same verdicts
        assert picklefence.loads(called_by_the_other_name, policy=policy) == collections.OrderedDict(a=1)
        with pytest.raises(PolicyViolation) as caught:
            picklefence.loads(only_referenced, policy=policy)
        assert (caught.value.module, caught.value.capability) == ("_collections", "call")


def test_a_call_only_global_kept_in_a_plan_is_still_refused_as_a_value() -> None:
    # The plan holds the stand-in too: the reference count rule must not count it as
    # the result's (and must still see the result's own reference).
    ops = pickletools.optimize(pickle.dumps(datetime.datetime, 2))
    with pytest.raises(PolicyViolation) as caught:
        picklefence.loads(ops, policy=_STDLIB)
    assert (caught.value.qualname, caught.value.capability) == ("datetime", "value")
    both = pickle.dumps([datetime.datetime(2024, 1, 2), datetime.datetime], 2)
    with pytest.raises(PolicyViolation) as caught:
        picklefence.loads(both, policy=_STDLIB)
    assert (caught.value.qualname, caught.value.capability) == ("datetime", "value")


# -- the pickler's kept names and plans ---------------------------------------------------


def _make(value: int) -> list[int]:
    return [value]


class _Made:
    def __reduce__(self) -> tuple[Any, ...]:
        return _make, (1,)


class _Kept:
    """A class the test renames."""


@pytest.mark.parametrize(
    ("renamed", "dumped"),
    [(_Kept, _Kept), (_make, _Made())],  # a class written by reference, a function called
    ids=["class", "function"],
)
def test_a_renamed_class_or_function_is_judged_by_its_new_name(renamed: Any, dumped: object) -> None:
    old = renamed.__qualname__
    policy = Policy.named("default").allow(f"{__name__}:{old}")  # (dumps then keeps its judge)
    assert picklefence.dumps(dumped, 2, policy=policy)  # the judge keeps the name, rule and plan
    renamed.__qualname__ = "Renamed"
    globals()["Renamed"] = renamed
    try:
        with pytest.raises(PicklingError) as caught:
            picklefence.dumps(dumped, 2, policy=policy)
        assert caught.value.qualname == "Renamed"
    finally:
        renamed.__qualname__ = old
        del globals()["Renamed"]


@pytest.mark.parametrize("protocol", [2, 5])
def test_dumps_refuses_arguments_after_a_kept_plan(protocol: int) -> None:
    assert picklefence.dumps(datetime.datetime(2024, 1, 2), protocol, policy=_STDLIB)
    with pytest.raises(PicklingError) as caught:
        picklefence.dumps(_Forged(b"\x07" * 11), protocol, policy=_STDLIB)
    assert (caught.value.qualname, caught.value.capability) == ("datetime", "arguments")
    assert picklefence.dumps(_Forged(_PACKED), protocol, policy=_STDLIB) == pickle.dumps(_Forged(_PACKED), protocol)


# -- the compiled test against the reference, on rules made to use every constraint ----

_ARGS = st.builds(
    picklefence.Arg,
    types=st.none()
    | st.frozensets(st.sampled_from(["int", "float", "bool", "str", "bytes", "NoneType", "tuple"]), min_size=1)
    | st.just(frozenset({"int", "datetime:timezone"})),
    values=st.none() | st.tuples(st.sampled_from([0, 1, True, 1.0, "a", b"a", None, float("nan")])).map(tuple),
    max_len=st.none() | st.integers(min_value=0, max_value=4),
    min=st.none() | st.sampled_from([0, -1.5, 2]),
    max=st.none() | st.sampled_from([3, 10.5]),
    pattern=st.none() | st.sampled_from(["a+", "[0-9]{1,3}"]),
).filter(lambda arg: arg.min is None or arg.max is None or arg.min <= arg.max)
_SIGNATURES = st.builds(
    picklefence.Signature,
    args=st.none() | st.lists(_ARGS, max_size=3).map(tuple),
    varargs=st.none() | _ARGS,
)
_CALL_VALUES = st.one_of(
    _VALUES,
    st.sampled_from([True, False, 1.0, 0.0, -1.5, 10.5, 11, float("nan"), float("inf"), "aaa", "123", "1234", b"ab"]),
)


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(signatures=st.lists(_SIGNATURES, min_size=1, max_size=3), args=st.lists(_CALL_VALUES, max_size=4))
def test_the_compiled_test_decides_as_accepts_positional(signatures: list[Any], args: list[Any]) -> None:
    from picklefence import _gate

    test = _gate._positional_test(tuple(signatures))
    assert test is not None
    expected = any(sig.accepts_positional(tuple(args), None) for sig in signatures)
    assert test(tuple(args)) is expected


def test_the_compiled_test_is_the_one_in_use_where_the_extension_is_built() -> None:
    from picklefence import _gate

    pytest.importorskip("picklefence._signatures")
    test = _gate._positional_test((picklefence.Signature(args=(picklefence.Arg(types=frozenset({"int"})),)),))
    assert type(test).__name__ == "PositionalTest"
    assert test((1,)) is True and test(("1",)) is False and test((1, 2)) is False


def test_a_len_that_raises_raises_through_the_compiled_test_too() -> None:
    from picklefence import _gate

    class Odd:
        def __len__(self) -> int:
            raise ValueError("no length")

    test = _gate._positional_test((picklefence.Signature(args=(picklefence.Arg(max_len=3),)),))
    assert test is not None
    with pytest.raises(ValueError, match="no length"):
        test((Odd(),))
    assert test((object(),)) is False  # no len(): TypeError means "does not match"


_EDGE_VALUES = [
    0,
    1,
    2,
    3,
    10,
    11,
    -1,
    -2,
    True,
    False,
    1.0,
    3.0,
    10.5,
    -1.5,
    float("nan"),
    float("inf"),
    "",
    "a",
    "abc",
    "abcd",
    "123",
    b"",
    b"abc",
    b"abcd",
    (),
    (1, 2, 3),
    [1, 2, 3, 4],
    None,
    datetime.UTC,
]
_EDGE_ARGS = [
    picklefence.Arg(max_len=3),
    picklefence.Arg(max_len=0),
    picklefence.Arg(types=frozenset({"int"})),
    picklefence.Arg(types=frozenset({"bool", "float"})),
    picklefence.Arg(types=frozenset({"str", "bytes"}), max_len=3),
    picklefence.Arg(values=(1,)),
    picklefence.Arg(values=(True, 1.0, "a")),
    picklefence.Arg(values=(float("nan"),)),
    picklefence.Arg(min=0),
    picklefence.Arg(max=10.5),
    picklefence.Arg(min=-1.5, max=3),
    picklefence.Arg(types=frozenset({"int"}), min=1, max=2),
    picklefence.Arg(pattern="a+"),
    picklefence.Arg(types=frozenset({"str"}), pattern="[0-9]{1,3}"),
    picklefence.Arg(types=frozenset({"NoneType", "datetime:timezone"})),
]


def _label(arg: Any) -> str:
    """A test id that is the same in every worker (a frozenset's repr is not)."""
    fields = {"types": sorted(arg.types) if arg.types is not None else None, "values": arg.values}
    fields |= {"max_len": arg.max_len, "min": arg.min, "max": arg.max, "pattern": arg.pattern}
    return ",".join(f"{key}={value}" for key, value in fields.items() if value is not None)


@pytest.mark.parametrize("arg", _EDGE_ARGS, ids=_label)
def test_the_compiled_test_decides_as_accepts_at_each_constraints_edge(arg: Any) -> None:
    from picklefence import _gate

    single = picklefence.Signature(args=(arg,))
    rest = picklefence.Signature(args=(), varargs=arg)
    for signature in (single, rest):
        test = _gate._positional_test((signature,))
        assert test is not None
        for value in _EDGE_VALUES:
            for args in ((value,), (value, value)):
                assert test(args) is signature.accepts_positional(args, None), (signature, args)


# -- the fast path's planned calls in C (_calls.c) decide as Engine.call -----------------


def test_the_fast_path_calls_planned_reduces_in_c_where_the_extension_is_built() -> None:
    pytest.importorskip("picklefence._calls")
    from picklefence import _fast

    assert type(_fast._Loader.__dict__["persistent_load"]).__name__ == "Dispatch"


@pytest.mark.parametrize("protocol", [2, 5])
def test_planned_calls_count_against_max_calls_as_the_strict_engine_counts(protocol: int) -> None:
    from picklefence._fast import MISS, try_loads_at, verify
    from picklefence.limits import Limits

    if verify is None:
        pytest.skip("built without the C extension: there is no fast path to compare")

    stamps = [datetime.datetime(2024, 1, 2, 3, 4, i) for i in range(7)]
    data = pickle.dumps(stamps, protocol)
    for limit in range(4, 16):  # (protocol 2 also calls _codecs.encode, once per stamp)
        limits = Limits(max_calls=limit)
        fast = try_loads_at(data, _STDLIB, limits)[0]
        try:
            strict: Any = picklefence.Unpickler(__import__("io").BytesIO(data), policy=_STDLIB, limits=limits).load()
        except picklefence.LimitExceededError:
            strict = MISS
        assert (fast is MISS) is (strict is MISS), limit
        if fast is not MISS:
            assert fast == strict == stamps


def test_a_planned_call_that_raises_is_a_call_failed_error() -> None:
    # 10 bytes pass the positional test, but month 13 is no datetime's packed state
    data = _reduce(datetime.datetime, (b"\x07\xe8\x0d\x02\x03\x04\x05\x00\x00\x00",), 5)
    with pytest.raises(picklefence.CallFailedError) as caught:
        picklefence.loads(data, policy=_STDLIB)
    assert isinstance(caught.value, TypeError) and "datetime:datetime(...) raised TypeError" in str(caught.value)
    assert isinstance(caught.value.__cause__, TypeError)


def test_a_call_only_global_among_planned_arguments_takes_the_engine_and_is_refused() -> None:
    # bool() takes any one argument, so its plan's test passes the call-only datetime
    # class: only the engine may decide that it is a value use (bool would drop it)
    policy = _STDLIB.allow("builtins:bool", args=[picklefence.Arg()])
    data = _reduce(bool, (datetime.datetime,), 5)
    assert pickle.loads(data) is True
    with pytest.raises(PolicyViolation) as caught:
        picklefence.loads(data, policy=policy)
    assert (caught.value.qualname, caught.value.capability) == ("datetime", "value")


class _Validated:
    """Made by a call any arguments may make: its validator must still see every one."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __reduce__(self) -> tuple[Any, ...]:
        return _Validated, (self.x,)


@pytest.mark.parametrize("protocol", [2, 5])
def test_what_a_planned_call_makes_is_validated(protocol: int) -> None:
    policy = Policy().allow(_Validated, can=["call"], validator=lambda obj: "x is negative" if obj.x < 0 else None)
    good = pickle.dumps([_Validated(1), _Validated(2)], protocol)
    assert [v.x for v in picklefence.loads(good, policy=policy)] == [1, 2]
    bad = pickle.dumps([_Validated(1), _Validated(-1)], protocol)
    with pytest.raises(PolicyViolation) as caught:
        picklefence.loads(bad, policy=policy)
    assert (caught.value.qualname, caught.value.capability) == ("_Validated", "validation")
    assert "x is negative" in str(caught.value)


class _Caller:
    """A callable instance pickled by name: it has no ``__qualname__`` of its own."""

    def __call__(self, value: int) -> list[int]:
        return [value]

    def __reduce__(self) -> str:
        return "CALLER"


CALLER = _Caller()


class _CalledByName:
    def __reduce__(self) -> tuple[Any, ...]:
        return CALLER, (3,)


def test_a_callee_without_a_qualname_is_judged_and_kept_without_one() -> None:
    assert not hasattr(CALLER, "__qualname__")
    policy = Policy.named("default").allow(f"{__name__}:CALLER", can=["call"])
    for _ in range(2):  # the second dump meets the kept plan
        data = picklefence.dumps(_CalledByName(), 2, policy=policy)
        assert data == pickle.dumps(_CalledByName(), 2)
        assert picklefence.loads(data, policy=policy) == [3]


# -- construction plans (NEWOBJ, NEWOBJ_EX) -------------------------------------------------


class _Built:
    """Constructed by NEWOBJ with one positional argument (``__getnewargs__``)."""

    def __new__(cls, x: object) -> _Built:
        obj = super().__new__(cls)
        obj.x = x  # type: ignore[attr-defined]
        return obj

    def __init__(self, x: object) -> None:
        pass

    def __getnewargs__(self) -> tuple[object]:
        return (self.x,)  # type: ignore[attr-defined]

    def __getstate__(self) -> None:
        return None


class _BuiltEx(_Built):
    """Constructed by NEWOBJ_EX, with the keyword arguments it carries."""

    def __new__(cls, x: object, **kwargs: object) -> _BuiltEx:
        return super().__new__(cls, x)  # type: ignore[return-value]

    def __getnewargs_ex__(self) -> tuple[tuple[object], dict[str, object]]:
        return (self.x,), self.kwargs  # type: ignore[attr-defined]


def _ints_only(cls: type) -> Policy:
    return Policy().allow(cls, can=["construct"], args=[int])


@pytest.mark.parametrize("protocol", [2, 5])
def test_a_construction_failing_the_kept_test_is_refused_as_by_the_full_path(protocol: int) -> None:
    policy = _ints_only(_Built)
    good = pickle.dumps([_Built(1), _Built(2)], protocol)
    assert [v.x for v in picklefence.loads(good, policy=policy)] == [1, 2]
    for forged in ("one", 2.5, None):
        bad = pickle.dumps([_Built(1), _Built(forged)], protocol)  # the first made the plan
        with pytest.raises(PolicyViolation) as caught:
            picklefence.loads(bad, policy=policy)
        assert (caught.value.qualname, caught.value.capability) == ("_Built", "arguments")
        assert "does not match any argument signature" in str(caught.value)


def test_a_construction_with_keyword_arguments_takes_the_full_check() -> None:
    policy = _ints_only(_BuiltEx)
    plain, keyed = _BuiltEx(1), _BuiltEx(2)
    plain.kwargs, keyed.kwargs = {}, {"mode": "r"}  # type: ignore[attr-defined]
    assert [v.x for v in picklefence.loads(pickle.dumps([plain, plain], 4), policy=policy)] == [1, 1]
    with pytest.raises(PolicyViolation) as caught:
        picklefence.loads(pickle.dumps([plain, keyed], 4), policy=policy)
    assert (caught.value.qualname, caught.value.capability) == ("_BuiltEx", "arguments")


def test_a_class_the_policy_only_lets_be_called_is_not_constructed_by_a_kept_plan() -> None:
    policy = Policy().allow(_Built, can=["call"], args=[int])
    for _ in range(2):  # with the gate's kept answers warm, too
        with pytest.raises(PolicyViolation) as caught:
            picklefence.loads(pickle.dumps(_Built(1), 2), policy=policy)
        assert (caught.value.qualname, caught.value.capability) == ("_Built", "construct")


@pytest.mark.parametrize("protocol", [2, 5])
def test_what_a_planned_construction_makes_is_validated(protocol: int) -> None:
    policy = Policy().allow(_Built, can=["construct"], validator=lambda obj: "x is negative" if obj.x < 0 else None)
    with pytest.raises(PolicyViolation) as caught:
        picklefence.loads(pickle.dumps([_Built(1), _Built(-1)], protocol), policy=policy)
    assert (caught.value.qualname, caught.value.capability) == ("_Built", "validation")


def test_a_call_only_global_among_planned_construction_arguments_is_refused_as_a_value() -> None:
    policy = _ints_only(_Built).allow("datetime:datetime", args=[bytes])
    with pytest.raises(PolicyViolation) as caught:
        picklefence.loads(pickle.dumps([_Built(1), _Built(datetime.datetime)], 2), policy=policy)
    assert (caught.value.qualname, caught.value.capability) == ("datetime", "value")
