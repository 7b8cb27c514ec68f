"""``policy="ml"``: the union of the shipped data-science policies.  It admits what each
member admits, refuses what every member refuses (the exploit and hostile tables of
the members, run again under ``ml``), keeps every member's validators and checks (a
union never drops one), and hands out no call-only global as a value."""

from __future__ import annotations

import functools
import io
import pickle
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import picklefence
from picklefence import Limits, Policy, PolicyViolation, UnpicklingError
from picklefence._gate import Gate
from picklefence._rules import Rule
from picklefence._scan import OPT_IN

from . import test_hostile, test_stdlib_hostile, test_value_use
from .corpus import assert_same, dumped, loaded
from .test_corpus import ARTIFACTS
from .test_hostile import _leaves_no_trace, _with_canary

_TEXT = (resources.files("picklefence") / "policies" / "ml.toml").read_text(encoding="utf-8")
MEMBERS: tuple[str, ...] = tuple(tomllib.loads(_TEXT)["include"])
#: shipped policies that are not data-science libraries of their own
_GENERAL = {"default", "stdlib", "ml"}


def test_ml_includes_every_shipped_data_science_policy() -> None:
    assert {"numpy", "pandas", "sklearn", "torch"} <= set(MEMBERS)
    assert set(Policy.shipped_names()) - _GENERAL - OPT_IN == set(MEMBERS), (
        "a shipped library policy is missing from ml"
    )


def _member_rules() -> dict[tuple[str, str], list[Rule]]:
    found: dict[tuple[str, str], list[Rule]] = {}
    for member in MEMBERS:
        for rule in Policy.named(member):
            found.setdefault((rule.module, rule.qualname), []).append(rule)
    return found


def test_every_rule_of_ml_is_the_union_of_its_members_rules() -> None:
    ml = {(r.module, r.qualname): r for r in Policy.named("ml")}
    members = _member_rules()
    assert set(ml) == set(members), "ml trusts a name no member trusts, or drops one"
    for key, rules in members.items():
        assert ml[key] == functools.reduce(Rule.union, rules), key


def test_no_validator_check_or_argument_rule_of_the_members_is_dropped() -> None:
    """A validator or state check of any member runs under ml; an argument rule, state
    keys or capability list that every member keeps for a name, ml keeps (widened only
    by what another member allows)."""
    ml = Policy.named("ml")
    for (module, qualname), rules in _member_rules().items():
        ours = ml.rule(module, qualname)
        assert ours is not None, qualname
        for rule in rules:
            if rule.validator is not None:
                assert ours.validator == rule.validator, f"{rule.name}: validator {ours.validator!r}"
            if rule.state_check is not None:
                assert ours.state_check == rule.state_check, f"{rule.name}: state check {ours.state_check!r}"
            if ours.signatures is not None:
                assert rule.signatures is not None and all(s in ours.signatures for s in rule.signatures), rule.name
        if all(r.signatures is not None for r in rules):
            assert ours.signatures is not None, f"{ours.name}: ml lifts an argument rule every member keeps"
        if all(r.state_keys is not None for r in rules):
            assert ours.state_keys is not None, f"{ours.name}: ml lifts state keys every member keeps"
        if all(r.can is not None for r in rules):
            assert ours.can == frozenset().union(*(r.can or () for r in rules)), ours.name


def test_every_constrained_global_of_ml_is_call_only() -> None:
    policy = Policy.named("ml")
    gate = Gate.of(policy)
    constrained = [r for r in policy if r.signatures is not None and (r.can is None or {"call", "construct"} & r.can)]
    assert constrained
    assert all(gate.call_only(r) for r in constrained)


@pytest.mark.parametrize(("row_id", "data", "name"), [(r[0], r[1], r[3]) for r in test_value_use.ROWS])
def test_a_call_only_global_never_becomes_a_value_under_ml(row_id: str, data: bytes, name: str) -> None:
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy="ml")
    assert (info.value.name, info.value.capability) == (name, "value"), row_id


# -- admits what each member admits ---------------------------------------------------

_MEMBER_ARTIFACTS = [a for a in ARTIFACTS if a.policy in (*MEMBERS, "stdlib", "default") and a.refused is None]


@pytest.mark.parametrize(
    ("artifact", "fmt"),
    [(a, f) for a in _MEMBER_ARTIFACTS for f in a.formats],
    ids=[f"{a.name}-{f}" for a in _MEMBER_ARTIFACTS for f in a.formats],
)
def test_corpus_artifact_of_a_member_loads_the_same_under_ml(artifact: Any, fmt: str) -> None:
    for library in artifact.requires:
        pytest.importorskip(library)
    data = dumped(artifact, fmt)
    (artifact.same or assert_same)(loaded(data, fmt, None), loaded(data, fmt, "ml"))


def test_numpy_pandas_and_sklearn_artifacts_load_the_same_under_ml() -> None:
    from . import test_ml_policies as ml_tests

    for name, obj in ml_tests.NUMPY.items():
        data = pickle.dumps(obj, 5)
        ml_tests._same_numpy(picklefence.loads(data, policy="ml"), pickle.loads(data))
        assert picklefence.dumps(obj, 5, policy="ml") == data, name
    pytest.importorskip("pandas")
    for name, obj in ml_tests._pandas_artifacts().items():
        data = pickle.dumps(obj, 4)
        if _admits(data, "pandas"):
            ml_tests._same_pandas(picklefence.loads(data, policy="ml"), pickle.loads(data))
        elif not any(_admits(data, m) for m in MEMBERS):  # (Arrow strings, today)
            assert not _admits(data, "ml"), name
    pytest.importorskip("sklearn")
    np = pytest.importorskip("numpy")
    for name, (model, X) in ml_tests._sklearn_models().items():
        data = pickle.dumps(model, 5)
        if not _admits(data, "sklearn"):
            assert any(_admits(data, m) for m in MEMBERS) or not _admits(data, "ml"), name
            continue
        ours = picklefence.loads(data, policy="ml")
        assert np.array_equal(ml_tests._outputs(ours, X), ml_tests._outputs(pickle.loads(data), X)), name


def _admits(data: bytes, policy: str) -> bool:
    try:
        picklefence.loads(data, policy=policy)
    except UnpicklingError:
        return False
    return True


def test_torch_checkpoints_load_the_same_under_ml() -> None:
    torch = pytest.importorskip("torch")
    from . import test_torch_policy as torch_tests

    for name, obj in torch_tests._checkpoints().items():
        checkpoint = torch_tests._save(obj)
        theirs = torch.load(io.BytesIO(checkpoint), weights_only=True)
        assert torch_tests._equal(torch_tests._load(checkpoint, policy="ml"), theirs), name
        assert torch_tests._equal(picklefence.torch.load(io.BytesIO(checkpoint), policy="ml"), theirs), name


# -- refuses what every member refuses ------------------------------------------------


def _rows() -> Iterator[tuple[str, bytes, Limits | None]]:
    for case in test_hostile.CASES:
        yield f"hostile/{case.id}", case.data, case.limits
    for row in test_stdlib_hostile.ROWS:
        yield f"stdlib/{row.id}", row.data, row.limits
    try:
        from . import test_ml_policies
    except pytest.skip.Exception:
        return
    for name, data, _policy, _error in test_ml_policies.HOSTILE:
        yield f"ml/{name}", data, None


ROWS = list(_rows())


def _outcome(data: bytes, policy: str, limits: Limits | None) -> tuple[type, str | None, str | None] | None:
    """How a load ends: None when it loads, else the error type and what was refused."""
    try:
        picklefence.loads(data, policy=policy, limits=limits)
    except UnpicklingError as exc:
        if isinstance(exc, PolicyViolation):
            return PolicyViolation, exc.name, exc.capability
        return type(exc), None, None
    return None


@pytest.mark.parametrize(("row_id", "data", "limits"), ROWS, ids=[r[0] for r in ROWS])
def test_ml_refuses_what_every_member_refuses(
    row_id: str, data: bytes, limits: Limits | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    canary = tmp_path / "canary"
    data = _with_canary(data, canary)
    outcomes = {_outcome(data, member, limits) for member in MEMBERS}
    if None in outcomes:
        pytest.skip("a member loads it")
    with _leaves_no_trace(canary):
        ours = _outcome(data, "ml", limits)
    assert ours is not None, "ml loads what every member refuses"
    if len(outcomes) == 1:
        assert ours == outcomes.pop()
    else:
        assert ours[0] in {o[0] for o in outcomes if o is not None}


def test_most_rows_are_refused_by_every_member() -> None:
    refused = sum(all(_outcome(data, m, limits) is not None for m in MEMBERS) for _id, data, limits in ROWS)
    assert refused >= 0.9 * len(ROWS), f"{refused} of {len(ROWS)}"
