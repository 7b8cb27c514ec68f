"""``picklefence policy generate``: the draft it writes for a package made here (every
kind of class, exactly), and for the installed scikit-learn against the shipped policy."""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import picklefence
from picklefence import Policy, PolicyViolation
from picklefence._generate import classify, generate, to_toml
from picklefence._toml import _render_signature

from ._drafts import SRC, by_name, draft

PACKAGE = {
    "__init__.py": "",
    "__main__.py": "raise SystemExit('the generator ran the package as a program')\n",
    "broken.py": "raise ImportError('broken on purpose')\n",
    "tests/__init__.py": "raise RuntimeError('the generator imported the tests')\n",
    "models.py": """
        import abc
        import array
        import enum
        import typing


        class Plain:
            def __init__(self, size=1):
                self.size = size

            def __eq__(self, other):
                return type(other) is Plain and other.size == self.size


        class Reduced:
            def __reduce__(self):
                return (Reduced, ())


        class Hook:
            def __init__(self, func=len):
                self.func = func


        class Raw(array.array):
            pass


        class Base(abc.ABC):
            @abc.abstractmethod
            def run(self): ...


        class Color(enum.Enum):
            RED = "red"
            BLUE = "blue"


        class Oops(Exception):
            pass


        class Bag(dict):
            pass


        class Outer:
            class Inner:
                pass


        class Point(typing.NamedTuple):
            x: int
            y: int


        class __info__:
            pass


        def factory():
            class Local:
                pass

            return Local
    """,
}

KINDS = {
    "pfgen_pkg.models:Plain": "default",
    "pfgen_pkg.models:Reduced": "custom",
    "pfgen_pkg.models:Hook": "callables",
    "pfgen_pkg.models:Raw": "native",
    "pfgen_pkg.models:Base": "abstract",
    "pfgen_pkg.models:Color": "enum",
    "pfgen_pkg.models:Oops": "exception",
    "pfgen_pkg.models:Bag": "container",
    "pfgen_pkg.models:Outer": "default",
    "pfgen_pkg.models:Outer.Inner": "default",
    "pfgen_pkg.models:Point": "namedtuple",
}


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name, text in PACKAGE.items():
        path = tmp_path / "pfgen_pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in [m for m in sys.modules if m == "pfgen_pkg" or m.startswith("pfgen_pkg.")]:
        del sys.modules[name]


def test_each_kind_of_class_is_classified_exactly(package: Path) -> None:
    generated = generate(["pfgen_pkg"])
    assert {d.name: d.kind for d in generated.drafts} == KINDS
    assert generated.failures == (("pfgen_pkg.broken", "ImportError: broken on purpose"),)
    assert [name for name, _ in generated.skipped] == ["pfgen_pkg.models:__info__"]
    assert "rules never resolve dunder attributes" in generated.skipped[0][1]
    assert "pfgen_pkg.tests" not in sys.modules and "pfgen_pkg.__main__" not in sys.modules
    drafts = {d.name: d for d in generated.drafts}
    plain = drafts["pfgen_pkg.models:Plain"].rule
    assert plain is not None and plain.can == frozenset({"reference", "construct", "state"})
    assert [_render_signature(s, plain.name) for s in plain.signatures or ()] == ["{ args = [] }"]
    bag = drafts["pfgen_pkg.models:Bag"].rule
    assert bag is not None and bag.can == frozenset({"reference", "construct", "state", "items"})
    reviewed = {name for name, d in drafts.items() if d.review is not None}
    assert reviewed == {"pfgen_pkg.models:Reduced", "pfgen_pkg.models:Hook", "pfgen_pkg.models:Raw"}
    assert "(func)" in str(drafts["pfgen_pkg.models:Hook"].review)
    assert "Reduced.__reduce__" in str(drafts["pfgen_pkg.models:Reduced"].review)
    assert "(array:array, array.__reduce_ex__)" in drafts["pfgen_pkg.models:Raw"].why


def test_the_draft_loads_what_it_allows_and_nothing_it_marks_for_review(package: Path) -> None:
    text = to_toml(generate(["pfgen_pkg"]))
    assert text.count("# REVIEW") == 3
    assert "# NOT IMPORTED: pfgen_pkg.broken: ImportError: broken on purpose" in text
    assert "# NOT DRAFTED: pfgen_pkg.models:__info__: ValueError: " in text
    policy = Policy.from_toml(text) | Policy.named("default")
    assert policy.exclusion("pfgen_pkg.models", "Base") is not None
    models: Any = importlib.import_module("pfgen_pkg.models")
    values = (
        models.Plain(3),
        models.Color.BLUE,
        models.Bag(a=1),
        models.Point(1, 2),
        [models.Outer(), models.Outer.Inner()],
    )
    for value in values:
        loaded = picklefence.loads(pickle.dumps(value, 4), policy=policy)
        assert type(loaded) is type(value)
        if not isinstance(value, list):
            assert loaded == value
    oops = picklefence.loads(pickle.dumps(models.Oops("no"), 4), policy=policy)
    assert type(oops) is models.Oops and oops.args == ("no",)
    for value, name in [
        (models.Reduced(), "pfgen_pkg.models:Reduced"),
        (models.Hook(), "pfgen_pkg.models:Hook"),
        (models.Raw("b", b"ab"), "array:_array_reconstructor"),  # (which would then name Raw)
    ]:
        with pytest.raises(PolicyViolation) as info:
            picklefence.loads(pickle.dumps(value, 4), policy=policy)
        assert (info.value.name, info.value.capability) == (name, "reference")
        assert f"{type(value).__module__}:{type(value).__qualname__}" not in policy
    with pytest.raises(PolicyViolation, match="excludes it on purpose: abstract class"):
        picklefence.loads(pickle.dumps(models.Base, 4), policy=policy)


def test_an_ndarray_subclass_is_native_and_needs_numpy_s_rules() -> None:
    numpy = pytest.importorskip("numpy")
    grid = type("Grid", (numpy.ndarray,), {"__module__": __name__, "__qualname__": "Grid"})
    (found,) = classify(grid)
    assert (found.kind, found.name) == ("native", f"{__name__}:Grid")
    assert found.rule is not None and found.rule.can == frozenset({"reference", "state"})
    assert found.rule.signatures is None
    assert "_reconstruct" in str(found.review) and "numpy_ndarray_state" in str(found.review)


def test_the_command_writes_the_draft_and_reports_what_it_could_not_import(package: Path) -> None:
    out = package / "draft.toml"
    done = subprocess.run(
        [sys.executable, "-m", "picklefence", "policy", "generate", "pfgen_pkg", "-o", str(out)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{SRC}:{package}", "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "not imported: pfgen_pkg.broken: ImportError: broken on purpose" in done.stderr
    assert "not drafted: pfgen_pkg.models:__info__" in done.stderr
    assert "drafted 11 tables" in done.stderr and "3 are marked REVIEW" in done.stderr
    assert len(Policy.from_toml(out)) == 7
    to_stdout = subprocess.run(
        [sys.executable, "-m", "picklefence", "policy", "generate", "pfgen_pkg"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{SRC}:{package}", "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )
    assert to_stdout.stdout == out.read_text()
    missing = subprocess.run(
        [sys.executable, "-m", "picklefence", "policy", "generate", "pfgen_no_such_package"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )
    assert missing.returncode == 2 and "cannot import 'pfgen_no_such_package'" in missing.stderr


# -- scikit-learn ------------------------------------------------------------------------

SKLEARN = ("sklearn",)


@pytest.fixture(scope="module")
def sklearn_drafts() -> dict[str, dict[str, Any]]:
    pytest.importorskip("sklearn")
    return by_name(SKLEARN)


def _shipped_classes() -> list[picklefence.Rule]:
    rules = []
    for rule in Policy.named("sklearn"):
        if rule.module.split(".")[0] != "sklearn":
            continue
        obj: Any = importlib.import_module(rule.module)
        for part in rule.qualname.split("."):
            obj = getattr(obj, part)
        if isinstance(obj, type):
            rules.append(rule)
    return rules


def test_the_sklearn_draft_has_a_rule_for_every_class_the_shipped_policy_allows(
    sklearn_drafts: dict[str, dict[str, Any]],
) -> None:
    shipped = _shipped_classes()
    assert len(shipped) > 100
    missing = [r.name for r in shipped if sklearn_drafts.get(r.name, {}).get("can") is None]
    assert not missing, f"the generator drafts no rule for {missing}"
    for rule in shipped:
        found = sklearn_drafts[rule.name]
        if found["kind"] in ("default", "container", "callables"):
            # the shipped rule is the draft, or the draft plus what a person added with
            # its why (KFold is also called, by RepeatedKFold): never less than the draft
            assert set(found["can"]) <= set(rule.can or ()), rule.name
            if rule.signatures is not None and set(rule.can or ()) == set(found["can"]):
                shipped_signatures = [_render_signature(s, rule.name) for s in rule.signatures]
                assert all(s in shipped_signatures for s in found["signatures"]), rule.name


def test_the_sklearn_draft_marks_cython_and_callable_holding_classes_for_review(
    sklearn_drafts: dict[str, dict[str, Any]],
) -> None:
    expected = {
        "sklearn._loss._loss:CyHalfMultinomialLoss": ("cython", "__pyx_unpickle_CyHalfMultinomialLoss"),
        "sklearn._loss._loss:__pyx_unpickle_CyHalfMultinomialLoss": ("cython", "validator"),
        "sklearn.tree._tree:Tree": ("native", "validator"),
        "sklearn.neighbors._kd_tree:KDTree": ("native", "KDTree64"),
        "sklearn.preprocessing._function_transformer:FunctionTransformer": ("callables", "inverse_func"),
        "sklearn.feature_selection._univariate_selection:SelectKBest": ("callables", "(score_func)"),
        "sklearn.compose._target:TransformedTargetRegressor": ("callables", "inverse_func"),
    }
    for name, (kind, words) in expected.items():
        found = sklearn_drafts[name]
        assert found["kind"] == kind, name
        assert found["review"] is not None and words in found["review"] + found["why"], (name, found)
    for found in sklearn_drafts.values():
        assert (found["review"] is not None) == (found["kind"] in {"cython", "custom", "native", "callables"})
    counts: dict[str, int] = {}
    for found in sklearn_drafts.values():
        counts[found["kind"]] = counts.get(found["kind"], 0) + 1
    assert counts["cython"] >= 10 and counts["callables"] >= 30 and counts["default"] >= 300, counts


def test_the_sklearn_draft_parses_and_loads_a_fitted_estimator(sklearn_drafts: dict[str, dict[str, Any]]) -> None:
    import numpy as np
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    text = draft(*SKLEARN)["toml"]
    policy = Policy.from_toml(text)
    active = {name for name, d in sklearn_drafts.items() if d["can"] is not None and d["review"] is None}
    assert set(policy.rules) == active
    assert {f"{m}:{q}" for m, q in policy.exclusions} == {n for n, d in sklearn_drafts.items() if d["can"] is None}
    x = np.arange(12.0).reshape(4, 3)
    scaler = StandardScaler().fit(x)
    loaded = picklefence.loads(pickle.dumps(scaler, 5), policy=policy | Policy.named("numpy"))
    assert np.array_equal(loaded.transform(x), scaler.transform(x))
