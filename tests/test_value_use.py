"""The value-use rule (G8): a global whose rule constrains its call can only be called
by the pickle.  Stored as a value, a library would call it later with arguments no
check saw (``FunctionTransformer(func=_mareconstruct, kw_args=...)``)."""

from __future__ import annotations

import collections
import importlib.util
import io
import pickle

import pytest

import picklefence
from picklefence import Policy, PolicyViolation
from picklefence._fast import MISS, try_loads_at, verify
from picklefence.limits import Limits

from .hostile import call, g, i, stop, t, u

HAS_NUMPY = importlib.util.find_spec("numpy") is not None
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None

BYTEARRAY = g("builtins", "bytearray")

# (id, pickle, policy, refused global)
ROWS = [
    ("returned as the result", stop(BYTEARRAY), "default", "builtins:bytearray"),
    ("in a list", stop(b"(" + BYTEARRAY + b"l"), "default", "builtins:bytearray"),
    ("in a tuple", stop(t(BYTEARRAY)), "default", "builtins:bytearray"),
    ("a dict value", stop(b"(" + u("f") + BYTEARRAY + b"d"), "default", "builtins:bytearray"),
    ("a dict key", stop(b"}" + BYTEARRAY + i(1) + b"s"), "default", "builtins:bytearray"),
    ("in a set", stop(b"\x80\x04\x8f(" + BYTEARRAY + b"\x90"), "default", "builtins:bytearray"),
    ("memo, then a list", stop(BYTEARRAY + b"p0\n0(g0\nl"), "default", "builtins:bytearray"),
    (
        "called, then read back from the memo into the result",
        stop(BYTEARRAY + b"p0\n(tR0g0\n"),
        "default",
        "builtins:bytearray",
    ),
    (
        "an argument no signature takes (set(getattr))",
        stop(call(g("builtins", "set"), b"(" + g("builtins", "getattr") + b"l")),
        "stdlib",
        "builtins:getattr",
    ),
    (
        "passed to a call that keeps it (OrderedDict items)",
        stop(call(g("collections", "OrderedDict"), b"(" + t(u("k"), BYTEARRAY) + b"l")),
        "stdlib",
        "builtins:bytearray",
    ),
    (
        "a memoized argument tuple read back into the result",
        stop(b"(" + g("collections", "defaultdict") + b"(" + g("builtins", "set") + b"tp0\nRg0\nl"),
        "stdlib",
        "builtins:set",
    ),
    (
        "BUILD state of an allowed object",
        stop(g("types", "SimpleNamespace") + b")R(" + u("f") + BYTEARRAY + b"db"),
        "stdlib",
        "builtins:bytearray",
    ),
]


@pytest.mark.parametrize(("data", "policy", "name"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_a_call_only_global_never_becomes_a_value(data: bytes, policy: str, name: str) -> None:
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy=policy)
    assert info.value.capability == "value"
    assert info.value.name == name
    assert "may only be called by the pickle" in str(info.value)
    assert try_loads_at(data, Policy.named(policy), Limits())[0] is MISS


@pytest.mark.parametrize("proto", range(6))
@pytest.mark.parametrize(
    "value",
    [
        collections.defaultdict(set, {"a": {1}}),  # a factory its rule's 'global' constraint takes
        collections.OrderedDict(a=bytearray(b"x")),
        [bytearray(b"ab"), {1, 2}, frozenset({3}), range(3), slice(1, 2, 3), complex(1, 2)],
    ],
    ids=["defaultdict(set)", "OrderedDict", "builtins"],
)
def test_calls_and_arguments_that_rules_take_still_load(proto: int, value: object) -> None:
    data = pickle.dumps(value, proto)
    assert picklefence.loads(data, policy="stdlib") == value


# OrderedDict under two names, constrained (so call-only) under both: its one stand-in is
# found twice, held once more by the load's tables for each name, and refused by the
# name it was found by first
_TWO_NAMES = Policy().allow("collections:OrderedDict", "_collections:OrderedDict", signatures=[[]])
_OD, _OD2 = g("collections", "OrderedDict"), g("_collections", "OrderedDict")


@pytest.mark.parametrize(
    ("data", "refused"),
    [
        (stop(b"(" + call(_OD) + call(_OD2) + b"l"), None),
        (stop(b"(" + call(_OD) + _OD2 + b"l"), "collections:OrderedDict"),
        (stop(b"(" + _OD + call(_OD2) + b"l"), "collections:OrderedDict"),
        (stop(b"(" + _OD2 + b"q\x000h\x00)R" + call(_OD) + b"l"), None),
        (stop(b"(" + call(_OD2) + _OD + b"q\x000h\x00l"), "_collections:OrderedDict"),
    ],
    ids=["both called", "the second returned", "the first returned", "memoized, not kept", "memoized, kept"],
)
def test_a_global_found_by_two_names_is_counted_once_per_name(data: bytes, refused: str | None) -> None:
    loads = (
        lambda: picklefence.loads(data, policy=_TWO_NAMES),
        lambda: picklefence.Unpickler(io.BytesIO(data), policy=_TWO_NAMES).load(),
    )
    for load in loads:
        if refused is None:
            assert load() == pickle.loads(data)
            continue
        with pytest.raises(PolicyViolation) as info:
            load()
        assert (info.value.capability, info.value.name) == ("value", refused)
    if verify is not None:  # (the fast path, where the extension is built)
        assert (try_loads_at(data, _TWO_NAMES, Limits())[0] is MISS) == (refused is not None)


@pytest.mark.parametrize(
    "data",
    [
        # a call-only global, then the result above it: pickle drops what is left below STOP
        g("collections", "Counter") + b"(}(X\x01\x00\x00\x00aK\x02ut.",
        # ... and what is left in an unclosed MARK
        b"(" + g("collections", "Counter") + b"(}(X\x01\x00\x00\x00aK\x02ut.",
    ],
    ids=["below the result", "in an open MARK"],
)
def test_a_call_only_global_left_behind_at_stop_is_no_value(data: bytes) -> None:
    expected = pickle.loads(data)
    loads = (
        lambda: picklefence.loads(data, policy="stdlib"),
        lambda: picklefence.Unpickler(io.BytesIO(data), policy="stdlib").load(),
        lambda: picklefence.load(io.BytesIO(data), policy="stdlib"),
    )
    assert [load() for load in loads] == [expected] * 3
    assert picklefence.audit(data, policy="stdlib").first_refusal is None


@pytest.mark.skipif(not HAS_NUMPY, reason="numpy not installed")
@pytest.mark.parametrize("proto", range(6))
def test_numpy_objects_still_load_at_every_protocol(proto: int) -> None:
    import numpy as np

    value = [np.arange(6.0).reshape(2, 3), np.float32(1.5), np.dtype([("a", "<i4"), ("b", "<f8")])]
    loaded = picklefence.loads(pickle.dumps(value, proto), policy="numpy")
    assert np.array_equal(loaded[0], value[0]) and loaded[1] == value[1] and loaded[2] == value[2]


def _deferred_calls() -> list[tuple[str, object, str]]:
    """Estimators that call a stored callable later: each holds a checked helper."""
    if not HAS_SKLEARN:
        return []
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.svm import SVC

    mareconstruct = np.ma.core._mareconstruct
    core = getattr(np, "_core", None) or np.core  # numpy 2, numpy 1
    return [
        (
            "FunctionTransformer func",
            FunctionTransformer(func=mareconstruct, kw_args={"baseshape": (3,)}),
            "numpy.ma.core:_mareconstruct",
        ),
        (
            "FunctionTransformer inverse_func",
            FunctionTransformer(inverse_func=mareconstruct),
            "numpy.ma.core:_mareconstruct",
        ),
        ("SVC callable kernel", SVC(kernel=core.numeric._frombuffer), "numpy._core.numeric:_frombuffer"),
        ("KNeighbors callable metric", KNeighborsClassifier(metric=getattr), "builtins:getattr"),
        (
            "a helper inside kw_args",
            FunctionTransformer(kw_args={"f": [np._core.multiarray.scalar]}),
            "numpy._core.multiarray:scalar",
        ),
    ]


DEFERRED = _deferred_calls()


@pytest.mark.skipif(not HAS_SKLEARN, reason="scikit-learn not installed")
@pytest.mark.parametrize("proto", [0, 2, 4, 5])
@pytest.mark.parametrize(("estimator", "name"), [d[1:] for d in DEFERRED], ids=[d[0] for d in DEFERRED])
def test_a_checked_helper_stored_in_an_estimator_is_refused(estimator: object, name: str, proto: int) -> None:
    """The deferred calls of the issue: predict() or transform() would call the helper
    with whatever the pickle stored, outside every check."""
    data = pickle.dumps(estimator, proto)
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy="sklearn")
    assert (info.value.name, info.value.capability) == (name, "value")
    with pytest.raises(picklefence.PicklingError):
        picklefence.dumps(estimator, proto, policy="sklearn")


def test_every_constrained_global_of_the_shipped_policies_is_call_only() -> None:
    """Walk every shipped policy: a rule that constrains its call is call-only, so no
    load under a shipped name can hand it out as a value."""
    from picklefence._gate import Gate

    for name in Policy.shipped_names():
        policy = Policy.named(name)
        gate = Gate.of(policy)
        for rule in policy:
            grants_call = rule.can is None or bool({"call", "construct"} & rule.can)
            if rule.signatures is not None and grants_call:
                assert gate.call_only(rule), rule.name
                data = stop(g(rule.module, rule.qualname)) if "." not in rule.qualname else None
                if data is not None and importlib.util.find_spec(rule.module.partition(".")[0]) is not None:
                    with pytest.raises(picklefence.UnpicklingError) as info:
                        picklefence.loads(data, policy=policy)
                    if isinstance(info.value, PolicyViolation):
                        assert (info.value.capability, info.value.name) == ("value", rule.name)
                    else:  # only where the library itself cannot be imported here
                        assert "cannot import" in str(info.value) or "cannot get attribute" in str(info.value)
