"""xgboost under its opt-in policy (G8): a Booster's pickled model (UBJSON bytes that
``__setstate__`` hands to xgboost's C++ parser) is read and checked before the parser
sees it; forged models are refused at BUILD, naming ``Booster``; real models load and
predict as pickle's do.

Each forged model starts from a real Booster's own bytes, read with picklefence's UBJSON
reader, edited, and written back in the same typed layout.  The hostile rows run in
subprocesses (tests/_state_rows.py); the controls show plain pickle crashing where the
forged index is used.  Skipped where xgboost is not installed.
"""

from __future__ import annotations

import copy
import copyreg
import io
import pickle
import struct
import sys
from array import array
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

import picklefence
from picklefence import _ubjson
from picklefence._validators import _xgboost

from ._state_rows import Forged, Row, row_tests

np = pytest.importorskip("numpy")
xgb = pytest.importorskip("xgboost")

POLICY = "xgboost"
MODULE = __name__
_BOOSTER = "xgboost.core:Booster"
_NEWOBJ = copyreg.__newobj__  # type: ignore[attr-defined]
X = np.random.RandomState(0).rand(40, 4)
Y3 = (X[:, 0] * 3).astype(int)


@cache
def _fitted(kind: str) -> Any:
    params: dict[str, Any] = {"n_estimators": 2, "max_depth": 2, "n_jobs": 1}
    if kind == "multi":
        return xgb.XGBClassifier(**params).fit(X, Y3)
    if kind == "dart":
        return xgb.XGBClassifier(booster="dart", **params).fit(X, Y3)
    if kind == "linear":
        return xgb.XGBRegressor(booster="gblinear", n_estimators=2, n_jobs=1).fit(X, X[:, 0])
    if kind == "categorical":
        import pandas as pd

        frame = pd.DataFrame({"a": pd.Categorical(Y3), "b": X[:, 1]})
        return xgb.XGBRegressor(enable_categorical=True, tree_method="hist", **params).fit(frame, X[:, 0])
    raise KeyError(kind)


def _doc(kind: str = "multi") -> Any:
    return _ubjson.parse(_fitted(kind).get_booster().__getstate__()["handle"])


# -- writing UBJSON back, in the layout xgboost writes --------------------------------------


def _length(n: int) -> bytes:
    return b"L" + struct.pack(">q", n)


def encode(value: Any) -> bytes:
    if isinstance(value, dict):
        return b"{" + b"".join(_length(len(k.encode())) + k.encode() + encode(v) for k, v in value.items()) + b"}"
    if isinstance(value, str):
        return b"S" + _length(len(value.encode())) + value.encode()
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if value is None:
        return b"Z"
    if isinstance(value, int):
        return b"i" + struct.pack(">b", value) if -128 <= value < 128 else b"L" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"d" + struct.pack(">f", value)
    if isinstance(value, array):
        items = array(value.typecode, value)
        if sys.byteorder == "little" and items.itemsize > 1:
            items.byteswap()
        return b"[$" + _ubjson.TYPED[value.typecode].encode() + b"#" + _length(len(value)) + items.tobytes()
    if isinstance(value, list):
        return b"[#" + _length(len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(type(value))


def booster_pickle(handle: object) -> bytes:
    """A Booster's pickle (NEWOBJ + BUILD) with the given handle."""
    return pickle.dumps(Forged(_NEWOBJ, (xgb.Booster,), {"handle": handle}), protocol=4)


def forged(edit: Callable[[Any], object], kind: str = "multi") -> Callable[[], bytes]:
    def forge() -> bytes:
        doc = copy.deepcopy(_doc(kind))
        edit(doc)
        return booster_pickle(bytearray(encode(doc)))

    return forge


def _model(doc: Any) -> Any:
    return doc["Model"]["learner"]["gradient_booster"]["model"]


def _tree(doc: Any) -> Any:
    return _model(doc)["trees"][0]


def _set(path: Callable[[Any], Any], key: Any, value: Any) -> Callable[[Any], object]:
    return lambda doc: path(doc).__setitem__(key, value)


def _array(key: str, index: int, value: int) -> Callable[[Any], object]:
    return lambda doc: _tree(doc)[key].__setitem__(index, value)


def _use(booster: Any) -> object:
    """The ordinary use: predictions of every kind, the text dump, re-pickling."""
    matrix = xgb.DMatrix(X)
    return [
        booster.predict(matrix),
        booster.inplace_predict(X),
        booster.predict(matrix, pred_contribs=True),
        booster.predict(matrix, pred_leaf=True),
        booster.get_dump(),
        pickle.loads(pickle.dumps(booster)),
    ]


def _bytes(data: bytes) -> Callable[[], bytes]:
    return lambda: booster_pickle(bytearray(data))


def _real_bytes() -> bytes:
    return bytes(_fitted("multi").get_booster().__getstate__()["handle"])


def _deep() -> bytes:
    return booster_pickle(bytearray(b"[" * 100_000 + b"]" * 100_000))


def _huge_count() -> bytes:
    return booster_pickle(bytearray(b"{" + _length(1) + b"a" + b"[$d#" + _length(1 << 40) + b"}"))


def _never_built() -> bytes:
    return pickle.dumps(Forged(_NEWOBJ, (xgb.Booster,)), protocol=4)


_CHECK = "does not pass the policy's state check"

#: (row, what model_problem says of its handle)
_TABLE: list[tuple[Row, str]] = [
    (
        Row("left-child-past", forged(_array("left_children", 0, 100_000)), _BOOSTER, _CHECK, "state", _use, "crash"),
        "child 100000, outside [0, 3)",
    ),
    (
        Row("left-child-negative", forged(_array("left_children", 0, -5)), _BOOSTER, _CHECK, "state", _use),
        "child -5",
    ),
    (
        Row("right-child-past", forged(_array("right_children", 0, 99)), _BOOSTER, _CHECK, "state", _use),
        "child 99",
    ),
    (
        Row("child-cycle", forged(_array("left_children", 0, 0)), _BOOSTER, _CHECK, "state", _use, "crash"),
        "is not a child of its parent",
    ),
    (
        Row(
            "split-feature-past",
            forged(_array("split_indices", 0, 1_000_000)),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
            "crash",
        ),
        "splits on feature 1000000",
    ),
    (
        Row("split-feature-negative", forged(_array("split_indices", 0, -7)), _BOOSTER, _CHECK, "state", _use),
        "splits on feature -7",
    ),
    (
        Row(
            "tree-info-past",
            forged(_set(_model, "tree_info", [0, 1, 2, 0, 1, 100_000_000])),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
            "crash",
        ),
        "output 100000000 of 3",
    ),
    (
        Row(
            "tree-info-negative",
            forged(_set(_model, "tree_info", [-1, 1, 2, 0, 1, 2])),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
        ),
        "output -1 of 3",
    ),
    (
        Row(
            "leaf-vector",
            forged(lambda d: _tree(d)["tree_param"].__setitem__("size_leaf_vector", "7")),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
            "crash",
        ),
        "multi-target tree",
    ),
    (
        Row("parent-forged", forged(_array("parents", 1, 99_999)), _BOOSTER, _CHECK, "state", _use),
        "is not a child of its parent",
    ),
    (
        Row(
            "tree-features",
            forged(lambda d: _tree(d)["tree_param"].__setitem__("num_feature", "100")),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
        ),
        "reads other features",
    ),
    (
        Row("arrays-short", forged(lambda d: _tree(d)["left_children"].pop()), _BOOSTER, _CHECK, "state", _use),
        "has 2 entries, not 3",
    ),
    (
        Row(
            "num-trees",
            forged(lambda d: _model(d)["gbtree_model_param"].__setitem__("num_trees", "9")),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
        ),
        "does not hold num_trees trees",
    ),
    (
        Row("indptr", forged(_set(_model, "iteration_indptr", [0, 3, 9])), _BOOSTER, _CHECK, "state", _use),
        "iteration_indptr",
    ),
    (
        Row(
            "threads",
            forged(lambda d: d["Config"]["learner"]["generic_param"].__setitem__("nthread", "100000")),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
        ),
        "nthread is 100000",
    ),
    (
        Row(
            "booster-name",
            forged(lambda d: d["Model"]["learner"]["gradient_booster"].__setitem__("name", "x")),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
        ),
        "unknown booster 'x'",
    ),
    (
        Row(
            "dart-weights",
            forged(lambda d: d["Model"]["learner"]["gradient_booster"]["weight_drop"].pop(), "dart"),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
        ),
        "5 tree weights for 6 trees",
    ),
    (
        Row(
            "linear-weights",
            forged(lambda d: d["Model"]["learner"]["gradient_booster"]["model"]["weights"].pop(), "linear"),
            _BOOSTER,
            _CHECK,
            "state",
            _use,
        ),
        "4 weights, not 5",
    ),
    (Row("categorical", forged(lambda d: None, "categorical"), _BOOSTER, _CHECK, "state", _use), "not checked"),
    (
        Row("truncated", lambda: booster_pickle(bytearray(_real_bytes()[:-40])), _BOOSTER, _CHECK, "state", _use),
        "reaches past the end",
    ),
    (
        Row("trailing", lambda: booster_pickle(bytearray(_real_bytes() + b"}")), _BOOSTER, _CHECK, "state", _use),
        "trailing bytes",
    ),
    (Row("deep", _deep, _BOOSTER, _CHECK, "state", _use), "nested deeper than 64"),
    (Row("huge-count", _huge_count, _BOOSTER, _CHECK, "state", _use), "reaches past the end"),
    (Row("json-text", _bytes(b'{"Config": {}, "Model": {}}'), _BOOSTER, _CHECK, "state", _use), "not UBJSON"),
    (Row("handle-bytes", lambda: booster_pickle(_real_bytes()), _BOOSTER, _CHECK, "state", _use), "not a bytearray"),
    (Row("handle-none", lambda: booster_pickle(None), _BOOSTER, _CHECK, "state", _use), "not a bytearray"),
]
ROWS = [row for row, _ in _TABLE] + [
    Row("never-built", _never_built, _BOOSTER, "never received its model", use=_use),
]


_outcomes, test_forged_model_is_refused_naming_the_booster, test_control_plain_pickle_really_crashes = row_tests(MODULE)


@pytest.mark.parametrize(("row", "words"), _TABLE, ids=[row.id for row, _ in _TABLE])
def test_the_check_says_which_invariant_breaks(row: Row, words: str) -> None:
    handle = _handle_of(row.forge())
    assert words in (_xgboost.model_problem(handle) or ""), _xgboost.model_problem(handle)


def _handle_of(data: bytes) -> object:
    """The handle a forged pickle would BUILD, read back without xgboost's parser."""

    class Capture(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) == ("xgboost.core", "Booster"):
                return _Holder
            return super().find_class(module, name)

    return Capture(io.BytesIO(data)).load().state["handle"]


class _Holder:
    def __setstate__(self, state: Any) -> None:
        self.state = state


# -- real models ----------------------------------------------------------------------------


@cache
def _models() -> dict[str, Any]:
    ranker = xgb.XGBRanker(n_estimators=2, max_depth=2, n_jobs=1).fit(X, Y3, qid=np.repeat([0, 1], 20))
    return {
        "classifier": _fitted("multi"),
        "binary": xgb.XGBClassifier(n_estimators=2, max_depth=2, n_jobs=1).fit(X, Y3 > 0),
        "regressor": xgb.XGBRegressor(n_estimators=2, n_jobs=1).fit(X, X[:, 0]),
        "dart": _fitted("dart"),
        "linear": _fitted("linear"),
        "ranker": ranker,
        "rf": xgb.XGBRFRegressor(n_estimators=3, n_jobs=1).fit(X, X[:, 0]),
    }


@pytest.mark.parametrize("proto", [2, 5])
def test_real_models_load_and_predict_like_pickle(proto: int) -> None:
    for name, model in _models().items():
        data = pickle.dumps(model, proto)
        ours, theirs = picklefence.loads(data, policy=POLICY), pickle.loads(data)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X), err_msg=name)
        booster = pickle.dumps(model.get_booster(), proto)
        ours, theirs = picklefence.loads(booster, policy=POLICY), pickle.loads(booster)
        matrix = xgb.DMatrix(X)
        np.testing.assert_array_equal(ours.predict(matrix), theirs.predict(matrix), err_msg=name)
        assert _xgboost.model_problem(model.get_booster().__getstate__()["handle"]) is None


def test_scan_suggests_the_opt_in_policy_only_where_it_is_needed(tmp_path: Any) -> None:
    from picklefence._scan import scan_path

    (tmp_path / "model.pkl").write_bytes(pickle.dumps(_models()["classifier"], 5))
    (tmp_path / "array.pkl").write_bytes(pickle.dumps(np.arange(3), 5))
    assert scan_path(tmp_path / "model.pkl")["pickles"][0]["allowed_by"] == ["xgboost"]
    assert "xgboost" not in scan_path(tmp_path / "array.pkl")["pickles"][0]["allowed_by"]
