"""The fast path and the strict engine agree on every input: equal results, or the
same refusal.  ``loads`` may take the fast path; ``Unpickler`` on a file never does."""

from __future__ import annotations

import argparse
import collections
import io
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import picklefence
from picklefence import Limits, UnpicklingError
from picklefence._fast import MISS, try_loads, verify

from .strategies import builtin_values, values
from .test_hostile import CASES

pytestmark = pytest.mark.skipif(verify is None, reason="built without the C verifier")

LIMITS = Limits()
DEFAULT = picklefence.Policy.named("default")


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        result = run()
    except UnpicklingError as exc:
        return "error", type(exc)
    try:
        return "value", pickle.dumps(result, 4)
    except Exception:
        return "value", repr(result)


def _agree(data: bytes, policy: str = "default", limits: Limits | None = None) -> None:
    fast = _outcome(lambda: picklefence.loads(data, policy=policy, limits=limits))
    strict = _outcome(lambda: picklefence.Unpickler(io.BytesIO(data), policy=policy, limits=limits).load())
    assert fast == strict


@given(builtin_values, st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_plain_data_takes_the_fast_path_with_the_same_result(obj: object, protocol: int) -> None:
    data = pickle.dumps(obj, protocol)
    _agree(data)
    if protocol >= 4 and not isinstance(obj, (bytearray, range, slice, complex, type)):
        # containers of atoms pickle without globals from protocol 4 on (mostly)
        fast = try_loads(data, DEFAULT, LIMITS)
        if fast is not MISS:
            assert pickle.dumps(fast, 4) == pickle.dumps(pickle.loads(data), 4)


@given(values, st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_stdlib_values_agree(obj: object, protocol: int) -> None:
    _agree(pickle.dumps(obj, protocol), "stdlib")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(pickle.dumps(draw(builtin_values), draw(st.integers(0, pickle.HIGHEST_PROTOCOL))))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = bytes([draw(st.integers(0, 255))])
        elif kind == "delete" and data:
            del data[at]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


@given(mutated())
def test_mutated_and_truncated_pickles_agree(data: bytes) -> None:
    _agree(data, limits=Limits(max_string_bytes=1 << 20, max_memo_index=1 << 20))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_table_agrees(case: Any) -> None:
    _agree(case.data, case.policy, case.limits)


def test_the_fast_path_is_taken_for_plain_containers() -> None:
    data = pickle.dumps({"a": [1, 2.5, "x", b"y", None, True], "b": (1, 2), "s": {1}}, 5)
    assert try_loads(data, DEFAULT, LIMITS) == pickle.loads(data)


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps([Ellipsis], 4),  # a global used as a value, not called
        pickle.dumps(collections.OrderedDict(), 4),  # a global the default policy does not allow
        pickle.dumps(argparse.Namespace(), 2),  # NEWOBJ and BUILD
        b"\x80\x04\x95" + (4).to_bytes(8, "little") + b"C\x08abcdefgh.",  # straddles a FRAME
        b"\x80\x04)(K\x01e.",  # APPENDS on a tuple
        b"\x80\x04h\x05.",  # GET of an unset memo slot
        b"\x80\x04Nr\x00\x00\x00\x01.",  # memo index over a limit of 2**20
    ],
    ids=["global as a value", "refused global", "build", "straddle", "appends on a tuple", "unset memo", "memo index"],
)
def test_the_fast_path_declines(data: bytes) -> None:
    assert try_loads(data, DEFAULT, Limits(max_memo_index=1 << 20)) is MISS


def test_the_fast_path_calls_allowed_globals_through_the_policy() -> None:
    for obj in ({b"x", 1}, frozenset({2}), bytearray(b"ab"), range(1, 9, 2), slice(1, 2), complex(1, 2), type(None)):
        data = pickle.dumps(obj, 2)
        assert try_loads(data, DEFAULT, LIMITS) == pickle.loads(data), obj
    # an argument rule refuses: the fast path declines, the strict engine refuses
    refused = b"\x80\x02c__builtin__\nbytearray\nJ\x00\xca\x9a;\x85R."
    assert try_loads(refused, DEFAULT, LIMITS) is MISS
    with pytest.raises(picklefence.PolicyViolation):
        picklefence.loads(refused)
