"""One verdict (issue 12): the strict engine, the fast path, the audit and the pickler
ask the same gate, so on every case of the project's corpora they agree — a refusal
by one is a refusal by all (the audit reports as refused what the loader refuses
without needing real objects, and never refuses what the loader allows)."""

from __future__ import annotations

import datetime
import decimal
import fractions
import importlib.util
import pickle
import uuid
from collections import OrderedDict, defaultdict, deque
from pathlib import Path
from typing import Any

import pytest

import picklefence
from picklefence import LimitExceededError, MalformedPickleError, Policy, PolicyViolation, audit
from picklefence._fast import MISS, try_loads_at
from picklefence.limits import Limits

from . import test_hostile, test_sklearn_checks, test_value_use

_CANARY = Path("/nonexistent-picklefence-dir/canary")


def _strict(data: bytes, policy: Policy, limits: Limits) -> tuple[str, Any]:
    """The strict engine alone (a buffers argument keeps the fast path out)."""
    try:
        return "value", picklefence.loads(data, policy=policy, limits=limits, buffers=())
    except PolicyViolation as exc:
        return "refused", (exc.name, exc.capability)
    except picklefence.UnpicklingError as exc:
        return "error", type(exc)


def _raw_cases() -> list[tuple[str, bytes, Policy, Limits]]:
    cases = []
    for case in test_hostile.CASES:
        policy = case.policy if isinstance(case.policy, Policy) else Policy.named(case.policy)  # type: ignore[arg-type]
        data = test_hostile._with_canary(case.data, _CANARY)
        cases.append((f"hostile: {case.id}", data, policy, case.limits or Limits()))
    for row in test_value_use.ROWS:
        cases.append((f"value use: {row[0]}", row[1], Policy.named(row[2]), Limits()))
    if importlib.util.find_spec("sklearn") is not None:
        for ident, (data, _name, _capability) in test_sklearn_checks.ROWS.items():
            cases.append((f"sklearn checks: {ident}", data, Policy.named("sklearn"), Limits()))
    return cases


RAW = _raw_cases()

# Malformed only for want of what the caller passes (persistent_load, buffers), which a
# consumer such as torch.load does pass: the audit lists them instead.
_CALLER_ERRORS = {
    case.data
    for case in test_hostile.CASES
    if case.id in {"PERSID without persistent_load", "BINPERSID without persistent_load", "NEXT_BUFFER without buffers"}
}


@pytest.mark.parametrize(("data", "policy", "limits"), [c[1:] for c in RAW], ids=[c[0] for c in RAW])
def test_loader_paths_and_audit_agree_on_the_hostile_corpus(data: bytes, policy: Policy, limits: Limits) -> None:
    kind, detail = _strict(data, policy, limits)
    fast = try_loads_at(data, policy, limits)[0]
    if kind != "value":
        assert fast is MISS, "the fast path returned what the strict engine refuses"
    report = audit(data, policy=policy, limits=limits)
    if kind == "refused" and detail[1] != "validation":
        # refused by the audit too, or reported as what only the load decides
        deferred = {(use.name, capability) for use in report.globals for capability in use.at_load}
        assert not report.safe or detail in deferred, f"the loader refuses {detail}, the audit calls it safe"
    elif kind == "value":
        assert report.safe, report
    elif data in _CALLER_ERRORS:
        assert report.error is None  # the audit lists the persistent id or buffer
    elif issubclass(detail, MalformedPickleError):
        assert report.error is not None or not report.safe
    else:
        assert issubclass(detail, LimitExceededError)


BENIGN: list[tuple[str, object, str]] = [
    ("dict", {"a": [1, 2.0, 3 + 4j], "b": ("x", b"y"), "c": {None, True}}, "default"),
    ("bytearray and sets", [bytearray(b"ab"), frozenset({1}), set(), range(3), slice(1, 2)], "default"),
    ("datetime", datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC), "stdlib"),
    ("decimal and fraction", [decimal.Decimal("1.5"), fractions.Fraction(1, 3)], "stdlib"),
    ("uuid", uuid.UUID(int=7), "stdlib"),
    ("collections", [OrderedDict(a=1), defaultdict(list, b=[1]), deque([1, 2], 5)], "stdlib"),
]


def _ml_benign() -> list[tuple[str, object, str]]:
    out: list[tuple[str, object, str]] = []
    try:
        import numpy as np
    except ImportError:
        return out
    out.append(("numpy arrays", [np.arange(5.0), np.array(["a", "bc"]), np.float32(2)], "numpy"))
    out.append(("numpy generator", np.random.default_rng(3), "numpy"))
    out.append(("numpy legacy RandomState", np.random.RandomState(4), "numpy"))  # BUILD on a constructor's result
    try:
        import pandas as pd

        out.append(("pandas frame", pd.DataFrame({0: [1, 2], 1: [0.5, 1.5]}), "pandas"))
    except ImportError:
        pass
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.tree import DecisionTreeClassifier

        x, y = np.arange(40.0).reshape(20, 2), [0, 1] * 10
        out.append(("sklearn tree", DecisionTreeClassifier(random_state=0).fit(x, y), "sklearn"))
        out.append(("sklearn linear", LogisticRegression().fit(x, y), "sklearn"))
        out.extend(_sklearn_compositions(np))
    except ImportError:
        pass
    return out


def _sklearn_compositions(np: Any) -> list[tuple[str, object, str]]:
    """Files that need the Cython unpickler, a partial, scorers and vocabularies."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, KFold

    x, y3 = np.random.RandomState(0).rand(30, 3), np.arange(30) % 3
    frame = pd.DataFrame({"a": x[:, 0], "c": pd.Categorical(["p", "q", "r"] * 10)})
    search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, scoring="neg_mean_absolute_error", cv=KFold(3))
    return [
        ("sklearn multiclass boosting", HistGradientBoostingClassifier(max_iter=2).fit(x, y3), "sklearn"),
        (
            "sklearn boosting on categoricals",
            HistGradientBoostingClassifier(max_iter=2, categorical_features="from_dtype").fit(frame, y3),
            "sklearn",
        ),
        ("sklearn search with a scorer", search.fit(x, x[:, 0]), "sklearn"),
        ("sklearn vectorizer", CountVectorizer().fit(["a cat", "the dog"]), "sklearn"),
    ]


OBJECTS = BENIGN + _ml_benign()


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize(("value", "policy"), [o[1:] for o in OBJECTS], ids=[o[0] for o in OBJECTS])
def test_loader_audit_and_pickler_agree_on_real_objects(value: object, policy: str, protocol: int) -> None:
    data = pickle.dumps(value, protocol)
    pol = Policy.named(policy)
    kind, _ = _strict(data, pol, Limits())
    report = audit(data, policy=pol)
    try:
        ours = picklefence.dumps(value, protocol, policy=pol)
    except picklefence.PicklingError:
        dumped = False
    else:
        dumped = True
        assert ours == data
    assert (kind == "value", report.safe, dumped) == (True, True, True), (kind, report)
