"""scikit-learn estimators, under ``policy="sklearn"``: every estimator of
``all_estimators()`` built the way sklearn's own common tests build it and fitted on toy
data its tags accept, and the compositions users pickle (pipelines, searches, wrappers,
text pipelines).  Two copies are the same when their fitted attributes are and when
they give the same outputs on the same inputs."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

from . import Artifact, assert_same

FORMATS = ("p2", "p5", "joblib")

#: methods whose results the oracle's and the loaded copy's must agree on
_OUTPUTS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform", "score_samples")

_DOCS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "cats and dogs are friends",
    "a bird sang in the tree",
    "the tree fell on the dog",
    "birds and cats are not friends",
]


def _data(n_targets: int = 1) -> tuple[Any, Any, Any]:
    """30 samples of 4 positive features in 3 blobs; class labels and a real target."""
    import numpy as np
    from sklearn.datasets import make_blobs

    X, labels = make_blobs(n_samples=30, n_features=4, centers=3, random_state=0)
    X = X - X.min() + 0.1
    target = X @ np.array([1.0, 2.0, -1.0, 0.5]) + 0.1 * np.random.RandomState(0).randn(30)
    if n_targets > 1:
        return X, np.c_[labels, labels[::-1]], np.c_[target, target[::-1]]
    return X, labels, target


def _inputs(estimator: Any) -> tuple[Any, Any]:
    """(X, y) the estimator's tags accept, as sklearn's common tests shape them."""
    import numpy as np
    from sklearn.base import is_regressor
    from sklearn.utils import get_tags
    from sklearn.utils.estimator_checks import _enforce_estimator_tags_X, _enforce_estimator_tags_y

    tags = get_tags(estimator)
    multi = tags.target_tags.multi_output and not tags.target_tags.single_output
    X, labels, target = _data(2 if multi else 1)
    y = target if is_regressor(estimator) else labels
    if not multi:
        y = _enforce_estimator_tags_y(estimator, y)
    name = type(estimator).__name__
    if tags.input_tags.string and not tags.input_tags.two_d_array:
        return list(_DOCS * 5), labels
    if tags.input_tags.dict:
        return [{"a": float(row[0]), "b": float(row[1]), f"c{int(row[2])}": 1.0} for row in X], labels
    if tags.input_tags.three_d_array:
        return np.random.RandomState(0).rand(3, 8, 8), None
    if name in ("LabelEncoder", "LabelBinarizer"):
        return labels, None
    if name == "MultiLabelBinarizer":
        return [{1, 2}, {0}, {2, 3}, set()], None
    if name == "SparseCoder":
        return X[:, :3], labels
    return _enforce_estimator_tags_X(estimator, X), y


def _fitted(cls: type) -> Any:
    from sklearn.utils._test_common.instance_generator import _construct_instances

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = next(_construct_instances(cls))
        _set_random_state(estimator)
        X, y = _inputs(estimator)
        if y is None:
            estimator.fit(X)
        else:
            estimator.fit(X, y)
    return estimator


def _frozen() -> Any:
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression

    X, labels, _ = _data()
    return FrozenEstimator(LogisticRegression().fit(X, labels))


def _set_random_state(estimator: Any) -> None:
    from sklearn.utils._testing import set_random_state

    set_random_state(estimator, 0)


def _outputs(estimator: Any, X: Any) -> dict[str, Any]:
    """What each output method gives on ``X`` (the exception's type where it raises)."""
    found: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in _OUTPUTS:
            if not hasattr(estimator, method):
                continue
            try:
                result = getattr(estimator, method)(X)
            except Exception as exc:  # the oracle's refusal is an output too
                result = type(exc)
            found[method] = result.toarray() if hasattr(result, "toarray") else result
    return found


def same_on(inputs: Callable[[Any], Any]) -> Callable[[Any, Any], None]:
    """Same fitted attributes, and the same outputs on ``inputs(estimator)``."""

    def same(expected: Any, got: Any) -> None:
        assert_same(expected, got, type(expected).__name__)
        _same_outputs(expected, got, inputs(expected))

    return same


def _same_outputs(expected: Any, got: Any, X: Any) -> None:
    want, have = _outputs(expected, X), _outputs(got, X)
    assert list(want) == list(have), f"{type(expected).__name__}: methods {list(have)} != {list(want)}"
    for method in want:
        assert_same(want[method], have[method], f"{type(expected).__name__}.{method}")


def estimator(name: str, make: Callable[[], Any], inputs: Callable[[Any], Any]) -> Artifact:
    """An estimator artifact: written by pickle and joblib, compared on ``inputs``."""
    return Artifact(name, make, "sklearn", FORMATS, same=same_on(inputs), requires=("sklearn",))


def artifacts() -> Iterator[Artifact]:
    try:
        from sklearn.utils import all_estimators
    except ImportError:
        return
    for name, cls in all_estimators():
        if name == "FrozenEstimator":  # sklearn's common tests cannot build it alone
            yield estimator(f"sklearn/estimator/{name}", _frozen, lambda e: _data()[0])
            continue
        yield estimator(f"sklearn/estimator/{name}", lambda cls=cls: _fitted(cls), lambda e: _inputs(e)[0])
