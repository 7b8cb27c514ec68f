"""statsmodels under its opt-in policy: results of linear, generalized linear and
discrete models carry no native state, so they have no validator; forged shapes in them
reach numpy, which refuses them with a Python error rather than reading out of bounds.
Time-series results, whose pickles carry Cython state-space objects, are refused.
Skipped where statsmodels is not installed."""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import pytest

import picklefence

np = pytest.importorskip("numpy")
sm = pytest.importorskip("statsmodels.api")

warnings.filterwarnings("ignore", module="statsmodels")

RNG = np.random.RandomState(0)
X = np.column_stack([np.ones(30), RNG.rand(30, 2)])
Y = X @ [1.0, 2.0, 3.0] + RNG.rand(30)


def _forged(edit: Any) -> Any:
    results = sm.OLS(Y, X).fit()._results
    edit(results)
    return picklefence.loads(pickle.dumps(results, 5), policy="statsmodels")


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: setattr(r, "params", np.ones(50)),
        lambda r: setattr(r, "normalized_cov_params", np.ones((1, 7))),
        lambda r: setattr(r.model, "exog", np.ones((3, 9))),
    ],
    ids=["params-long", "cov-shape", "exog-shape"],
)
def test_forged_shapes_are_python_errors(edit: Any) -> None:
    results = _forged(edit)
    with pytest.raises((ValueError, IndexError)):
        results.predict(X)
        results.bse  # noqa: B018
        results.summary()


def test_state_space_results_are_refused() -> None:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    results = SARIMAX(np.cumsum(RNG.randn(40)), order=(1, 0, 0)).fit(disp=0)
    with pytest.raises(picklefence.PolicyViolation) as info:
        picklefence.loads(pickle.dumps(results, 5), policy="statsmodels")
    assert info.value.name.startswith("statsmodels.tsa.")
