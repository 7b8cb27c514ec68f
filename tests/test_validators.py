"""The validator mechanism (G8): every instance a load makes of a validated class is
checked once the whole load is built, on every path, before anything is returned."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

import picklefence
from picklefence import Policy, PolicyViolation
from picklefence._fast import MISS, try_loads_at
from picklefence.limits import Limits


@dataclass
class Span:
    start: int
    end: int


@dataclass
class Track:
    spans: list[Span]
    length: int


def _span_ok(obj: object) -> str | None:
    assert isinstance(obj, Span)
    if not hasattr(obj, "start") or not hasattr(obj, "end"):
        return "it never received its state"
    return None if 0 <= obj.start <= obj.end else f"start {obj.start} is after end {obj.end}"


def _track_ok(obj: object) -> str | None:
    """Cross-object: every span must lie inside the track (seen only once all are built)."""
    assert isinstance(obj, Track)
    bad = [s for s in getattr(obj, "spans", ()) if getattr(s, "end", 0) > getattr(obj, "length", -1)]
    return f"a span ends at {bad[0].end}, past the track's length" if bad else None


POLICY = Policy.named("default").allow(Span, validator=_span_ok).allow(Track, validator=_track_ok)


@pytest.mark.parametrize("proto", range(6))
def test_valid_objects_load_unchanged(proto: int) -> None:
    track = Track([Span(0, 3), Span(2, 5)], 5)
    assert picklefence.loads(pickle.dumps(track, proto), policy=POLICY) == track


@pytest.mark.parametrize("proto", range(6))
@pytest.mark.parametrize(
    ("value", "name", "words"),
    [
        (Span(4, 1), "Span", "start 4 is after end 1"),
        ([Span(0, 1), {"x": Span(9, 2)}], "Span", "start 9"),
        (Track([Span(0, 9)], 5), "Track", "past the track's length"),
    ],
)
def test_invalid_objects_are_refused_naming_the_class(proto: int, value: object, name: str, words: str) -> None:
    data = pickle.dumps(value, proto)
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy=POLICY)
    assert info.value.capability == "validation"
    assert info.value.name == f"{__name__}:{name}"
    assert words in str(info.value)
    # the fast path declines as well: nothing is returned from it
    assert try_loads_at(data, POLICY, Limits())[0] is MISS


def test_an_instance_that_never_received_its_state_is_refused() -> None:
    # NEWOBJ of Span without BUILD
    data = b"\x80\x04" + pickle.dumps(Span, 4)[2:-1] + b")\x81."
    with pytest.raises(PolicyViolation, match="never received its state") as info:
        picklefence.loads(data, policy=POLICY)
    assert info.value.name == f"{__name__}:Span"


def test_a_failing_validator_is_a_refusal_not_a_crash() -> None:
    def broken(obj: object) -> str | None:
        raise ZeroDivisionError("forged state")

    policy = Policy.named("default").allow(Span, validator=broken)
    with pytest.raises(PolicyViolation, match="ZeroDivisionError: forged state") as info:
        picklefence.loads(pickle.dumps(Span(0, 1)), policy=policy)
    assert info.value.capability == "validation"


def test_the_validator_runs_once_the_whole_load_is_built() -> None:
    seen: list[tuple[int, int]] = []

    def record(obj: object) -> None:
        assert isinstance(obj, Span)
        seen.append((obj.start, obj.end))

    policy = Policy.named("default").allow(Span, validator=record)
    picklefence.loads(pickle.dumps([Span(1, 2), Span(3, 4)], 2), policy=policy)
    assert seen == [(1, 2), (3, 4)]  # once each, after BUILD had run for both


def test_unpickler_validates_each_load_of_a_stream() -> None:
    import io

    stream = io.BytesIO(pickle.dumps(Span(0, 1)) + pickle.dumps(Span(5, 1)))
    unpickler = picklefence.Unpickler(stream, policy=POLICY)
    assert unpickler.load() == Span(0, 1)
    with pytest.raises(PolicyViolation, match="start 5"):
        unpickler.load()


def test_validators_survive_union_and_toml_names_are_checked() -> None:
    merged = POLICY | Policy.named("default").allow(Span)
    assert merged.rule(__name__, "Span").validator is _span_ok  # type: ignore[union-attr]
    with pytest.raises(picklefence.PolicyFileError, match="unknown 'validate'"):
        Policy.from_toml('[allow."a:B"]\nvalidate = "no_such_validator"\n')
