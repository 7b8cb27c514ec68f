"""scikit-learn compositions, under ``policy="sklearn"``: what users fit and pickle —
pipelines, column transformers with selectors, searches with scorers and splitters,
calibration, multiclass and multioutput wrappers, stacking and voting, univariate
selection with each score function, functions by reference, text pipelines, frozen
estimators, the experimental estimators (iterative imputer, halving searches), and
histogram gradient boosting on pandas categoricals (which pickles a ``functools.partial``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

from . import Artifact
from .sklearn import _DOCS, _data, estimator

Make = Callable[[], tuple[Any, Any]]


def _fit(model: Any, X: Any, y: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


def _frame() -> Any:
    import pandas as pd

    X = _data()[0]
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["colour"] = pd.Categorical(["red", "green", "blue"] * 10)
    frame["size"] = ["s", "m", "l", "xl", "m", "s"] * 5
    return frame


def _compositions() -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (make the fitted model, the inputs its outputs are compared on)."""
    import numpy as np
    from sklearn import (
        calibration,
        compose,
        ensemble,
        feature_extraction,
        feature_selection,
        frozen,
        metrics,
        model_selection,
        multiclass,
        multioutput,
        naive_bayes,
        neural_network,
        pipeline,
        svm,
        tree,
    )
    from sklearn import linear_model as lm
    from sklearn import preprocessing as pp

    X, labels, target = _data()
    _, labels2, target2 = _data(2)
    docs, doc_labels = _DOCS * 5, [0, 1, 0, 1, 1, 0] * 5
    frame = _frame()

    def on(X_: Any) -> Callable[[], Any]:
        return lambda: X_

    def clf(model: Any, y: Any = labels) -> tuple[Callable[[], Any], Callable[[], Any]]:
        return (lambda: _fit(model, X, y)), on(X)

    made: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {}
    made["pipeline-scaler-logistic"] = clf(pipeline.make_pipeline(pp.StandardScaler(), lm.LogisticRegression()))
    made["pipeline-poly-ridge"] = clf(pipeline.make_pipeline(pp.PolynomialFeatures(2), lm.Ridge()), target)
    made["pipeline-kbest-svc"] = clf(
        pipeline.make_pipeline(feature_selection.SelectKBest(k=2), svm.SVC(probability=True, random_state=0))
    )
    made["feature-union"] = clf(
        pipeline.make_pipeline(
            pipeline.make_union(pp.StandardScaler(), pp.MinMaxScaler()), tree.DecisionTreeClassifier(random_state=0)
        )
    )
    column = compose.make_column_transformer(
        (pp.StandardScaler(), compose.make_column_selector(dtype_include=np.number)),
        (pp.OneHotEncoder(handle_unknown="ignore"), compose.make_column_selector(dtype_include="category")),
        (pp.OrdinalEncoder(), compose.make_column_selector(pattern="^size$")),
    )
    made["column-transformer-selectors"] = (
        lambda: _fit(pipeline.make_pipeline(column, lm.LogisticRegression()), frame, labels),
        on(frame),
    )
    made["column-transformer-remainder"] = (
        lambda: _fit(
            compose.ColumnTransformer([("num", pp.StandardScaler(), ["a", "b"])], remainder="passthrough"),
            frame[["a", "b", "c"]],
            labels,
        ),
        on(frame[["a", "b", "c"]]),
    )
    made["grid-search-string-scorer"] = clf(
        model_selection.GridSearchCV(lm.LogisticRegression(), {"C": [0.1, 1.0]}, scoring="f1_macro", cv=3)
    )
    made["grid-search-make-scorer"] = clf(
        model_selection.GridSearchCV(
            lm.Ridge(),
            {"alpha": [0.1, 1.0]},
            scoring=metrics.make_scorer(metrics.mean_absolute_error, greater_is_better=False),
            cv=model_selection.KFold(3, shuffle=True, random_state=0),
        ),
        target,
    )
    made["grid-search-multimetric"] = clf(
        model_selection.GridSearchCV(
            lm.LogisticRegression(),
            {"C": [0.1, 1.0]},
            scoring={"acc": "accuracy", "bal": metrics.make_scorer(metrics.balanced_accuracy_score)},
            refit="acc",
            cv=model_selection.StratifiedKFold(3),
        )
    )
    made["grid-search-proba-scorer"] = clf(
        model_selection.GridSearchCV(
            lm.LogisticRegression(),
            {"C": [1.0]},
            scoring="neg_log_loss",
            cv=model_selection.ShuffleSplit(3, random_state=0),
        )
    )
    made["randomized-search"] = clf(
        model_selection.RandomizedSearchCV(
            tree.DecisionTreeClassifier(random_state=0),
            {"max_depth": [1, 2, 3]},
            n_iter=2,
            scoring="roc_auc_ovr",
            cv=model_selection.RepeatedStratifiedKFold(n_splits=2, n_repeats=2, random_state=0),
            random_state=0,
        )
    )
    made["randomized-search-pipeline"] = clf(
        model_selection.RandomizedSearchCV(
            pipeline.make_pipeline(pp.StandardScaler(), lm.Ridge()),
            {"ridge__alpha": [0.1, 1.0, 10.0]},
            n_iter=2,
            scoring="r2",
            cv=model_selection.TimeSeriesSplit(3),
            random_state=0,
        ),
        target,
    )
    made["calibrated-sigmoid"] = clf(calibration.CalibratedClassifierCV(svm.LinearSVC(), cv=3))
    made["calibrated-isotonic"] = clf(
        calibration.CalibratedClassifierCV(naive_bayes.GaussianNB(), method="isotonic", cv=3)
    )
    made["calibrated-temperature"] = clf(
        calibration.CalibratedClassifierCV(lm.LogisticRegression(), method="temperature", cv=3)
    )
    made["one-vs-rest"] = clf(multiclass.OneVsRestClassifier(lm.LogisticRegression()))
    made["one-vs-one"] = clf(multiclass.OneVsOneClassifier(svm.LinearSVC()))
    made["output-code"] = clf(multiclass.OutputCodeClassifier(lm.LogisticRegression(), random_state=0))
    made["multi-output-classifier"] = clf(multioutput.MultiOutputClassifier(tree.DecisionTreeClassifier()), labels2)
    made["multi-output-regressor"] = clf(multioutput.MultiOutputRegressor(lm.Ridge()), target2)
    made["classifier-chain"] = clf(multioutput.ClassifierChain(lm.LogisticRegression(), random_state=0), labels2)
    made["regressor-chain"] = clf(multioutput.RegressorChain(lm.Ridge()), target2)
    made["stacking-classifier"] = clf(
        ensemble.StackingClassifier(
            [("tree", tree.DecisionTreeClassifier(random_state=0)), ("nb", naive_bayes.GaussianNB())],
            final_estimator=lm.LogisticRegression(),
            cv=3,
        )
    )
    made["stacking-regressor"] = clf(
        ensemble.StackingRegressor([("ridge", lm.Ridge()), ("tree", tree.DecisionTreeRegressor(random_state=0))], cv=3),
        target,
    )
    made["voting-soft"] = clf(
        ensemble.VotingClassifier(
            [("lr", lm.LogisticRegression()), ("nb", naive_bayes.GaussianNB())], voting="soft", weights=[2, 1]
        )
    )
    made["voting-regressor"] = clf(ensemble.VotingRegressor([("ridge", lm.Ridge()), ("lasso", lm.Lasso())]), target)
    for score in ("f_classif", "chi2"):
        made[f"select-kbest-{score}"] = clf(feature_selection.SelectKBest(getattr(feature_selection, score), k=2))
    made["select-kbest-mutual-info"] = clf(feature_selection.SelectKBest(feature_selection.mutual_info_classif, k=2))
    made["select-percentile-f-regression"] = clf(
        feature_selection.SelectPercentile(feature_selection.f_regression, percentile=50), target
    )
    made["select-kbest-mutual-info-regression"] = clf(
        feature_selection.SelectKBest(feature_selection.mutual_info_regression, k=2), target
    )
    made["generic-univariate-fpr"] = clf(feature_selection.GenericUnivariateSelect(feature_selection.chi2, mode="fpr"))
    made["function-transformer-log1p"] = clf(
        pipeline.make_pipeline(
            pp.FunctionTransformer(np.log1p, inverse_func=np.expm1, check_inverse=False), lm.LogisticRegression()
        )
    )
    made["transformed-target-log1p"] = clf(
        compose.TransformedTargetRegressor(lm.Ridge(), func=np.log1p, inverse_func=np.expm1), np.abs(target)
    )
    made["gradient-boosting-multiclass"] = clf(ensemble.GradientBoostingClassifier(n_estimators=5, random_state=0))
    made["hist-gradient-boosting-multiclass"] = clf(ensemble.HistGradientBoostingClassifier(max_iter=5, random_state=0))
    made["hist-gradient-boosting-categorical-frame"] = (
        lambda: _fit(
            ensemble.HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype", random_state=0),
            frame[["a", "b", "colour"]],
            labels,
        ),
        on(frame[["a", "b", "colour"]]),
    )
    made["hist-gradient-boosting-regressor-categorical"] = (
        lambda: _fit(
            ensemble.HistGradientBoostingRegressor(max_iter=5, categorical_features="from_dtype", random_state=0),
            frame[["a", "colour"]],
            target,
        ),
        on(frame[["a", "colour"]]),
    )
    made["mlp-adam"] = clf(neural_network.MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0))
    made["mlp-sgd"] = clf(
        neural_network.MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", max_iter=50, random_state=0)
    )
    made["mlp-lbfgs-regressor"] = clf(
        neural_network.MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50, random_state=0), target
    )
    text = feature_extraction.text

    def texts(model: Any) -> tuple[Callable[[], Any], Callable[[], Any]]:
        return (lambda: _fit(model, docs, doc_labels)), on(docs)

    made["text-count-nb"] = texts(pipeline.make_pipeline(text.CountVectorizer(), naive_bayes.MultinomialNB()))
    made["text-tfidf-logistic"] = texts(
        pipeline.make_pipeline(text.TfidfVectorizer(ngram_range=(1, 2), stop_words="english"), lm.LogisticRegression())
    )
    made["text-hashing-sgd"] = texts(
        pipeline.make_pipeline(text.HashingVectorizer(n_features=64), lm.SGDClassifier(random_state=0))
    )
    made["text-count-tfidf-transformer"] = texts(
        pipeline.make_pipeline(text.CountVectorizer(binary=True), text.TfidfTransformer(), svm.LinearSVC())
    )
    dicts = [{"word": w, "length": float(len(w))} for w in docs]
    made["dict-vectorizer-tree"] = (
        lambda: _fit(
            pipeline.make_pipeline(feature_extraction.DictVectorizer(), tree.DecisionTreeClassifier(random_state=0)),
            dicts,
            doc_labels,
        ),
        on(dicts),
    )
    made["frozen-in-pipeline"] = (
        lambda: _fit(
            pipeline.make_pipeline(frozen.FrozenEstimator(pp.StandardScaler().fit(X)), lm.LogisticRegression()),
            X,
            labels,
        ),
        on(X),
    )
    made.update(_experimental(X, labels))
    made["tuned-threshold"] = clf(
        model_selection.TunedThresholdClassifierCV(lm.LogisticRegression(), scoring="balanced_accuracy", cv=3),
        labels % 2,
    )
    return made


def _experimental(X: Any, labels: Any) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """The experimental estimators, which all_estimators() leaves out unless enabled."""
    import numpy as np
    from sklearn import tree
    from sklearn.experimental import enable_halving_search_cv, enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer
    from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV

    holes = X.copy()
    holes[np.random.RandomState(0).rand(*X.shape) < 0.2] = np.nan
    stump = tree.DecisionTreeClassifier(random_state=0)
    return {
        "iterative-imputer": ((lambda: _fit(IterativeImputer(max_iter=3, random_state=0), holes, None)), lambda: holes),
        "halving-grid-search": (
            (lambda: _fit(HalvingGridSearchCV(stump, {"max_depth": [1, 2, 3]}, cv=2, random_state=0), X, labels)),
            lambda: X,
        ),
        "halving-random-search": (
            (
                lambda: _fit(
                    HalvingRandomSearchCV(stump, {"max_depth": [1, 2, 3]}, n_candidates=3, cv=2, random_state=0),
                    X,
                    labels,
                )
            ),
            lambda: X,
        ),
    }


def artifacts() -> Iterator[Artifact]:
    try:
        import pandas  # noqa: F401  (the categorical compositions need it)
        import sklearn  # noqa: F401
    except ImportError:
        return
    for name, (make, inputs) in _compositions().items():
        yield estimator(f"sklearn/composition/{name}", make, lambda _e, inputs=inputs: inputs())
