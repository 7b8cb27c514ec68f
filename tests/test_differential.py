"""picklefence agrees with CPython's pickle on everything CPython writes."""

from __future__ import annotations

import io
import pickle

from hypothesis import given
from hypothesis import strategies as st

import picklefence

from .strategies import builtin_values, shared_graphs, values

protocols = st.integers(0, pickle.HIGHEST_PROTOCOL)


def _same(ours: object, theirs: object, protocol: int) -> None:
    assert type(ours) is type(theirs)
    # Re-pickling both with CPython compares the whole graph: values, types, and
    # which parts are shared or recursive (the memo shows up in the bytes).
    assert pickle.dumps(ours, protocol) == pickle.dumps(theirs, protocol)


@given(values, protocols)
def test_stdlib_values_load_like_pickle(obj: object, protocol: int) -> None:
    data = pickle.dumps(obj, protocol)
    expected = pickle.loads(data)
    ours = picklefence.loads(data, policy="stdlib")
    assert ours == expected
    _same(ours, expected, protocol)


@given(builtin_values, protocols)
def test_builtin_values_load_under_default(obj: object, protocol: int) -> None:
    data = pickle.dumps(obj, protocol)
    ours = picklefence.loads(data)
    assert ours == pickle.loads(data)
    _same(ours, pickle.loads(data), protocol)


@given(shared_graphs(), protocols)
def test_shared_and_recursive_structures_stay_so(obj: object, protocol: int) -> None:
    data = pickle.dumps(obj, protocol)
    ours = picklefence.loads(data, policy="stdlib")
    assert isinstance(ours, dict)
    assert ours["a"] is ours["b"]
    _same(ours, pickle.loads(data), protocol)


@given(values, protocols)
def test_file_reader_matches_bytes_reader(obj: object, protocol: int) -> None:
    data = pickle.dumps(obj, protocol)
    stream = io.BytesIO(data + b"trailing")
    ours = picklefence.load(stream, policy="stdlib")
    assert stream.read() == b"trailing"
    _same(ours, picklefence.loads(data, policy="stdlib"), protocol)
