"""Hypothesis strategies: nested objects of builtin and standard-library value types."""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import fractions
import http
import ipaddress
import pathlib
import types
import zoneinfo

from hypothesis import strategies as st

_ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]

hashable_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=False),
    st.complex_numbers(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.builds(range, st.integers(-5, 5), st.integers(-5, 50), st.integers(1, 3)),
    st.just(Ellipsis),
    st.just(NotImplemented),
    st.sampled_from([type(None), type(Ellipsis), type(NotImplemented)]),
    st.tuples(st.integers(), st.text(max_size=5)),
    st.frozensets(st.integers(), max_size=5),
)

stdlib_leaves = st.one_of(
    st.datetimes(timezones=st.none() | st.timezones() | st.sampled_from([datetime.UTC])),
    st.datetimes(timezones=st.sampled_from(_ZONES).map(zoneinfo.ZoneInfo)),
    st.dates(),
    st.times(timezones=st.none() | st.just(datetime.timezone(datetime.timedelta(hours=-3), "X"))),
    st.timedeltas(),
    st.decimals(allow_nan=False).map(decimal.Decimal),
    st.fractions().map(fractions.Fraction),
    st.uuids(),
    st.ip_addresses(),
    st.ip_addresses(v=4).map(lambda a: ipaddress.ip_network(f"{a}/32")),
    st.ip_addresses(v=6).map(lambda a: ipaddress.ip_interface(f"{a}/64")),
    st.lists(st.text(alphabet="abc/", min_size=1, max_size=4), max_size=3).map(lambda p: pathlib.PurePosixPath(*p)),
    st.lists(st.text(alphabet="abc", min_size=1, max_size=4), max_size=3).map(
        lambda p: pathlib.PureWindowsPath("c:/", *p)
    ),
    st.lists(st.text(alphabet="abc", min_size=1, max_size=4), max_size=3).map(lambda p: pathlib.PosixPath("/", *p)),
    st.sampled_from(list(http.HTTPStatus)),
    st.sampled_from(_ZONES).map(zoneinfo.ZoneInfo),
)

unhashable_leaves = st.one_of(
    st.binary(max_size=20).map(bytearray),
    st.builds(slice, st.integers() | st.none(), st.integers() | st.none(), st.integers() | st.none()),
    st.sets(st.integers() | st.text(max_size=5), max_size=5),
)


def _containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    keys = hashable_leaves
    return st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(keys, children, max_size=5),
        st.dictionaries(st.text(max_size=5), children, max_size=5).map(collections.OrderedDict),
        st.dictionaries(st.text(max_size=5), children, max_size=5).map(lambda d: collections.defaultdict(list, d)),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=5).map(collections.Counter),
        st.builds(collections.deque, st.lists(children, max_size=5), st.none() | st.integers(5, 10)),
        st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), children, max_size=4).map(
            lambda d: types.SimpleNamespace(**d)
        ),
        st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), children, max_size=4).map(
            lambda d: argparse.Namespace(**d)
        ),
    )


values = st.recursive(
    st.one_of(hashable_leaves, stdlib_leaves, unhashable_leaves),
    _containers,
    max_leaves=25,
)

builtin_values = st.recursive(
    st.one_of(hashable_leaves, unhashable_leaves),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(hashable_leaves, children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def shared_graphs(draw: st.DrawFn) -> object:
    """Structures whose parts are shared or refer to themselves."""
    leaf = draw(values)
    inner: list[object] = [leaf]
    outer: dict[str, object] = {"a": inner, "b": inner, "leaf": leaf}
    if draw(st.booleans()):
        inner.append(inner)
    if draw(st.booleans()):
        inner.append(outer)
    if draw(st.booleans()):
        outer["t"] = (inner, inner)
    return outer
