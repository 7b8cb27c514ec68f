"""The fast path looks up a global its policy's gate has seen the engine look up in C
(``_calls.Find``, from ``Gate.known``): every row here loads with a cold gate and again
with a warm one, and the fast path and the strict engine agree on the result, on what
is refused, and on the ``pickle.find_class`` audit events."""

from __future__ import annotations

import collections
import io
import pickle
import sys
from collections.abc import Callable
from typing import Any

import pytest

import picklefence
from picklefence import Limits, _fast
from picklefence._engine import CallOnly, Engine
from picklefence._gate import Gate
from picklefence._names import RENAMED_MODULES

from .hostile import call, g, i, stop, u

_calls = pytest.importorskip("picklefence._calls")
pytestmark = pytest.mark.skipif(_fast.verify is None, reason="built without the C verifier")


class Thing:
    """A module-level class a policy allows (replaced under its name by one test)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    __hash__ = object.__hash__


class Other(Thing):
    pass


class Held(collections.UserDict):  # type: ignore[type-arg]
    """Made by REDUCE, its data by BUILD; validated by one of its two names' rules."""


Checked = Held  # (the same class under a name whose rule has a validator)


_TOML = f"""
[allow."datetime:datetime"]
can = ["call"]
signatures = [{{ args = [{{ type = ["bytes", "str"], max_len = 10 }}] }}]
[allow."_datetime:datetime"]
can = ["reference"]
[allow."datetime:date"]
[allow."{__name__}:Thing"]
[allow."builtins:set"]
[allow."builtins:bytearray"]
[allow."{__name__}:Held"]
can = ["call", "state"]
state_keys = ["data"]
[allow."{__name__}:Checked"]
can = ["call", "state"]
state_keys = ["data"]
validate = "stdlib_user_dict"
"""


def _policy() -> picklefence.Policy:
    """A policy of its own per test, so its gate starts cold."""
    return picklefence.Policy.from_toml(_TOML)


_EVENTS: list[tuple[str, str]] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "pickle.find_class" and _EVENTS is not None:
        _EVENTS.append(args)


sys.addaudithook(_audit)  # (permanent: it records only inside _outcome)


def _outcome(load: Callable[[], Any]) -> tuple[Any, ...]:
    """What a load gives (pickled, with its type) or what it refuses, and the audit
    events of its lookups."""
    global _EVENTS
    _EVENTS = []
    try:
        try:
            result = load()
        except picklefence.UnpicklingError as exc:
            refused = (type(exc), getattr(exc, "module", None), getattr(exc, "qualname", None))
            said = (getattr(exc, "capability", None), getattr(exc, "limit", None), type(exc.__cause__))
            return ("error", *refused, *said, _EVENTS)
        return ("value", type(result), pickle.dumps(result, 4), _EVENTS)
    finally:
        _EVENTS = None


def _both(data: bytes, policy: picklefence.Policy, limits: Limits | None = None) -> tuple[Any, ...]:
    """The fast path's and the strict engine's outcomes, which must be the same."""
    fast = _outcome(lambda: picklefence.loads(data, policy=policy, limits=limits))
    strict = _outcome(lambda: picklefence.Unpickler(io.BytesIO(data), policy=policy, limits=limits).load())
    assert fast[:-1] == strict[:-1]
    if fast[0] == "value":
        assert fast[-1] == strict[-1]
    else:  # (the fast path declined and the strict engine ran again: its events come last)
        assert fast[-1][len(fast[-1]) - len(strict[-1]) :] == strict[-1]
    return strict


DT = call(g("datetime", "datetime"), b"C\x0a" + bytes([7, 232, 1, 2, 3, 4, 5, 0, 0, 0]))
DATE = call(g("datetime", "date"), b"C\x04" + bytes([7, 232, 1, 2]))
THING = g(__name__, "Thing") + b")\x81"  # NEWOBJ of Thing

# (id, pickle, limits, expected: "value" or (what is refused: qualname, capability or limit))
ROWS: list[tuple[str, bytes, Limits | None, object]] = [
    ("call-only called", stop(DT + DT + DATE + b"\x87", 2), None, "value"),
    ("call-only as the result", stop(g("datetime", "datetime"), 2), None, ("datetime", "value")),
    (
        "call-only kept in a list",
        stop(DT + b"]" + g("datetime", "datetime") + b"a\x86", 2),
        None,
        ("datetime", "value"),
    ),
    ("call-only as an argument", stop(call(g("datetime", "date"), g("datetime", "datetime")), 2), None, "refused"),
    # one object by two names in one load: the second name's rule lets it be a value
    ("two names, value", stop(DT + g("_datetime", "datetime") + b"\x86", 2), None, "value"),
    ("two names, value first", stop(g("_datetime", "datetime") + DT + b"\x86", 2), None, "value"),
    ("class by NEWOBJ", stop(THING + THING + b"\x86", 2), None, "value"),
    ("refused name", stop(DT + g("os", "system") + b"\x86", 2), None, ("system", "reference")),
    # every GLOBAL is a lookup, found before or not
    ("max_globals", stop(DT + DT + DT + b"\x87", 2), Limits(max_globals=2), "max_globals"),
    ("max_globals not reached", stop(DT + DT + DT + b"\x87", 2), Limits(max_globals=3), "value"),
    # Python 2's names are renamed at protocols below 3 alone
    ("renamed at 2", stop(call(g("__builtin__", "set"), b"]" + i(1) + b"a"), 2), None, "value"),
    ("not renamed at 3", stop(call(g("__builtin__", "set"), b"]" + i(1) + b"a"), 3), None, ("set", "reference")),
    # what a planned call makes is measured and validated as the engine does it
    (
        "measured result",
        stop(call(g("builtins", "bytearray"), b"C\x28" + b"x" * 40) * 2 + b"\x86", 2),
        Limits(max_amplification=0, amplification_floor=50),
        "max_amplification",
    ),
    (
        "measured result within",
        stop(call(g("builtins", "bytearray"), b"C\x28" + b"x" * 40) * 2 + b"\x86", 2),
        Limits(max_amplification=0, amplification_floor=200),
        "value",
    ),
    (
        "stack global",
        stop(u("datetime") + u("date") + b"\x93" + b"C\x04" + bytes([7, 232, 1, 2]) + b"\x85R", 4),
        None,
        "value",
    ),
]


@pytest.mark.parametrize(("data", "limits", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_known_globals_decide_as_the_engine(data: bytes, limits: Limits | None, expected: object) -> None:
    policy = _policy()
    cold = _both(data, policy, limits)
    assert _both(data, policy, limits) == cold  # warm
    assert _both(data, policy, limits) == cold
    if expected == "value":
        assert cold[:2] == ("value", type(pickle.loads(data)))
        assert cold[2] == pickle.dumps(pickle.loads(data), 4)
    elif expected == "refused":
        assert cold[0] == "error" and issubclass(cold[1], picklefence.PolicyViolation)
    elif isinstance(expected, str):
        assert cold[0] == "error" and cold[5] == expected
    else:
        assert cold[0] == "error" and (cold[3], cold[4]) == expected
    if expected == "value":
        assert cold[-1], "every row that loads looks a global up: the audit events must be seen"


@pytest.fixture
def fallback(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The names the fast path's find_class hands to Engine.find."""
    seen: list[tuple[str, str]] = []

    def spy(engine: Engine, module: str, name: str) -> Any:
        seen.append((module, name))
        return Engine.find(engine, module, name)

    monkeypatch.setattr(_fast._Loader, "find_class", _calls.Find(spy, CallOnly, RENAMED_MODULES))
    return seen


def test_the_engine_looks_each_name_up_once_per_gate(fallback: list[tuple[str, str]]) -> None:
    policy = _policy()
    data = stop(b"(" + DT + DT + DATE + THING + b"(" + DT + DATE + b"l" + b"t", 2)
    for _ in range(3):
        assert _both(data, policy)[:3] == ("value", tuple, pickle.dumps(pickle.loads(data), 4))
    # the strict engine's loads are its own; the fast path's three looked each name up once
    assert fallback == [("datetime", "datetime"), ("datetime", "date"), (__name__, "Thing")]
    assert set(Gate.of(policy).known) == {("datetime", "datetime"), ("datetime", "date"), (__name__, "Thing")}


@pytest.mark.parametrize("first", ["_datetime", "datetime"])
def test_an_object_found_by_two_names_in_one_load_merges_its_provenance(
    first: str, fallback: list[tuple[str, str]]
) -> None:
    """Each name is known (from loads of its own); a load of both finds the object by
    the second name while it holds the first's provenance: the engine merges the two."""
    policy = _policy()
    ref, called = stop(g("_datetime", "datetime"), 2), stop(DT, 2)
    _both(ref, policy)
    _both(called, policy)
    assert len(Gate.of(policy).known) == 2
    fallback.clear()
    both = [g("_datetime", "datetime"), DT] if first == "_datetime" else [DT, g("_datetime", "datetime")]
    assert _both(stop(both[0] + both[1] + b"\x86", 2), policy)[0] == "value"
    second = ("datetime", "datetime") if first == "_datetime" else ("_datetime", "datetime")
    assert fallback == [second]


def _held(name: str, data: bytes) -> bytes:
    return g(__name__, name) + b")R" + b"}" + u("data") + data + b"sb"


def test_a_class_plain_by_one_name_is_validated_by_the_other() -> None:
    """The gate's answer for a result's class holds for the names it was asked with:
    known plain as Held, the same class found as Checked is validated."""
    policy = _policy()
    for _ in range(2):
        assert _both(stop(_held("Held", b"}"), 2), policy)[:2] == ("value", Held)
        assert _both(stop(_held("Held", i(5)), 2), policy)[:2] == ("value", Held)  # (no validator: as pickle)
    refused = _both(stop(_held("Checked", i(5)), 2), policy)  # (the fast path first, with the gate's Held answer)
    assert refused[0] == "error" and issubclass(refused[1], picklefence.PolicyViolation)
    assert refused[3] == "Checked"
    assert _both(stop(_held("Checked", b"}"), 2), policy)[:2] == ("value", Held)


def test_refused_names_are_never_known() -> None:
    policy = _policy()
    _both(stop(DT, 2), policy)
    for n in range(50):
        with pytest.raises(picklefence.PolicyViolation):
            picklefence.loads(stop(g("os", f"name{n}"), 2), policy=policy)
    assert list(Gate.of(policy).known) == [("datetime", "datetime")]


def test_a_replaced_module_attribute_is_looked_up_again(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _policy()
    data = stop(THING, 2)
    assert type(picklefence.loads(data, policy=policy)) is Thing
    assert type(picklefence.loads(data, policy=policy)) is Thing  # known
    monkeypatch.setattr(sys.modules[__name__], "Thing", Other)
    assert _both(data, policy)[:2] == ("value", Other)
    assert type(pickle.loads(data)) is Other
    monkeypatch.undo()
    assert _both(data, policy)[:2] == ("value", Thing)


def test_a_module_no_longer_imported_is_imported_by_the_engine(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "known_globals_module.py").write_text("class K:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import known_globals_module  # type: ignore[import-not-found]

    policy = picklefence.Policy.from_toml('[allow."known_globals_module:K"]\n')
    data = stop(g("known_globals_module", "K") + b")\x81", 2)
    assert type(picklefence.loads(data, policy=policy)) is known_globals_module.K
    assert type(picklefence.loads(data, policy=policy)) is known_globals_module.K  # known
    monkeypatch.delitem(sys.modules, "known_globals_module")
    again = type(picklefence.loads(data, policy=policy))
    assert again is sys.modules["known_globals_module"].K  # imported again, as pickle would
    assert again is not known_globals_module.K


class _Refused(Exception):
    pass


_refusing = False


def _refuse(event: str, args: tuple[Any, ...]) -> None:
    if _refusing and event == "pickle.find_class":
        raise _Refused(f"audit hook refuses {args}")


sys.addaudithook(_refuse)


def test_an_audit_hook_that_refuses_refuses_a_known_global() -> None:
    global _refusing
    policy = _policy()
    data = stop(DATE, 2)
    _both(data, policy)
    _refusing = True
    try:
        refused = _both(data, policy)
    finally:
        _refusing = False
    assert refused[0] == "error" and refused[-2] is _Refused


def test_the_compiled_lookup_refuses_an_engine_with_a_find_class_hook() -> None:
    """Engine.find shows every name to the hook; the compiled lookup could not."""
    engine = Engine(_fast._NO_INPUT, _policy(), Limits(), True, "ASCII", "strict", None, _fast._no_persistent_ids)
    _calls.Load(engine)
    engine.find_class_hook = lambda module, name: None
    with pytest.raises(TypeError, match="find_class hook"):
        _calls.Load(engine)


@pytest.mark.parametrize("plan", [("datetime:date",), "datetime:date", ("a", None, "b")], ids=["short", "str", "long"])
def test_a_known_entry_of_the_wrong_shape_goes_to_the_engine(plan: object, fallback: list[tuple[str, str]]) -> None:
    """Gate.known is the compiled lookup's alone; an entry of another shape (code poking
    the gate) is never read past its end: the engine looks the name up, and learns it."""
    policy = _policy()
    data = stop(DATE, 2)
    Gate.of(policy).known[("datetime", "date")] = (sys.modules["datetime"].date, (), True, plan)
    assert _both(data, policy)[:2] == ("value", type(pickle.loads(data)))
    assert fallback == [("datetime", "date")]
    assert Gate.of(policy).known[("datetime", "date")][3] != plan
