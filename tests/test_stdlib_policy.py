"""``policy="stdlib"`` on the standard-library corpus beyond loading (which
``test_corpus`` compares): the pickler writes ``pickle``'s own bytes under the same
policy, the audit sees what the load does, and a loaded value is used — repr,
re-pickling — as the one ``pickle`` returns."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pytest

import picklefence
from picklefence import PolicyViolation

from .corpus import Artifact, own_reducers_only, stdlib

PROTOCOLS = (0, 2, 4, 5)
LOADS = [a for a in stdlib.artifacts() if a.refused is None]
REFUSED = {a.name: a for a in stdlib.artifacts() if a.refused is not None}


@pytest.fixture(autouse=True)
def _as_a_plain_process_pickles() -> Iterator[None]:
    """pickle's bytes as a process without dask's tblib reducers writes them."""
    with own_reducers_only():
        yield


@pytest.mark.parametrize("artifact", LOADS, ids=[a.name for a in LOADS])
def test_dumps_under_stdlib_writes_pickles_bytes(artifact: Artifact) -> None:
    obj = artifact.make()
    for protocol in PROTOCOLS:
        assert picklefence.dumps(obj, protocol, policy="stdlib") == pickle.dumps(obj, protocol), protocol


@pytest.mark.parametrize("artifact", LOADS, ids=[a.name for a in LOADS])
def test_the_audit_allows_what_loads(artifact: Artifact) -> None:
    obj = artifact.make()
    for protocol in PROTOCOLS:
        report = picklefence.audit(pickle.dumps(obj, protocol), policy="stdlib")
        assert report.safe, (protocol, report.refused, report.problems)


@pytest.mark.parametrize("artifact", LOADS, ids=[a.name for a in LOADS])
def test_a_loaded_value_is_used_as_pickles_own_is(artifact: Artifact) -> None:
    obj = artifact.make()
    for protocol in PROTOCOLS:
        data = pickle.dumps(obj, protocol)
        got, expected = picklefence.loads(data, policy="stdlib"), pickle.loads(data)
        assert repr(got) == repr(expected) or " object at 0x" in repr(expected)
        assert pickle.dumps(got, protocol) == pickle.dumps(expected, protocol)


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("stdlib/exception-with-notes", ("builtins:ValueError", "state")),
        ("stdlib/platform-uname", ("platform:uname_result", "reference")),
    ],
)
def test_what_stays_refused_is_refused_for_its_reason(name: str, refused: tuple[str | None, str]) -> None:
    obj = REFUSED[name].make()
    for protocol in PROTOCOLS:
        data = pickle.dumps(obj, protocol)
        with pytest.raises(PolicyViolation) as info:
            picklefence.loads(data, policy="stdlib")
        assert (info.value.name, info.value.capability) == refused
        assert not picklefence.audit(data, policy="stdlib").safe
