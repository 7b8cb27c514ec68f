"""xgboost models, under the opt-in ``policy="xgboost"``: the scikit-learn wrappers and
bare Boosters of every booster kind, compared by their predictions."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

from . import Artifact, assert_same

_FORMATS = ("p2", "p5", "joblib")


def _data() -> tuple[Any, Any]:
    import numpy as np

    x = np.random.RandomState(0).rand(40, 4)
    return x, (x[:, 0] * 3).astype(int)


def _same(expected: Any, got: Any) -> None:
    """The same class and parameters, and the same predictions on the training rows."""
    import numpy as np
    import xgboost as xgb

    assert type(expected) is type(got)
    x, _ = _data()
    if isinstance(expected, xgb.Booster):
        matrix = xgb.DMatrix(x)
        np.testing.assert_array_equal(expected.predict(matrix), got.predict(matrix))
        assert expected.save_raw() == got.save_raw()
        return
    assert_same(expected.get_params(), got.get_params())
    np.testing.assert_array_equal(expected.predict(x), got.predict(x))


def _fitted(name: str, **params: Any) -> Callable[[], Any]:
    def make() -> Any:
        import xgboost as xgb

        x, y = _data()
        model = getattr(xgb, name)(n_estimators=2, n_jobs=1, **params)
        if name == "XGBRanker":
            return model.fit(x, y, qid=[0] * 20 + [1] * 20)
        return model.fit(x, y if "Classifier" in name or name == "XGBRanker" else x[:, 0])

    return make


def _booster(name: str, **params: Any) -> Callable[[], Any]:
    return lambda: _fitted(name, **params)().get_booster()


def artifacts() -> Iterator[Artifact]:
    if importlib.util.find_spec("xgboost") is None:
        return
    models = {
        "classifier": ("XGBClassifier", {"max_depth": 2}),
        "binary": ("XGBClassifier", {"max_depth": 2, "objective": "binary:logistic"}),
        "regressor": ("XGBRegressor", {}),
        "ranker": ("XGBRanker", {}),
        "rf-classifier": ("XGBRFClassifier", {}),
        "rf-regressor": ("XGBRFRegressor", {}),
        "dart": ("XGBClassifier", {"booster": "dart"}),
        "gblinear": ("XGBRegressor", {"booster": "gblinear"}),
    }
    for label, (name, params) in models.items():
        yield Artifact(f"xgboost/{label}", _fitted(name, **params), "xgboost", _FORMATS, _same)
    yield Artifact("xgboost/booster", _booster("XGBRegressor"), "xgboost", _FORMATS, _same)
    yield Artifact("xgboost/booster-multiclass", _booster("XGBClassifier"), "xgboost", _FORMATS, _same)
