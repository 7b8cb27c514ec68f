"""scikit-learn validators (G8): fitted state that the library's Cython and libsvm code
would index out of bounds is refused at load, naming the class; real fitted objects of
every validated class load and behave as with ``pickle``.

Each forged pickle starts from a real fitted object whose state is edited, then pickled;
picklefence loads them in a subprocess (see ``_state_rows.py``).  A few rows also show,
in a subprocess, what plain ``pickle`` and the ordinary use of the forged object do.
"""

from __future__ import annotations

import copy
import copyreg
import io
import pickle
import re
import warnings
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest
from threadpoolctl import threadpool_limits

import picklefence

from ._state_rows import Row, dumps, row_tests

np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")

from sklearn import cluster, ensemble, feature_extraction, linear_model, metrics, model_selection, neighbors, svm, tree  # noqa: E402
from sklearn.metrics import DistanceMetric  # noqa: E402
from sklearn.neighbors import _ball_tree, _kd_tree  # noqa: E402
from sklearn.tree._tree import Tree  # noqa: E402

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

RNG = np.random.RandomState(0)
X = RNG.rand(90, 6)
Y3 = (X[:, 0] * 3).astype(int)  # three classes
Y2 = (X[:, 1] > 0.5).astype(int)
YR = X @ np.arange(1.0, 7.0)
QUERY = np.random.RandomState(1).rand(20, 6)
DOCS = ["the cat sat", "a dog ran", "the cat and the dog", "birds sang"] * 3
RECORDS = [{"a": 1.0, "b": 2.0}, {"b": 1.0, "c": 3.0}, {"a": 4.0}]


class Reduce:
    """Pickles as the given ``__reduce__`` value: a call without BUILD, or a forged one."""

    def __init__(self, *value: Any) -> None:
        self.value = value

    def __reduce__(self) -> Any:
        return self.value


class NeverBuilt(Reduce):
    """NEWOBJ of a class with no BUILD after it, or with the given state (pickle checks
    that ``__newobj__``'s class is the object's, so this one claims to be of that class)."""

    def __init__(self, cls: type, *state: Any) -> None:
        super().__init__(copyreg.__newobj__, (cls,), *state)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return self.value[1][0]  # type: ignore[no-any-return]


def never_built(cls: type) -> Reduce:
    return NeverBuilt(cls)


@cache
def fitted(name: str) -> Any:
    """Real fitted estimators, by a short name (cached: rows copy them before editing)."""
    makers: dict[str, Callable[[], Any]] = {
        "dt": lambda: tree.DecisionTreeClassifier(random_state=0).fit(X, Y3),
        "rf": lambda: ensemble.RandomForestClassifier(5, random_state=0).fit(X, Y3),
        "iforest": lambda: ensemble.IsolationForest(n_estimators=5, max_features=3, random_state=0).fit(X),
        "bagging": lambda: ensemble.BaggingClassifier(n_estimators=3, max_features=3, random_state=0).fit(X, Y3),
        "gb": lambda: ensemble.GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, Y3),
        "hgb": lambda: ensemble.HistGradientBoostingRegressor(max_iter=3).fit(X, YR),
        "svc": lambda: svm.SVC(probability=True, random_state=0).fit(X, Y3),
        "svr": lambda: svm.SVR().fit(X, YR),
        "svc precomputed": lambda: svm.SVC(kernel="precomputed").fit(X @ X.T, Y3),
        "sgd": lambda: linear_model.SGDClassifier(average=True, random_state=0).fit(X, Y3),
        "enet": lambda: linear_model.ElasticNet(alpha=0.01, warm_start=True).fit(X, YR),
        "logistic": lambda: linear_model.LogisticRegression().fit(X, Y3),
        "kmeans": lambda: cluster.KMeans(3, n_init=1, random_state=0).fit(X),
        "knn": lambda: neighbors.KNeighborsClassifier(3, algorithm="kd_tree").fit(X, Y3),
        "kde": lambda: neighbors.KernelDensity().fit(X),
        "balltree": lambda: neighbors.BallTree(X, metric="minkowski", p=3),
        "kdtree": lambda: neighbors.KDTree(X),
        "bisect": lambda: cluster.BisectingKMeans(3, random_state=0).fit(X),
        "hdbscan": lambda: cluster.HDBSCAN().fit(X),
        "birch": lambda: cluster.Birch(n_clusters=None, threshold=0.2).fit(X),
        "count": lambda: feature_extraction.text.CountVectorizer().fit(DOCS),
        "dict": lambda: feature_extraction.DictVectorizer().fit(RECORDS),
        "hasher": lambda: feature_extraction.FeatureHasher(n_features=8),
        "search": lambda: model_selection.GridSearchCV(
            linear_model.Ridge(), {"alpha": [1.0]}, scoring=metrics.make_scorer(metrics.r2_score), cv=2
        ).fit(X, YR),
    }
    with threadpool_limits(1):
        return makers[name]()


def edit(name: str, **changes: Any) -> Any:
    """A deep copy of a fitted estimator with attributes replaced (``None`` deletes)."""
    obj = copy.deepcopy(fitted(name))
    for key, value in changes.items():
        if value is None:
            delattr(obj, key)
        else:
            setattr(obj, key, value)
    return obj


def retree(source: Any, n_features: int | None = None, **fields: Callable[[Any], None]) -> Any:
    """A ``Tree`` like ``source`` but built for ``n_features`` (pickled in its call's
    arguments) and with node fields edited in place by ``fields``."""
    state = dict(source.__getstate__())
    nodes = state["nodes"].copy()
    for field, change in fields.items():
        change(nodes[field])
    state["nodes"] = nodes
    new = Tree(n_features or source.n_features, source.n_classes, source.n_outputs)
    new.__setstate__(state)
    return new


def _only(estimator: Any, *names: str) -> Reduce:
    """``estimator``'s class BUILT with its parameters and only ``names`` of its fitted state."""
    state = {k: v for k, v in vars(estimator).items() if not k.endswith("_") or k in names}
    return NeverBuilt(type(estimator), state)


def _split_on(feature: int) -> Callable[[Any], None]:
    def change(column: Any) -> None:
        column[column >= 0] = feature

    return change


def _tree_far_feature() -> Any:
    dt = edit("dt")
    dt.tree_ = retree(dt.tree_, 10**9, feature=_split_on(10**9 - 1))
    return dt


def _forest_wide_tree() -> Any:
    rf = edit("rf")
    wide = tree.DecisionTreeClassifier(random_state=0).fit(np.hstack([X] * 5), Y3)
    rf.estimators_[0] = wide  # consistent in itself, 30 features; the forest checks 6
    return rf


def _iforest_fewer_columns() -> Any:
    forest = edit("iforest")
    forest.estimators_features_[0] = forest.estimators_features_[0][:1]  # its tree reads 3
    return forest


def _gb(**changes: Any) -> Any:
    return edit("gb", **changes)


def _gb_wider_stages() -> Any:
    gb = edit("gb")
    gb.estimators_ = np.hstack([gb.estimators_] + [gb.estimators_[:, :1]] * 1000)
    return gb


def _gb_two_class_init() -> Any:
    gb = edit("gb")
    gb.init_ = copy.deepcopy(gb.init_).fit(X, Y2)  # predicts 2 columns; 3 trees per stage
    return gb


def _gb_short_prior() -> Any:
    gb = edit("gb")
    gb.init_.class_prior_ = np.array([0.5, 0.5])  # predict_proba is as wide as the priors
    return gb


def _hgb(change: Callable[[Any], None]) -> Any:
    model = edit("hgb")
    change(model)
    return model


def _hgb_nodes(field: str, value: int, bitsets: Any = None) -> Callable[[Any], None]:
    def change(model: Any) -> None:
        predictor = model._predictors[0][0]
        nodes = predictor.nodes.copy()
        nodes[field][nodes["is_leaf"] == 0] = value
        if field == "is_categorical":
            nodes["bitset_idx"][nodes["is_leaf"] == 0] = 0
        predictor.nodes = nodes
        if bitsets is not None:
            predictor.raw_left_cat_bitsets = bitsets

    return change


def _svc(**changes: Any) -> Any:
    return edit("svc", **changes)


def _metric(name: str, state: tuple[Any, ...] | None = None) -> Reduce:
    """A metric of the class ``get_metric(name, p=3)`` makes, with a forged state (none:
    made by ``newObj`` and never BUILT)."""
    metric = DistanceMetric.get_metric(name, p=3)
    new_obj, args = metric.__reduce__()[:2]
    return Reduce(new_obj, args) if state is None else Reduce(new_obj, args, state)


def _binary_tree(kind: str, **state_changes: Any) -> Reduce:
    source = fitted(kind)
    state = list(source.__getstate__())
    for index, value in state_changes.items():
        state[int(index.removeprefix("s"))] = value
    module = _ball_tree if kind == "balltree" else _kd_tree
    return Reduce(module.newObj, (type(source),), tuple(state))


def _knn_other_tree() -> Any:
    knn = edit("knn")
    knn._tree = neighbors.KDTree(X[:, :2])
    return knn


def _sgd_narrow() -> Any:
    sgd = edit("sgd")
    sgd.coef_ = sgd.coef_[:, :2].copy()
    return sgd


def _sgd_short_average() -> Any:
    sgd = edit("sgd")
    sgd._average_coef = sgd._average_coef[:, :2].copy()
    return sgd


def _linkage(**fields: Any) -> Any:
    """HDBSCAN's single-linkage tree with every row's ``fields`` set."""
    linkage = fitted("hdbscan")._single_linkage_tree_.copy()
    for field, value in fields.items():
        linkage[field] = value
    return linkage


def _bisect(change: Callable[[Any], None]) -> Any:
    model = copy.deepcopy(fitted("bisect"))
    change(model._bisecting_tree)
    return model


def _vocabulary(name: str, **columns: int) -> Any:
    model = copy.deepcopy(fitted(name))
    model.vocabulary_.update(columns)
    return model


def _scorer(**changes: Any) -> Any:
    search = copy.deepcopy(fitted("search"))
    for key, value in changes.items():
        setattr(search.scorer_, key, value)
    return search


def _classes_with(validator: str) -> list[str]:
    """The classes of the shipped sklearn policy whose rule names ``validator``."""
    text = (Path(picklefence.__file__).parent / "policies" / "sklearn.toml").read_text()
    tables = re.findall(r'^\[allow\."([^"]+)"\]\n((?:.+\n)*)', text, re.M)
    return [name for name, body in tables if f'validate = "{validator}"' in body]


def _linear(cls: type) -> Any:
    name = cls.__name__
    if name.endswith("CV"):
        cls = partial(cls, cv=2)  # type: ignore[assignment]
    if name.startswith("MultiTask"):
        return cls().fit(X, np.c_[YR, YR[::-1]])
    if name == "SGDOneClassSVM":
        return cls(random_state=0).fit(X)
    if name in {"LogisticRegression", "LogisticRegressionCV", "LinearSVC", "RidgeClassifier", "RidgeClassifierCV"} or (
        "Classifier" in name or name == "Perceptron"
    ):
        return cls().fit(X, Y3)
    return cls().fit(X, YR)


def _model(qualified: str) -> Any:
    module, _, name = qualified.partition(":")
    cls = getattr(__import__(module, fromlist=[name]), name)
    if module.startswith("sklearn.ensemble"):  # small ensembles: the tests fit dozens
        small = {"n_estimators": 4} if "n_estimators" in cls().get_params() else {"max_iter": 4}
        cls = partial(cls, **small)
    if name in _TEXT:
        return cls(n_features=8) if name in {"FeatureHasher", "HashingVectorizer"} else cls().fit(_TEXT[name])
    if name in {"HDBSCAN", "Birch"}:
        return cls().fit(X)
    unsupervised = {
        "IsolationForest",
        "OneClassSVM",
        "RandomTreesEmbedding",
        "KMeans",
        "MiniBatchKMeans",
        "BisectingKMeans",
    }
    if name in unsupervised:
        return cls(random_state=0).fit(X) if name != "OneClassSVM" else cls().fit(X)
    if name in {"NearestNeighbors", "KNeighborsTransformer", "RadiusNeighborsTransformer", "KernelDensity"}:
        return cls().fit(X)
    if name == "LocalOutlierFactor":
        return cls(novelty=True).fit(X)
    if name in {"KDTree", "BallTree"}:
        return cls(X, leaf_size=5)
    if "Distance" in name:
        metric = {"Euc": "euclidean", "Man": "manhattan", "Min": "minkowski", "Che": "chebyshev"}[name[:3]]
        kwargs = {"p": 3, "w": np.arange(1.0, 7.0)} if metric == "minkowski" else {}
        return DistanceMetric.get_metric(metric, dtype=np.float32 if name.endswith("32") else np.float64, **kwargs)
    if "Regressor" in name or name in {"SVR", "NuSVR"}:
        return cls().fit(X, YR)
    return cls().fit(X, Y3)


_TEXT = {
    "CountVectorizer": DOCS,
    "TfidfVectorizer": DOCS,
    "HashingVectorizer": DOCS,
    "DictVectorizer": RECORDS,
    "FeatureHasher": RECORDS,
}


def _use(obj: Any) -> Any:
    """What an ordinary user does with ``obj``, as comparable arrays."""
    name = type(obj).__name__
    if name in _TEXT:
        return obj.transform(_TEXT[name]).toarray()
    if name == "HDBSCAN":
        return obj.dbscan_clustering(0.3)
    q32 = QUERY.astype(np.float32)
    for method, args in (
        ("predict", (QUERY,)),
        ("score_samples", (QUERY,)),
        ("transform", (QUERY,)),
        ("query", (QUERY, 3)),
        ("pairwise", (q32 if type(obj).__name__.endswith("32") else QUERY,)),
        ("kneighbors", (QUERY,)),
    ):
        if hasattr(obj, method):
            out = getattr(obj, method)(*args)
            return out.toarray() if hasattr(out, "toarray") else out
    raise AssertionError(f"nothing to use on {obj!r}")


#: Validators whose classes are used directly; the others' classes live inside them.
DIRECT = (
    "sklearn_decision_tree",
    "sklearn_forest",
    "sklearn_isolation_forest",
    "sklearn_bagging",
    "sklearn_gradient_boosting",
    "sklearn_hist_gradient_boosting",
    "sklearn_svm",
    "sklearn_linear",
    "sklearn_kmeans",
    "sklearn_neighbors",
    "sklearn_kernel_density",
    "sklearn_binary_tree",
    "sklearn_distance_metric",
    "sklearn_bisecting_kmeans",
    "sklearn_hdbscan",
    "sklearn_birch",
    "sklearn_count_vectorizer",
    "sklearn_dict_vectorizer",
    "sklearn_feature_hasher",
)
# in trees and boosting; scorers in searches
INSIDE = ("sklearn_tree", "sklearn_tree_predictor", "sklearn_bin_mapper", "sklearn_scorer")
REAL = [name for validator in DIRECT for name in _classes_with(validator)]


@cache
def real(qualified: str) -> Any:
    """A real fitted object of the class named ``module:qualname``."""
    module, _, name = qualified.partition(":")
    with threadpool_limits(1):  # OpenMP and BLAS threads only wait for each other on 2 cores
        if module.startswith("sklearn.linear_model"):
            return _linear(getattr(__import__(module, fromlist=[name]), name))
        return _model(qualified)


# id -> (object to pickle, class refused, capability, words in the message)
ROWS: dict[str, tuple[Callable[[], Any], str, str, str]] = {
    # decision trees: the Tree is checked against its own n_features; the estimator
    # against the Tree
    "tree splits past the estimator's features": (
        _tree_far_feature,
        "sklearn.tree._classes:DecisionTreeClassifier",
        "validation",
        "reads 1000000000 features, not the 6",
    ),
    "tree made by its call, never BUILT": (
        lambda: edit("dt", tree_=Reduce(Tree, (6, np.array([3]), 1))),
        "sklearn.tree._tree:Tree",
        "validation",
        "it has no nodes",
    ),
    "tree BUILT with no nodes": (
        lambda: edit(
            "dt",
            tree_=Reduce(
                Tree,
                (6, np.array([3]), 1),
                {
                    "max_depth": 0,
                    "node_count": 0,
                    "nodes": fitted("dt").tree_.__getstate__()["nodes"][:0],
                    "values": np.zeros((0, 1, 3)),
                },
            ),
        ),
        "sklearn.tree._tree:Tree",
        "validation",
        "it has no nodes",
    ),
    "tree child index points backwards": (
        lambda: edit("dt", tree_=retree(fitted("dt").tree_, left_child=lambda c: c.__setitem__(c > 0, 0))),
        "sklearn.tree._tree:Tree",
        "state",
        "",
    ),
    "tree_ is not a Tree": (
        lambda: edit("dt", tree_=7),
        "sklearn.tree._classes:DecisionTreeClassifier",
        "validation",
        "has no Tree",
    ),
    "tree outputs disagree": (
        lambda: edit("dt", n_outputs_=2),
        "sklearn.tree._classes:DecisionTreeClassifier",
        "validation",
        "outputs",
    ),
    "fitted tree without n_features_in_": (
        lambda: edit("dt", n_features_in_=None),
        "sklearn.tree._classes:DecisionTreeClassifier",
        "validation",
        "has no n_features_in_",
    ),
    "tree_ alone, not looking fitted": (
        lambda: _only(fitted("dt"), "tree_"),
        "sklearn.tree._classes:DecisionTreeClassifier",
        "validation",
        "it is fitted but has no n_features_in_",
    ),
    "negative n_features_in_": (
        lambda: edit("dt", n_features_in_=-6),
        "sklearn.tree._classes:DecisionTreeClassifier",
        "validation",
        "below 1",
    ),
    "estimator that never received its state": (
        lambda: never_built(tree.DecisionTreeClassifier),
        "sklearn.tree._classes:DecisionTreeClassifier",
        "validation",
        "never received its state",
    ),
    # forests and bagging
    "forest tree reads more features than the forest": (
        _forest_wide_tree,
        "sklearn.ensemble._forest:RandomForestClassifier",
        "validation",
        "tree 0 reads 30 features, not the 6",
    ),
    "forest holds a non-tree": (
        lambda: edit("rf", estimators_=[linear_model.LinearRegression().fit(X, YR)]),
        "sklearn.ensemble._forest:RandomForestClassifier",
        "validation",
        "not a decision tree",
    ),
    "forest with no trees": (
        lambda: edit("rf", estimators_=[]),
        "sklearn.ensemble._forest:RandomForestClassifier",
        "validation",
        "non-empty list",
    ),
    "isolation forest tree wider than its columns": (
        _iforest_fewer_columns,
        "sklearn.ensemble._iforest:IsolationForest",
        "validation",
        "tree 0 reads 3 features, not the 1",
    ),
    "bagging feature index out of range": (
        lambda: edit("bagging", estimators_features_=[np.array([0, 1, 60])] * 3),
        "sklearn.ensemble._bagging:BaggingClassifier",
        "validation",
        "out of range",
    ),
    "bagging estimator fitted on other columns": (
        lambda: edit("bagging", estimators_features_=[np.array([0, 1])] * 3),
        "sklearn.ensemble._bagging:BaggingClassifier",
        "validation",
        "takes 3 features, not its 2",
    ),
    # gradient boosting
    "gradient boosting stages wider than its classes": (
        _gb_wider_stages,
        "sklearn.ensemble._gb:GradientBoostingClassifier",
        "validation",
        "not (n, 3)",
    ),
    "gradient boosting trees per stage disagree with classes": (
        lambda: edit("gb", n_trees_per_iteration_=1, estimators_=fitted("gb").estimators_[:, :1].copy()),
        "sklearn.ensemble._gb:GradientBoostingClassifier",
        "validation",
        "1 trees per stage for 3 classes",
    ),
    "gradient boosting init narrower than its stages": (
        _gb_two_class_init,
        "sklearn.ensemble._gb:GradientBoostingClassifier",
        "validation",
        "predicts 2 columns, not 3",
    ),
    "gradient boosting init with fewer priors than classes": (
        _gb_short_prior,
        "sklearn.ensemble._gb:GradientBoostingClassifier",
        "validation",
        "classes disagree",
    ),
    "gradient boosting init of another kind": (
        lambda: _gb(init_=linear_model.LogisticRegression().fit(X, Y3)),
        "sklearn.ensemble._gb:GradientBoostingClassifier",
        "validation",
        "not 'zero' or a DummyClassifier",
    ),
    "gradient boosting stage entry is not a tree": (
        lambda: _gb(estimators_=np.full((3, 3), None, dtype=object)),
        "sklearn.ensemble._gb:GradientBoostingClassifier",
        "validation",
        "not a regression tree",
    ),
    "gradient boosting estimators_ not an object array": (
        lambda: _gb(estimators_=np.zeros((3, 3))),
        "sklearn.ensemble._gb:GradientBoostingClassifier",
        "validation",
        "2-d object array",
    ),
    # histogram gradient boosting
    "histogram boosting node reads past the input": (
        lambda: _hgb(_hgb_nodes("feature_idx", 1000)),
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting:HistGradientBoostingRegressor",
        "validation",
        "past its 6",
    ),
    "histogram boosting categorical split on a numeric feature": (
        lambda: _hgb(_hgb_nodes("is_categorical", 1, np.zeros((1, 8), np.uint32))),
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting:HistGradientBoostingRegressor",
        "validation",
        "categorical node splits on a numeric feature",
    ),
    "histogram boosting bitsets narrower than 8 words": (
        lambda: _hgb(_hgb_nodes("is_categorical", 1, np.zeros((1, 1), np.uint32))),
        "sklearn.ensemble._hist_gradient_boosting.predictor:TreePredictor",
        "state",
        "",
    ),
    "histogram boosting predictor never BUILT": (
        lambda: _hgb(lambda m: m._predictors[0].__setitem__(0, never_built(type(m._predictors[0][0])))),
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting:HistGradientBoostingRegressor",
        "validation",
        "",
    ),
    "histogram boosting stage with too few predictors": (
        lambda: _hgb(lambda m: m._predictors.__setitem__(0, [])),
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting:HistGradientBoostingRegressor",
        "validation",
        "does not hold 1 predictors",
    ),
    "histogram boosting bin mapper for other features": (
        lambda: _hgb(lambda m: setattr(m._bin_mapper, "is_categorical_", np.zeros(2, np.uint8))),
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting:HistGradientBoostingRegressor",
        "validation",
        "bin mapper does not describe its features",
    ),
    "bin mapper thresholds for fewer features": (
        lambda: _hgb(lambda m: m._bin_mapper.bin_thresholds_.pop()),
        "sklearn.ensemble._hist_gradient_boosting.binning:_BinMapper",
        "validation",
        "one array per feature",
    ),
    # support vector machines (libsvm)
    "svc support counts do not add up (CVE-2020-28975)": (
        lambda: _svc(_n_support=np.array([1, 1, 1], np.int32)),
        "sklearn.svm._classes:SVC",
        "validation",
        "_n_support adds up to 3",
    ),
    "svc one support count per class too many": (
        lambda: _svc(_n_support=np.append(fitted("svc")._n_support, np.zeros(997)).astype(np.int32)),
        "sklearn.svm._classes:SVC",
        "validation",
        "one count per class",
    ),
    "svc negative support count": (
        lambda: _svc(_n_support=fitted("svc")._n_support * np.array([-1, 1, 3], np.int32)),
        "sklearn.svm._classes:SVC",
        "validation",
        "negative count",
    ),
    "svc dual coefficients for fewer classes": (
        lambda: _svc(_dual_coef_=fitted("svc")._dual_coef_[:1].copy()),
        "sklearn.svm._classes:SVC",
        "validation",
        "_dual_coef_ has shape",
    ),
    "svc dual coefficients as objects": (
        lambda: _svc(_dual_coef_=fitted("svc")._dual_coef_.astype(object)),
        "sklearn.svm._classes:SVC",
        "validation",
        "dtype object",
    ),
    "svc intercepts for fewer class pairs": (
        lambda: _svc(_intercept_=fitted("svc")._intercept_[:1].copy()),
        "sklearn.svm._classes:SVC",
        "validation",
        "_intercept_ has 1 entries, not 3",
    ),
    "svc probability pairs short": (
        lambda: _svc(_probA=fitted("svc")._probA[:1].copy()),
        "sklearn.svm._classes:SVC",
        "validation",
        "_probA has 1 entries",
    ),
    "svc fewer support vectors than support indices": (
        lambda: _svc(support_vectors_=fitted("svc").support_vectors_[:3].copy()),
        "sklearn.svm._classes:SVC",
        "validation",
        "support_vectors_ has shape",
    ),
    "svc kernel that libsvm does not have": (
        lambda: _svc(kernel="cosine"),
        "sklearn.svm._classes:SVC",
        "validation",
        "not libsvm's",
    ),
    "svc libsvm type of another class": (
        lambda: _svc(_impl="one_class"),
        "sklearn.svm._classes:SVC",
        "validation",
        "libsvm type",
    ),
    "svc sparse flag on dense vectors": (
        lambda: _svc(_sparse=True),
        "sklearn.svm._classes:SVC",
        "validation",
        "sparse",
    ),
    "svc infinite gamma": (lambda: _svc(_gamma=float("inf")), "sklearn.svm._classes:SVC", "validation", "_gamma"),
    "svr dual coefficients of two rows": (
        lambda: edit("svr", _dual_coef_=np.vstack([fitted("svr")._dual_coef_] * 2)),
        "sklearn.svm._classes:SVR",
        "validation",
        "_dual_coef_ has shape",
    ),
    "precomputed svc support index past the training rows": (
        lambda: edit("svc precomputed", support_=fitted("svc precomputed").support_ + 1000),
        "sklearn.svm._classes:SVC",
        "validation",
        "support index is out of range",
    ),
    # linear models (Cython solvers index coef_ by the input's columns)
    "sgd coefficients narrower than the input": (
        _sgd_narrow,
        "sklearn.linear_model._stochastic_gradient:SGDClassifier",
        "validation",
        "coef_ has shape (3, 2)",
    ),
    "sgd averaged coefficients narrower than coef_": (
        _sgd_short_average,
        "sklearn.linear_model._stochastic_gradient:SGDClassifier",
        "validation",
        "_average_coef is not shaped like coef_",
    ),
    "elastic net warm-start coefficients short": (
        lambda: edit("enet", coef_=np.zeros(2)),
        "sklearn.linear_model._coordinate_descent:ElasticNet",
        "validation",
        "coef_ has shape (2,)",
    ),
    "logistic intercepts for fewer classes": (
        lambda: edit("logistic", intercept_=np.zeros(2)),
        "sklearn.linear_model._logistic:LogisticRegression",
        "validation",
        "intercept_ has shape (2,)",
    ),
    # k-means
    "k-means centres narrower than the input": (
        lambda: edit("kmeans", cluster_centers_=fitted("kmeans").cluster_centers_[:, :2].copy()),
        "sklearn.cluster._kmeans:KMeans",
        "validation",
        "cluster_centers_ has shape (3, 2)",
    ),
    "k-means centres as a 1-d array": (
        lambda: edit("kmeans", cluster_centers_=fitted("kmeans").cluster_centers_.ravel().copy()),
        "sklearn.cluster._kmeans:KMeans",
        "validation",
        "cluster_centers_ has 1 dimensions, not 2",
    ),
    "svc support indices as a 2-d array": (
        lambda: _svc(support_=fitted("svc").support_.reshape(-1, 1).copy()),
        "sklearn.svm._classes:SVC",
        "validation",
        "support_ has 2 dimensions, not 1",
    ),
    "svc support counts as floats": (
        lambda: _svc(_n_support=fitted("svc")._n_support.astype(float)),
        "sklearn.svm._classes:SVC",
        "validation",
        "_n_support has dtype float64",
    ),
    "svc negative support index": (
        lambda: _svc(support_=fitted("svc").support_ - 1000),
        "sklearn.svm._classes:SVC",
        "validation",
        "support index is out of range",
    ),
    "bagging negative feature index": (
        lambda: edit("bagging", estimators_features_=[np.array([0, 1, -5])] * 3),
        "sklearn.ensemble._bagging:BaggingClassifier",
        "validation",
        "out of range",
    ),
    "histogram boosting node on a negative feature": (
        lambda: _hgb(_hgb_nodes("feature_idx", -3)),
        "sklearn.ensemble._hist_gradient_boosting.predictor:TreePredictor",
        "state",
        "",
    ),
    "histogram boosting child index past the nodes": (
        lambda: _hgb(_hgb_nodes("left", 10**6)),
        "sklearn.ensemble._hist_gradient_boosting.predictor:TreePredictor",
        "state",
        "",
    ),
    "k-means a million threads": (
        lambda: edit("kmeans", _n_threads=10**6),
        "sklearn.cluster._kmeans:KMeans",
        "validation",
        "_n_threads",
    ),
    # nearest neighbours
    "neighbours tree over other data": (
        _knn_other_tree,
        "sklearn.neighbors._classification:KNeighborsClassifier",
        "validation",
        "other data than _fit_X",
    ),
    "neighbours sample count disagrees": (
        lambda: edit("knn", n_samples_fit_=1000),
        "sklearn.neighbors._classification:KNeighborsClassifier",
        "validation",
        "_fit_X has 90 rows, not 1000",
    ),
    "neighbours labels fewer than samples": (
        lambda: edit("knn", _y=fitted("knn")._y[:5].copy()),
        "sklearn.neighbors._classification:KNeighborsClassifier",
        "validation",
        "one label per sample",
    ),
    "neighbours unknown fit method": (
        lambda: edit("knn", _fit_method="cover_tree"),
        "sklearn.neighbors._classification:KNeighborsClassifier",
        "validation",
        "unknown",
    ),
    "neighbours metric that is not a name": (
        lambda: edit("knn", effective_metric_=3),
        "sklearn.neighbors._classification:KNeighborsClassifier",
        "validation",
        "not a metric name",
    ),
    "kernel density tree_ is not a tree": (
        lambda: edit("kde", tree_=[1, 2]),
        "sklearn.neighbors._kde:KernelDensity",
        "validation",
        "tree_ is not a KD or ball tree",
    ),
    # binary trees and their metrics
    "ball tree metric with fewer weights than features": (
        lambda: _binary_tree("balltree", s11=DistanceMetric.get_metric("minkowski", p=3, w=np.ones(2))),
        "sklearn.neighbors._ball_tree:BallTree",
        "state",
        "",
    ),
    "ball tree metric never BUILT (one placeholder weight)": (
        lambda: _binary_tree("balltree", s11=_metric("minkowski")),
        "sklearn.neighbors._ball_tree:BallTree",
        "state",
        "",
    ),
    "metric never BUILT": (
        lambda: _metric("minkowski"),
        "sklearn.metrics._dist_metrics:MinkowskiDistance64",
        "validation",
        "not all zero",
    ),
    "kd tree never BUILT": (
        lambda: Reduce(_kd_tree.newObj, (neighbors.KDTree,)),
        "sklearn.neighbors._kd_tree:KDTree",
        "validation",
        "never BUILT",
    ),
    "kd tree index array not a permutation": (
        lambda: _binary_tree("kdtree", s1=np.zeros(90, np.intp)),
        "sklearn.neighbors._kd_tree:KDTree",
        "state",
        "",
    ),
    "euclidean metric with p=3": (
        lambda: Reduce(*DistanceMetric.get_metric("euclidean").__reduce__()[:2], (3.0, np.zeros(1), np.zeros((1, 1)))),
        "sklearn.metrics._dist_metrics:EuclideanDistance64",
        "validation",
        "p=3.0",
    ),
    "minkowski metric with negative p": (
        lambda: _metric("minkowski", (-1.0, np.zeros(0), np.zeros((1, 1)))),
        "sklearn.metrics._dist_metrics:MinkowskiDistance64",
        "validation",
        "p=-1.0",
    ),
    "minkowski metric with negative weights": (
        lambda: _metric("minkowski", (2.0, -np.ones(3), np.zeros((1, 1)))),
        "sklearn.metrics._dist_metrics:MinkowskiDistance64",
        "validation",
        "non-negative",
    ),
    # clustering: HDBSCAN's Cython union-find, BisectingKMeans' Cython assignment
    "hdbscan linkage joins a node that does not exist": (
        lambda: edit("hdbscan", _single_linkage_tree_=_linkage(left_node=10**12, value=0.0)),
        "sklearn.cluster._hdbscan.hdbscan:HDBSCAN",
        "validation",
        "joins nodes that do not exist yet",
    ),
    "hdbscan linkage joins a later node": (
        lambda: edit("hdbscan", _single_linkage_tree_=_linkage(right_node=len(X) + 88)),
        "sklearn.cluster._hdbscan.hdbscan:HDBSCAN",
        "validation",
        "joins nodes that do not exist yet",
    ),
    "hdbscan linkage without its fields": (
        lambda: edit("hdbscan", _single_linkage_tree_=np.zeros(89)),
        "sklearn.cluster._hdbscan.hdbscan:HDBSCAN",
        "validation",
        "linkage fields",
    ),
    "hdbscan labels for fewer points": (
        lambda: edit("hdbscan", labels_=np.zeros(5, dtype=np.intp)),
        "sklearn.cluster._hdbscan.hdbscan:HDBSCAN",
        "validation",
        "labels_ has 5 entries",
    ),
    "birch one norm for many centres": (
        lambda: edit("birch", _subcluster_norms=np.zeros(1)),
        "sklearn.cluster._birch:Birch",
        "validation",
        "_subcluster_norms has 1 entries",
    ),
    "birch centres for two features": (
        lambda: edit("birch", subcluster_centers_=fitted("birch").subcluster_centers_[:, :2].copy()),
        "sklearn.cluster._birch:Birch",
        "validation",
        "subcluster_centers_ has shape",
    ),
    "birch fewer labels than centres": (
        lambda: edit("birch", subcluster_labels_=np.zeros(1, dtype=np.intp)),
        "sklearn.cluster._birch:Birch",
        "validation",
        "subcluster_labels_ has 1 entries",
    ),
    "bisecting k-means node with one child": (
        lambda: _bisect(lambda root: setattr(root, "right", None)),
        "sklearn.cluster._bisect_k_means:BisectingKMeans",
        "validation",
        "one child",
    ),
    "bisecting k-means tree with a cycle": (
        lambda: _bisect(lambda root: vars(root.left).update(left=root, right=root.right)),
        "sklearn.cluster._bisect_k_means:BisectingKMeans",
        "validation",
        "not a tree",
    ),
    "bisecting k-means mean for one feature": (
        lambda: edit("bisect", _X_mean=np.zeros(1)),
        "sklearn.cluster._bisect_k_means:BisectingKMeans",
        "validation",
        "_X_mean has shape (1,)",
    ),
    # vocabularies: the columns of the sparse matrices the transforms build
    "count vectorizer column past its vocabulary": (
        lambda: _vocabulary("count", cat=10**8),
        "sklearn.feature_extraction.text:CountVectorizer",
        "validation",
        "are not 0..",
    ),
    "count vectorizer negative column": (
        lambda: _vocabulary("count", cat=-5),
        "sklearn.feature_extraction.text:CountVectorizer",
        "validation",
        "below 0",
    ),
    "count vectorizer vocabulary not a dict": (
        lambda: edit("count", vocabulary_=["cat"]),
        "sklearn.feature_extraction.text:CountVectorizer",
        "validation",
        "vocabulary_ is not a dict",
    ),
    "dict vectorizer column past its features": (
        lambda: _vocabulary("dict", a=10**8),
        "sklearn.feature_extraction._dict_vectorizer:DictVectorizer",
        "validation",
        "are not 0..",
    ),
    "dict vectorizer vocabulary naming other features": (
        lambda: _vocabulary("dict", a=1, b=0),
        "sklearn.feature_extraction._dict_vectorizer:DictVectorizer",
        "validation",
        "vocabulary_ is not feature_names_",
    ),
    "dict vectorizer fewer feature names": (
        lambda: edit("dict", feature_names_=["a"]),
        "sklearn.feature_extraction._dict_vectorizer:DictVectorizer",
        "validation",
        "columns, not 1",
    ),
    "feature hasher with no features": (
        lambda: edit("hasher", n_features=0),
        "sklearn.feature_extraction._hash:FeatureHasher",
        "validation",
        "its parameters are invalid",
    ),
    "feature hasher with 2**40 features": (
        lambda: edit("hasher", n_features=2**40),
        "sklearn.feature_extraction._hash:FeatureHasher",
        "validation",
        "its parameters are invalid",
    ),
    # scorers call estimator methods by name
    "scorer calling fit": (
        lambda: _scorer(_response_method="fit"),
        "sklearn.metrics._scorer:_Scorer",
        "validation",
        "_response_method is 'fit'",
    ),
    "scorer calling a dunder method": (
        lambda: _scorer(_response_method=("predict", "__reduce__")),
        "sklearn.metrics._scorer:_Scorer",
        "validation",
        "_response_method is",
    ),
    "scorer with sign 5": (
        lambda: _scorer(_sign=5),
        "sklearn.metrics._scorer:_Scorer",
        "validation",
        "_sign is not 1 or -1",
    ),
    "scorer with keyword arguments by number": (
        lambda: _scorer(_kwargs={1: 2}),
        "sklearn.metrics._scorer:_Scorer",
        "validation",
        "_kwargs is not a dict of names",
    ),
}


def _edited(qualified: str, change: Callable[[Any], None]) -> Callable[[], Any]:
    def build() -> Any:
        obj = copy.deepcopy(real(qualified))
        change(obj)
        return obj

    return build


def _cls(qualified: str) -> type:
    module, _, name = qualified.partition(":")
    return getattr(__import__(module, fromlist=[name]), name)  # type: ignore[no-any-return]


def _narrow_coef(obj: Any) -> None:
    obj.coef_ = obj.coef_[..., :2].copy()


def _set(**changes: Any) -> Callable[[Any], None]:
    return lambda obj: [setattr(obj, key, value(obj) if callable(value) else value) for key, value in changes.items()]


#: Per validator, a forged state that breaks one of its invariants, applied to every
#: class it validates (the table above has the other invariants, on one class each).
PER_CLASS: dict[str, tuple[str, Callable[[Any], None], str]] = {
    "sklearn_decision_tree": (
        "tree for a billion features",
        lambda m: setattr(m, "tree_", retree(m.tree_, 10**9, feature=_split_on(10**9 - 1))),
        "reads 1000000000 features",
    ),
    "sklearn_forest": ("no trees", _set(estimators_=[]), "non-empty list"),
    "sklearn_isolation_forest": ("no feature subsets", _set(estimators_features_=[]), "one entry per estimator"),
    "sklearn_bagging": (
        "feature index out of range",
        _set(estimators_features_=lambda m: [f + 100 for f in m.estimators_features_]),
        "out of range",
    ),
    "sklearn_gradient_boosting": ("float stages", _set(estimators_=np.zeros((3, 1))), "2-d object array"),
    "sklearn_hist_gradient_boosting": ("node past the input", _hgb_nodes("feature_idx", 1000), "past its 6"),
    "sklearn_svm": (
        "dual coefficients for more vectors",
        _set(_dual_coef_=lambda m: np.hstack([m._dual_coef_, m._dual_coef_])),
        "_dual_coef_ has shape",
    ),
    "sklearn_linear": ("coefficients for two features", _narrow_coef, "coef_ has shape"),
    "sklearn_kmeans": (
        "centres for two features",
        _set(cluster_centers_=lambda m: m.cluster_centers_[:, :2].copy()),
        ", 2)",
    ),
    "sklearn_neighbors": ("more samples than data", _set(n_samples_fit_=1000), "not 1000"),
    "sklearn_kernel_density": ("zero bandwidth", _set(bandwidth_=0.0), "bandwidth_"),
    "sklearn_bisecting_kmeans": (
        "a centre for one feature",
        lambda m: setattr(m._bisecting_tree.left, "center", np.zeros(1)),
        "a node's center has shape (1,)",
    ),
    "sklearn_hdbscan": (
        "a linkage of nodes that do not exist",
        lambda m: setattr(m, "_single_linkage_tree_", _linkage(left_node=10**12)),
        "do not exist yet",
    ),
    "sklearn_birch": ("one norm", _set(_subcluster_norms=np.zeros(1)), "_subcluster_norms has 1 entries"),
    "sklearn_count_vectorizer": (
        "a column past the vocabulary",
        lambda m: m.vocabulary_.update(cat=10**8),
        "are not 0..",
    ),
    "sklearn_dict_vectorizer": ("a column past the features", lambda m: m.vocabulary_.update(a=10**8), "are not 0.."),
    "sklearn_feature_hasher": ("no features", _set(n_features=0), "its parameters are invalid"),
}
for _validator_name, (_what, _change, _words) in PER_CLASS.items():
    for _qualified in _classes_with(_validator_name):
        ROWS[f"{_qualified} {_what}"] = (_edited(_qualified, _change), _qualified, "validation", _words)
        ROWS[f"{_qualified} never received its state"] = (
            partial(never_built, _cls(_qualified)),
            _qualified,
            "validation",
            "never received its state",
        )
for _qualified in _classes_with("sklearn_distance_metric"):
    _p = 1.5 if "Minkowski" not in _qualified else float("nan")
    ROWS[f"{_qualified} with p={_p}"] = (
        partial(lambda q, p: Reduce(*real(q).__reduce__()[:2], (p, np.zeros(0), np.zeros((1, 1)))), _qualified, _p),
        _qualified,
        "validation",
        f"p={_p}",
    )
for _qualified in _classes_with("sklearn_binary_tree"):
    ROWS[f"{_qualified} never BUILT"] = (
        partial(lambda q: Reduce(real(q).__reduce__()[0], real(q).__reduce__()[1]), _qualified),
        _qualified,
        "validation",
        "never BUILT",
    )


# -- controls: what plain pickle and the ordinary use do with some of the rows ----------

_PREDICT = "import numpy; obj.predict(numpy.random.RandomState(1).rand(20, 6)); print('returned')"
CONTROLS: dict[str, str] = {
    # each crashes the interpreter (measured: SIGSEGV on predict, or at exit after the
    # out-of-bounds writes); the other rows break invariants the same code relies on
    "tree made by its call, never BUILT": _PREDICT,
    "tree splits past the estimator's features": _PREDICT,
    "svc one support count per class too many": _PREDICT,
    "gradient boosting stages wider than its classes": _PREDICT,
    # measured: SIGSEGV in the union-find and in scipy's csr_todense, SIGFPE in the hasher
    "hdbscan linkage joins a node that does not exist": "obj.dbscan_clustering(0.5)",
    "count vectorizer column past its vocabulary": "obj.transform(['the cat']).toarray()",
    "dict vectorizer column past its features": "obj.transform([{'a': 1.0}]).toarray()",
    "feature hasher with no features": "obj.transform([{'a': 1.0}])",
}


_BALL_TREE_USE = (
    "import numpy; from sklearn.neighbors import BallTree\n"
    "q = numpy.random.RandomState(1).rand(5, 6)\n"
    "d, _ = obj.query(q, k=3)\n"
    "good, _ = BallTree(obj.get_arrays()[0], metric='minkowski', p=3, w=numpy.ones(6)).query(q, k=3)\n"
    "print('same' if numpy.allclose(d, good) else 'GARBAGE')"
)


_BIRCH_USE = (
    "import numpy\n"
    "q = numpy.random.RandomState(1).rand(200, 6)\n"
    "got = obj.predict(q)\n"
    "obj._subcluster_norms = (obj.subcluster_centers_ ** 2).sum(axis=1)\n"
    "print('same' if (got == obj.predict(q)).all() else 'GARBAGE')"
)


#: The controls' uses (source text, with the forged object as ``obj``) and what plain
#: pickle and the use do: die by a signal, or print GARBAGE (read past an array).
_CONTROL_USES: dict[str, tuple[str, str]] = {
    **{row: (use, "crash") for row, use in CONTROLS.items()},
    "ball tree metric with fewer weights than features": (_BALL_TREE_USE, "garbage"),
    "birch one norm for many centres": (_BIRCH_USE, "garbage"),
}


def _run_use(source: str, obj: Any) -> None:
    """A control's use, kept as the source text it was measured with."""
    exec(source, {"obj": obj})


def _row(key: str, build: Callable[[], Any], name: str, capability: str, words: str) -> Row:
    """A row of ``ROWS`` as the runner takes it: the built object pickled, its control."""
    use, control = _CONTROL_USES.get(key, (None, None))
    return Row(
        key,
        lambda: dumps(build()),
        name,
        words,
        capability,
        use=repr if use is None else partial(_run_use, use),
        control=control,
    )


POLICY = "sklearn"
MODULE = __name__
TABLE = [_row(key, *row) for key, row in ROWS.items()]
_outcomes, test_forged_state_is_refused_naming_the_class, test_control_the_forged_object_is_unsafe_with_pickle = (
    row_tests(MODULE, "TABLE")
)


# -- real fitted objects load and behave identically --------------------------------------


def test_every_validated_class_has_a_real_object_test() -> None:
    text = (Path(picklefence.__file__).parent / "policies" / "sklearn.toml").read_text()
    assert set(re.findall(r'validate = "(\w+)"', text)) == set(DIRECT) | set(INSIDE)


@pytest.mark.parametrize("qualified", REAL)
def test_real_fitted_objects_load_and_behave_identically(qualified: str) -> None:
    obj = real(qualified)
    data = pickle.dumps(obj, 4)
    loaded = picklefence.loads(data, policy="sklearn")
    assert type(loaded) is type(obj)
    np.testing.assert_array_equal(
        np.asarray(_use(loaded), dtype=object), np.asarray(_use(pickle.loads(data)), dtype=object)
    )


def test_real_categorical_histogram_boosting_behaves_identically() -> None:
    cats = np.c_[RNG.randint(0, 5, 90), X[:, 1:]]
    model = ensemble.HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(cats, Y3)
    model._preprocessor = None  # (a ColumnTransformer holding a functools.partial: not in the policy)
    loaded = picklefence.loads(pickle.dumps(model, 5), policy="sklearn")
    assert loaded._bin_mapper.is_categorical_[0] == 1
    np.testing.assert_array_equal(loaded._raw_predict(cats), model._raw_predict(cats))


def test_unfitted_estimators_load() -> None:
    pipeline = [tree.DecisionTreeClassifier(), svm.SVC(), cluster.KMeans(3), ensemble.GradientBoostingRegressor()]
    loaded = picklefence.loads(pickle.dumps(pipeline, 4), policy="sklearn")
    assert [type(m) for m in loaded] == [type(m) for m in pipeline]


JOBLIB_ROWS = ["tree splits past the estimator's features", "svc one support count per class too many"]


@pytest.mark.parametrize("row", JOBLIB_ROWS)
def test_joblib_files_are_validated_too(row: str) -> None:
    joblib = pytest.importorskip("joblib")
    import picklefence.joblib

    build, name, capability, _words = ROWS[row]
    buffer = io.BytesIO()
    joblib.dump(build(), buffer)  # (its arrays are written outside the pickle)
    buffer.seek(0)
    with pytest.raises(picklefence.PolicyViolation) as info:
        picklefence.joblib.load(buffer)  # refused: never used here
    assert (info.value.name, info.value.capability) == (name, capability)
