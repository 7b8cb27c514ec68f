"""LightGBM models, under the opt-in ``policy="lightgbm"``: the scikit-learn wrappers and
bare Boosters, compared by their predictions."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

from . import Artifact, assert_same

_FORMATS = ("p2", "p5", "joblib")


def _data() -> tuple[Any, Any]:
    import numpy as np

    x = np.random.RandomState(0).rand(60, 4)
    return x, (x[:, 0] * 3).astype(int)


def _same(expected: Any, got: Any) -> None:
    """The same class and parameters, the same model text, the same predictions."""
    import lightgbm as lgb
    import numpy as np

    assert type(expected) is type(got)
    x, _ = _data()
    booster = expected if isinstance(expected, lgb.Booster) else expected.booster_
    other = got if isinstance(got, lgb.Booster) else got.booster_
    assert booster.model_to_string() == other.model_to_string()
    if not isinstance(expected, lgb.Booster):
        assert_same(expected.get_params(), got.get_params())
    np.testing.assert_array_equal(expected.predict(x), got.predict(x))


def _same_text(expected: Any, got: Any) -> None:
    """The same model text (what prediction reads) and pandas categories."""
    assert type(expected) is type(got)
    assert expected.model_to_string() == got.model_to_string()
    assert expected.pandas_categorical == got.pandas_categorical


def _fitted(name: str, **params: Any) -> Callable[[], Any]:
    def make() -> Any:
        import lightgbm as lgb

        x, y = _data()
        model = getattr(lgb, name)(n_estimators=3, verbose=-1, n_jobs=1, **params)
        if name == "LGBMRanker":
            return model.fit(x, y, group=[20, 20, 20])
        return model.fit(x, y if name == "LGBMClassifier" else x[:, 0])

    return make


def _categorical() -> Any:
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    rng = np.random.RandomState(1)
    frame = pd.DataFrame({0: pd.Categorical(rng.randint(0, 5, 200)), 1: rng.rand(200)})
    target = (frame[0].cat.codes.isin([1, 3]) * 5.0 + frame[1]).to_numpy()
    model = lgb.LGBMRegressor(n_estimators=3, verbose=-1, n_jobs=1, min_child_samples=5, min_data_per_group=5)
    return model.fit(frame, target).booster_


def artifacts() -> Iterator[Artifact]:
    if importlib.util.find_spec("lightgbm") is None:
        return
    models = {
        "classifier": ("LGBMClassifier", {"num_leaves": 4}),
        "regressor": ("LGBMRegressor", {}),
        "ranker": ("LGBMRanker", {"min_child_samples": 2}),
        "random-forest": ("LGBMRegressor", {"boosting_type": "rf", "subsample": 0.5, "subsample_freq": 1}),
        "dart": ("LGBMClassifier", {"boosting_type": "dart"}),
    }
    for label, (name, params) in models.items():
        yield Artifact(f"lightgbm/{label}", _fitted(name, **params), "lightgbm", _FORMATS, _same)
    yield Artifact("lightgbm/booster", lambda: _fitted("LGBMRegressor")().booster_, "lightgbm", _FORMATS, _same)
    yield Artifact("lightgbm/booster-categorical", _categorical, "lightgbm", _FORMATS, _same_text)
