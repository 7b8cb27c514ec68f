"""LightGBM under its opt-in policy (G8): a Booster's pickled model text (which
``__setstate__`` hands to LightGBM's C++ parser) is read and checked before the parser
sees it; forged models are refused at BUILD, naming ``Booster``; real models load and
predict as pickle's do.

Each forged model is a real Booster's own text with one field edited and ``tree_sizes``
recomputed (so that only the edited invariant breaks).  The hostile rows run in
subprocesses (tests/_state_rows.py); the controls show plain pickle crashing or aborting.
Skipped where LightGBM is not installed.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

import picklefence
from picklefence._validators import _lightgbm

from ._state_rows import Forged, Row, row_tests

np = pytest.importorskip("numpy")
lgb = pytest.importorskip("lightgbm")

POLICY = "lightgbm"
MODULE = __name__
_BOOSTER = "lightgbm.basic:Booster"
_CHECK = "does not pass the policy's state check"
_NEWOBJ = copyreg.__newobj__  # type: ignore[attr-defined]
X = np.random.RandomState(0).rand(60, 4)
Y3 = (X[:, 0] * 3).astype(int)


@cache
def _classifier() -> Any:
    return lgb.LGBMClassifier(n_estimators=2, num_leaves=4, verbose=-1, n_jobs=1).fit(X, Y3)


def _text() -> str:
    return str(_classifier().booster_.model_to_string())


def _resized(text: str) -> str:
    """``text`` with ``tree_sizes`` that fall on its tree blocks again."""
    start, end = text.index("Tree=0\n"), text.index("end of trees")
    blocks = [b for b in re.split(r"(?=^Tree=\d+\n)", text[start:end], flags=re.M) if b]
    sizes = " ".join(str(len(b)) for b in blocks)
    return re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", text, count=1, flags=re.M)


def booster_pickle(text: object, **more: Any) -> bytes:
    """A Booster's pickle (NEWOBJ + BUILD) with the real state and the given model."""
    state = {**_classifier().booster_.__getstate__(), "_handle": text, **more}
    return pickle.dumps(Forged(_NEWOBJ, (lgb.Booster,), state), protocol=4)


def in_tree(key: str, value: str) -> Callable[[], bytes]:
    """Tree 0's ``key`` set to ``value``."""

    def forge() -> bytes:
        head, sep, rest = _text().partition("Tree=0\n")
        block, sep2, tail = rest.partition("\n\n")
        block = re.sub(rf"^{key}=.*$", f"{key}={value}", block, flags=re.M)
        return booster_pickle(_resized(head + sep + block + sep2 + tail))

    return forge


def in_header(key: str, value: str) -> Callable[[], bytes]:
    return lambda: booster_pickle(re.sub(rf"^{key}=.*$", f"{key}={value}", _text(), count=1, flags=re.M))


def edited(edit: Callable[[str], str]) -> Callable[[], bytes]:
    return lambda: booster_pickle(edit(_text()))


def _never_built() -> bytes:
    return pickle.dumps(Forged(_NEWOBJ, (lgb.Booster,)), protocol=4)


def _use(booster: Any) -> object:
    """The ordinary use: predictions of every kind, the dump, importances, re-pickling."""
    return [
        booster.predict(X),
        booster.predict(X, pred_contrib=True),
        booster.predict(X, pred_leaf=True),
        booster.dump_model(),
        booster.feature_importance(),
        pickle.loads(pickle.dumps(booster)),
    ]


_S = (_BOOSTER, _CHECK, "state", _use)
# (trees-per-iteration and objective-classes corrupt the heap: pickle's process aborts in
# most runs, not all, so they have no control)
#: (row, what model_problem says of its model)
_TABLE: list[tuple[Row, str]] = [
    (Row("split-feature-past", in_tree("split_feature", "1000000"), *_S, "crash"), "splits on feature 1000000"),
    (Row("split-feature-negative", in_tree("split_feature", "-5"), *_S), "splits on feature -5"),
    # (plain pickle then walks memory past the tree: a crash, or an endless walk, by what
    # lies there, so no control)
    (Row("child-past", in_tree("left_child", "100000"), *_S), "child 100000, outside [0, 1)"),
    (Row("leaf-past", in_tree("left_child", "-100000"), *_S), "leaf 99999, outside [0, 2)"),
    (Row("child-cycle", in_tree("left_child", "0"), *_S), "node 0 is reached twice"),
    (Row("leaf-twice", in_tree("right_child", "-1"), *_S), "leaf 0 is reached twice"),
    (Row("categorical-no-sets", in_tree("decision_type", "1"), *_S, "crash"), "threshold is not an integer"),
    (Row("decision-type", in_tree("decision_type", "99"), *_S), "decision type 99"),
    (Row("leaves-short", in_tree("leaf_value", "0.5"), *_S), "leaf_value has 1 entries, not 2"),
    (Row("linear", in_tree("is_linear", "1"), *_S), "linear tree"),
    (Row("num-cat", in_tree("num_cat", "1"), *_S), "cat_boundaries has 0 entries"),
    (Row("trees-per-iteration", in_header("num_tree_per_iteration", "5"), *_S), "is not num_class 3"),
    (Row("objective-classes", in_header("objective", "multiclass num_class:9"), *_S), "objective's"),
    (Row("num-class", in_header("num_class", "7"), *_S), "num_tree_per_iteration 3 is not num_class 7"),
    (Row("tree-sizes", in_header("tree_sizes", "3 345 346 357 358 358"), *_S, "crash"), "does not start with"),
    (Row("tree-sizes-missing", in_header("tree_sizes", ""), *_S), "tree_sizes is not an integer"),
    (Row("tree-sizes-short", in_header("tree_sizes", "346"), *_S), "not whole iterations"),
    (Row("nul", edited(lambda t: t.replace("Tree=1\n", "Tree=1\n\0", 1)), *_S, "crash"), "plain ASCII"),
    (Row("crlf", edited(lambda t: t.replace("\n", "\r\n")), *_S), "plain ASCII"),
    (Row("plus-sign", in_tree("split_feature", "+0"), *_S), "not an integer: '+0'"),
    (
        Row("duplicate-key", edited(lambda t: t.replace("num_class=3\n", "num_class=3\nnum_class=1\n")), *_S),
        "gives num_class twice",
    ),
    (Row("no-trees", edited(lambda t: t[: t.index("Tree=0")]), *_S), "has no trees"),
    (Row("not-text", lambda: booster_pickle(_text().encode()), *_S), "not text"),
    (Row("other-key", lambda: booster_pickle(None, handle=_text()), *_S), ""),
]
ROWS = [row for row, _ in _TABLE] + [
    Row("never-built", _never_built, _BOOSTER, "never received its model", use=_use),
]


_outcomes, test_forged_model_is_refused_naming_the_booster, test_control_plain_pickle_really_crashes = row_tests(MODULE)


class _Holder:
    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Capture(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return _Holder if (module, name) == ("lightgbm.basic", "Booster") else super().find_class(module, name)


@pytest.mark.parametrize(("row", "words"), _TABLE, ids=[row.id for row, _ in _TABLE])
def test_the_check_says_which_invariant_breaks(row: Row, words: str) -> None:
    text = _Capture(io.BytesIO(row.forge())).load().state["_handle"]
    problem = _lightgbm.model_problem(text) if text is not None else "None"
    assert words in (problem or ""), problem


# -- real models ----------------------------------------------------------------------------


@cache
def _models() -> dict[str, Any]:
    import pandas as pd

    rng = np.random.RandomState(1)
    frame = pd.DataFrame({"a": pd.Categorical(rng.randint(0, 5, 200)), "b": rng.rand(200)})
    target = (frame["a"].cat.codes.isin([1, 3]) * 5.0 + frame["b"]).to_numpy()
    small = {"n_estimators": 3, "verbose": -1, "n_jobs": 1}
    return {
        "multiclass": (_classifier(), X),
        "binary": (lgb.LGBMClassifier(**small).fit(X, Y3 > 0), X),
        "regressor": (lgb.LGBMRegressor(**small).fit(X, X[:, 1]), X),
        "categorical": (
            lgb.LGBMRegressor(min_child_samples=5, min_data_per_group=5, **small).fit(frame, target),
            frame,
        ),
        "ranker": (lgb.LGBMRanker(min_child_samples=2, **small).fit(X, Y3, group=[20, 20, 20]), X),
        "one-leaf": (lgb.LGBMRegressor(min_child_samples=100, **small).fit(X, X[:, 0]), X),
        "rf": (lgb.LGBMRegressor(boosting_type="rf", subsample=0.5, subsample_freq=1, **small).fit(X, X[:, 0]), X),
    }


@pytest.mark.parametrize("proto", [2, 5])
def test_real_models_load_and_predict_like_pickle(proto: int) -> None:
    for name, (model, data) in _models().items():
        dumped = pickle.dumps(model, proto)
        ours, theirs = picklefence.loads(dumped, policy=POLICY), pickle.loads(dumped)
        np.testing.assert_array_equal(ours.predict(data), theirs.predict(data), err_msg=name)
        booster = pickle.dumps(model.booster_, proto)
        ours, theirs = picklefence.loads(booster, policy=POLICY), pickle.loads(booster)
        np.testing.assert_array_equal(ours.predict(data), theirs.predict(data), err_msg=name)
        assert _lightgbm.model_problem(model.booster_.__getstate__()["_handle"]) is None, name
