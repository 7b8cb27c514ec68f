"""The pickler: pickle's bytes for what the policy allows, a PicklingError — naming the
global, the object's type and where it sits — for what the policy would refuse on load."""

from __future__ import annotations

import array
import collections
import copyreg
import datetime
import decimal
import functools
import io
import os
import pickle
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import picklefence
from picklefence import Pickler, PicklingError, Policy, UnpicklingError

from .strategies import shared_graphs, values

protocols = st.integers(0, pickle.HIGHEST_PROTOCOL)


@given(values, protocols)
def test_dumps_is_pickle_dumps_byte_for_byte(obj: object, protocol: int) -> None:
    data = picklefence.dumps(obj, protocol, policy="stdlib")
    assert data == pickle.dumps(obj, protocol)
    assert picklefence.loads(data, policy="stdlib") == obj


@given(shared_graphs(), protocols)
def test_round_trip_keeps_sharing_and_recursion(obj: Any, protocol: int) -> None:
    data = picklefence.dumps(obj, protocol, policy="stdlib")
    assert data == pickle.dumps(obj, protocol)
    back = picklefence.loads(data, policy="stdlib")
    assert back["a"] is back["b"]
    assert pickle.dumps(back, protocol) == pickle.dumps(pickle.loads(data), protocol)


class Private:
    def __init__(self) -> None:
        self.x = 1


class Slotted:
    __slots__ = ("a",)

    def __init__(self) -> None:
        self.a = 2


def _refused_objects() -> list[object]:
    """Objects the shipped policies refuse, pickled by CPython in all the usual ways."""
    return [
        Private(),
        Slotted(),
        Private,
        len,
        os.system,
        functools.partial(int, "1"),
        re.compile("a+"),
        array.array("i", [1, 2]),
        collections.ChainMap({}),
        pickle.PickleBuffer(b"x"),
        ValueError("x"),
        [1, {"deep": (Private(),)}],
    ]


def _default_only_refused() -> list[object]:
    """Allowed by stdlib, refused by default."""
    return [
        datetime.date(2020, 1, 1),
        decimal.Decimal("1.5"),
        collections.OrderedDict(a=1),
        {"when": datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)},
    ]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("policy", ["default", "stdlib"])
def test_dump_time_and_load_time_decisions_agree(policy: str, protocol: int) -> None:
    corpus = _refused_objects() + _default_only_refused()
    for obj in corpus:
        try:
            theirs = pickle.dumps(obj, protocol)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            with pytest.raises(type(exc)):  # what pickle cannot write, neither can we
                picklefence.dumps(obj, protocol, policy=policy)
            continue
        try:
            ours = picklefence.dumps(obj, protocol, policy=policy)
        except PicklingError:
            ours = None
        if ours is not None:
            assert ours == theirs
            assert picklefence.loads(ours, policy=policy) is not None or obj is None
        try:
            picklefence.loads(theirs, policy=policy)
            load_ok = True
        except UnpicklingError:
            load_ok = False
        assert load_ok == (ours is not None), (obj, policy, protocol)


def test_refusal_names_global_type_and_path() -> None:
    obj = {"model": {"steps": [Private()]}}
    with pytest.raises(PicklingError) as info:
        picklefence.dumps(obj)
    exc = info.value
    assert exc.name == f"{__name__}:Private"
    assert exc.obj_type is Private
    assert exc.path == "root['model']['steps'][0]"
    assert exc.capability == "construct"
    text = str(exc)
    assert f"Policy.named('default').allow('{__name__}:Private')" in text
    assert "root['model']['steps'][0]" in text


def test_refusal_path_through_attributes() -> None:
    import argparse

    ns = argparse.Namespace(inner=argparse.Namespace(bad=len))
    with pytest.raises(PicklingError) as info:
        picklefence.dumps(ns, policy="stdlib")
    assert info.value.path == "root.inner.bad"
    assert info.value.name == "builtins:len"


def test_refusal_of_a_dangerous_global_warns() -> None:
    with pytest.raises(PicklingError, match="Do not allow it: posix:system"):
        picklefence.dumps(os.system)


def test_allowed_class_round_trips() -> None:
    policy = Policy.named("default").allow(Private, Slotted)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        for obj in (Private(), Slotted()) if protocol >= 2 else (Private(),):  # pickle needs 2 for slots
            data = picklefence.dumps(obj, protocol, policy=policy)
            assert data == pickle.dumps(obj, protocol)
            assert type(picklefence.loads(data, policy=policy)) is type(obj)


def test_argument_rules_apply_at_dump_time() -> None:
    policy = Policy.named("default").allow(
        "builtins:range", args=[picklefence.Arg(types=frozenset({"int"}), max=10)] * 3
    )
    assert picklefence.loads(picklefence.dumps(range(5), policy=policy), policy=policy) == range(5)
    with pytest.raises(PicklingError) as info:
        picklefence.dumps(range(50), policy=policy)
    assert info.value.capability == "arguments"


def test_state_keys_apply_at_dump_time() -> None:
    policy = Policy.named("default").allow(Private, state_keys=["y"])
    with pytest.raises(PicklingError, match="state key 'x'"):
        picklefence.dumps(Private(), policy=policy)


def test_call_only_class_cannot_carry_state() -> None:
    policy = Policy.named("default").allow(Private, can=["construct"])
    with pytest.raises(PicklingError) as info:
        picklefence.dumps(Private(), 2, policy=policy)
    assert info.value.capability == "state"


def test_unrestricted_is_pickle() -> None:
    # Twins, made apart: a reducer may change what it reduces (tblib's, which dask
    # installs for exceptions, gives each one a __dict__), so no object is pickled twice.
    for obj, twin in zip(_refused_objects(), _refused_objects(), strict=True):
        try:
            expected = pickle.dumps(obj, 4)
        except Exception:
            continue
        assert picklefence.dumps(twin, 4, policy=Policy.unrestricted()) == expected


def test_policy_without_implicit_globals_is_verified() -> None:
    no_sets = Policy.named("default").deny("builtins:set")
    assert picklefence.dumps({1, 2}, 4, policy=no_sets) == pickle.dumps({1, 2}, 4)  # EMPTY_SET, no global
    with pytest.raises(PicklingError) as info:
        picklefence.dumps([{1, 2}], 2, policy=no_sets)
    assert info.value.name == "builtins:set"
    stream = io.BytesIO()
    with pytest.raises(PicklingError):
        picklefence.dump([{1}], stream, 2, policy=no_sets)
    assert stream.getvalue() == b"", "nothing is written when the output is refused"


def test_dump_writes_to_a_file_and_negative_protocol_is_highest() -> None:
    stream = io.BytesIO()
    picklefence.dump({"a": 1}, stream, -1)
    assert stream.getvalue() == pickle.dumps({"a": 1}, pickle.HIGHEST_PROTOCOL)
    assert picklefence.dumps([1]) == pickle.dumps([1])  # DEFAULT_PROTOCOL


def test_bad_protocol_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        picklefence.dumps(1, 6)


def test_persistent_id_override() -> None:
    class Refs(Pickler):
        def persistent_id(self, obj: object) -> object:
            return "ref" if isinstance(obj, Private) else None

    stream = io.BytesIO()
    Refs(stream, 4).dump([Private(), 1])

    class Loader(picklefence.Unpickler):
        def persistent_load(self, pid: object) -> object:
            return pid

    stream.seek(0)
    assert Loader(stream).load() == ["ref", 1]


def test_reducer_override_results_are_judged() -> None:
    class Sneaky(Pickler):
        def reducer_override(self, obj: object) -> object:
            if isinstance(obj, Private):
                return (os.system, ("true",))
            return NotImplemented

    with pytest.raises(PicklingError) as info:
        Sneaky(io.BytesIO(), 4).dump(Private())
    assert info.value.name == "posix:system"

    class Honest(Pickler):
        def reducer_override(self, obj: object) -> object:
            if isinstance(obj, Private):
                return (range, (0, 3, 1))
            return NotImplemented

    stream = io.BytesIO()
    Honest(stream, 4).dump(Private())
    assert picklefence.loads(stream.getvalue()) == range(3)


def test_dispatch_table_is_used_and_judged() -> None:
    stream = io.BytesIO()
    pickler = Pickler(stream, 4)
    pickler.dispatch_table = {**copyreg.dispatch_table, Private: lambda obj: (range, (0, obj.x, 1))}
    pickler.dump(Private())
    assert picklefence.loads(stream.getvalue()) == range(1)
    pickler.dispatch_table = {Private: lambda obj: (eval, ("1",))}
    with pytest.raises(PicklingError):
        pickler.dump(Private())


def test_memo_fast_and_clear_memo() -> None:
    stream = io.BytesIO()
    pickler = Pickler(stream, 2)
    pickler.fast = True
    assert pickler.fast
    pickler.fast = False
    pickler.dump(["x"])
    assert len(pickler.memo.copy()) > 0
    pickler.clear_memo()
    assert len(pickler.memo.copy()) == 0


def test_buffer_callback_out_of_band() -> None:
    buffers: list[pickle.PickleBuffer] = []
    data = picklefence.dumps(pickle.PickleBuffer(bytearray(b"abc")), 5, buffer_callback=buffers.append)
    assert len(buffers) == 1
    assert bytes(picklefence.loads(data, buffers=buffers)) == b"abc"


def test_nested_class_at_low_protocols_needs_getattr() -> None:
    policy = Policy.named("default").allow(Outer.Inner)
    assert picklefence.dumps(Outer.Inner, 4, policy=policy) == pickle.dumps(Outer.Inner, 4)
    assert picklefence.loads(picklefence.dumps(Outer.Inner, 4, policy=policy), policy=policy) is Outer.Inner
    with pytest.raises(PicklingError) as info:  # protocol 2 writes getattr(Outer, "Inner")
        picklefence.dumps(Outer.Inner, 2, policy=policy)
    assert info.value.name == "builtins:getattr"
    with pytest.raises(UnpicklingError):
        picklefence.loads(pickle.dumps(Outer.Inner, 2), policy=policy)


class Outer:
    class Inner:
        pass


def test_dumps_refuses_what_loads_would_refuse_for_its_own_output() -> None:
    """The two drifts of issue 12: each was written by dumps and refused by loads."""
    import functools

    cases: list[tuple[object, picklefence.Policy]] = [
        (functools.partial(max, 1), picklefence.Policy.named("stdlib").allow("functools:partial", "builtins:max")),
    ]
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        numpy = picklefence.Policy.named("numpy")
        cases.append((np.dtype([("a", "O"), ("b", "<i8")]), numpy))
        cases.append(({"f": np.ma.core._mareconstruct}, numpy))  # a call-only global as a value
    for value, policy in cases:
        for protocol in range(6):
            data = pickle.dumps(value, protocol)
            with pytest.raises(picklefence.UnpicklingError):
                picklefence.loads(data, policy=policy)
            with pytest.raises(picklefence.PicklingError):
                picklefence.dumps(value, protocol, policy=policy)
