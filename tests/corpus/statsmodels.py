"""statsmodels results, under the opt-in ``policy="statsmodels"``: linear, generalized
linear and discrete models fitted on numpy data (one on a pandas frame), compared by
their parameters and predictions.  The results wrappers (what ``fit`` returns) and GLMs whose variance
function is a shared module-level instance are refused for now: both pickle a
``__doc__`` state key."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from . import Artifact

_FORMATS = ("p2", "p5", "joblib")


def _data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.RandomState(0)
    x = np.column_stack([np.ones(40), rng.rand(40, 2)])
    return x, x @ [1.0, 2.0, 3.0] + rng.rand(40)


def _same(expected: Any, got: Any) -> None:
    """The same class, parameters, covariance and predictions."""
    import numpy as np

    assert type(expected) is type(got)
    x, _ = _data()
    np.testing.assert_array_equal(expected.params, got.params)
    np.testing.assert_array_equal(expected.cov_params(), got.cov_params())
    np.testing.assert_array_equal(expected.predict(x), got.predict(x))


def _fit(kind: str, wrapped: bool) -> Callable[[], Any]:
    def make() -> Any:
        import numpy as np
        import pandas as pd
        import statsmodels.api as sm

        x, y = _data()
        binary, counts = (y > np.median(y)).astype(float), np.round(y).astype(float)
        models = {
            "ols": lambda: sm.OLS(y, x).fit(),
            "ols-hc1": lambda: sm.OLS(y, x).fit(cov_type="HC1"),
            "wls": lambda: sm.WLS(y, x, weights=np.arange(1.0, 41.0)).fit(),
            "gls": lambda: sm.GLS(y, x).fit(),
            "glm-gaussian": lambda: sm.GLM(y, x).fit(),
            "glm-binomial": lambda: sm.GLM(binary, x, family=sm.families.Binomial()).fit(),
            "glm-poisson": lambda: sm.GLM(counts, x, family=sm.families.Poisson()).fit(),
            "glm-gamma": lambda: sm.GLM(y, x, family=sm.families.Gamma(sm.families.links.Log())).fit(),
            "logit": lambda: sm.Logit(binary, x).fit(disp=0),
            "probit": lambda: sm.Probit(binary, x).fit(disp=0),
            "poisson": lambda: sm.Poisson(counts, x).fit(disp=0),
            "mnlogit": lambda: sm.MNLogit(np.digitize(y, np.quantile(y, [0.33, 0.66])), x).fit(disp=0),
            "ols-pandas": lambda: sm.OLS(pd.Series(y, name="y"), pd.DataFrame(x, columns=["c", "a", "b"])).fit(),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = models[kind]()
        return results if wrapped else results._results

    return make


def artifacts() -> Iterator[Artifact]:
    if importlib.util.find_spec("statsmodels") is None:
        return
    kinds = ["ols", "ols-hc1", "wls", "gls", "glm-gaussian", "glm-binomial", "glm-poisson", "glm-gamma", "logit"]
    kinds += ["probit", "poisson", "mnlogit", "ols-pandas"]
    for kind in kinds:
        yield Artifact(f"statsmodels/{kind}", _fit(kind, False), "statsmodels", _FORMATS, _same)
    # (a results wrapper, and the shared variance functions of three GLM families, pickle
    # an inert __doc__ state key: a str, which BUILD lets through)
    yield Artifact("statsmodels/ols-wrapper", _fit("ols", True), "statsmodels", _FORMATS, _same)
