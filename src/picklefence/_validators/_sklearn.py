"""Validators and checks for scikit-learn objects (see the package docstring).

scikit-learn checks the input of ``predict``/``transform`` against the estimator's
``n_features_in_`` and then hands its fitted arrays to Cython (and libsvm) code that
indexes them without bounds checks.  Each validator here states, for one family, what
that code assumes of the fitted state, as cross-object invariants: a tree's features
against the *estimator's* input width, a forest's trees against the forest, libsvm's
arrays against each other.  An estimator that is not fitted at all (``check_is_fitted``
would refuse it: no attribute ending in ``_``) is safe, since ``fit`` rebuilds
everything; one that never received its state, or is fitted with part of its state
missing, is refused.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

from .._rules import Check, Validator
from ._invariants import Invalid as _Invalid
from ._invariants import need as _need
from ._invariants import validator as _validator

_MAX_THREADS = 4096  # OpenMP thread counts stored in fitted k-means


def _fitted(obj: Any, *names: str) -> bool:
    """Whether ``obj`` is fitted: it has all of ``names`` (the state its validator
    needs).  One with none of them that ``check_is_fitted`` would refuse (no attribute
    ending in ``_``) is not; one in between, or without any state, is refused."""
    state: Any = getattr(obj, "__dict__", None)
    _need(state, "it never received its state")
    missing = [name for name in names if name not in state]
    if not missing:
        return True
    if len(missing) == len(names) and not any(key.endswith("_") and not key.startswith("__") for key in state):
        return False
    raise _Invalid(f"it is fitted but has no {missing[0]}")


def _np() -> Any:
    return sys.modules["numpy"]


def _int(value: Any, what: str, low: int = 0) -> int:
    if type(value) is not int:
        _need(isinstance(value, _np().integer), f"{what} is not an integer")
        value = int(value)
    if value < low:
        raise _Invalid(f"{what} is {value}, below {low}")
    return value  # type: ignore[no-any-return]


def _array(value: object, what: str, ndim: int | None = None, kinds: str = "fiub") -> Any:
    """``value`` as a numeric ndarray (never an object array) of ``ndim`` dimensions."""
    numpy = _np()
    _need(isinstance(value, numpy.ndarray), f"{what} is not an array")
    assert isinstance(value, numpy.ndarray)
    _need(value.dtype.kind in kinds, f"{what} has dtype {value.dtype}")
    _need(ndim is None or value.ndim == ndim, f"{what} has {value.ndim} dimensions, not {ndim}")
    return value


def _module_class(module: str, name: str) -> type:
    return getattr(sys.modules[module], name)  # type: ignore[no-any-return]


# -- decision trees -----------------------------------------------------------------------


@_validator
def sklearn_tree(tree: Any) -> None:
    """``Tree``: prediction starts at node 0, so a tree without nodes (made by its call and
    never BUILT, or BUILT with none) dereferences NULL.  The nodes themselves are checked
    before BUILD (``sklearn_tree_state``) against the tree's ``n_features``, which is fixed
    by its call."""
    _need(tree.node_count >= 1, "it has no nodes (it was never BUILT)")
    _need(tree.n_outputs >= 1 and tree.max_n_classes >= 1, "it has no outputs or classes")


_TREE_CLASSES = ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor")


def _tree_of(estimator: Any, n_features: int, what: str | int) -> Any:
    """The ``Tree`` of a fitted tree estimator whose input width is ``n_features``
    (``what``: "it", or its index in a forest).  Forests hold hundreds: the messages are
    only made for a failure."""
    cls = type(estimator)
    state: Any = getattr(estimator, "__dict__", None)
    tree: Any = state.get("tree_") if state else None
    if cls.__name__ not in _TREE_CLASSES or cls.__module__ != "sklearn.tree._classes":
        raise _Invalid(f"{_name(what)} is a {cls.__name__}, not a decision tree")
    if type(tree) is not sys.modules["sklearn.tree._tree"].Tree:
        raise _Invalid(f"{_name(what)} has no Tree")
    if state.get("n_features_in_") != n_features or tree.n_features != n_features:
        raise _Invalid(f"{_name(what)} reads {tree.n_features} features, not the {n_features} its input has")
    return tree


def _name(what: str | int) -> str:
    return what if isinstance(what, str) else f"tree {what}"


@_validator
def sklearn_decision_tree(obj: Any) -> None:
    """``DecisionTree*``/``ExtraTree*``: ``predict`` checks the input against
    ``n_features_in_``, then the tree reads the features its nodes name, bounded only by
    the ``Tree``'s own ``n_features`` (which the pickle sets): the two must agree."""
    if not _fitted(obj, "tree_", "n_features_in_", "n_outputs_"):
        return
    tree = _tree_of(obj, _int(obj.n_features_in_, "n_features_in_", 1), "it")
    if tree.n_outputs != obj.n_outputs_:
        raise _Invalid(f"its tree has {tree.n_outputs} outputs, not {obj.n_outputs_}")


@_validator
def sklearn_forest(obj: Any) -> None:
    """Random forests, extra trees, random trees embedding: the forest checks the input
    against its own ``n_features_in_``, then calls every tree with ``check_input=False``."""
    if not _fitted(obj, "estimators_", "n_features_in_"):
        return
    n_features = _int(obj.n_features_in_, "n_features_in_", 1)
    outputs = getattr(obj, "n_outputs_", 1)
    estimators = obj.estimators_
    _need(type(estimators) is list and estimators, "estimators_ is not a non-empty list")
    for index, estimator in enumerate(estimators):
        if _tree_of(estimator, n_features, index).n_outputs != outputs:
            raise _Invalid(f"tree {index} has several outputs, not {outputs}")


def _feature_sets(obj: Any, n_features: int) -> Sequence[Any]:
    """Bagging's ``estimators_features_``: one array of column indices per estimator."""
    features = obj.estimators_features_
    _need(
        type(features) is list and len(features) == len(obj.estimators_),
        "estimators_features_ does not have one entry per estimator",
    )
    for columns in features:
        columns = _array(columns, "a feature subset", 1, "iu")
        inside = columns.size == 0 or (columns.min() >= 0 and columns.max() < n_features)
        _need(inside, "a feature index is out of range")
    return features  # type: ignore[no-any-return]


@_validator
def sklearn_isolation_forest(obj: Any) -> None:
    """``IsolationForest`` calls ``tree.apply(X[:, features], check_input=False)`` on each
    tree (the whole ``X`` when it did not subsample features)."""
    if not _fitted(obj, "estimators_", "estimators_features_", "n_features_in_", "_max_features"):
        return
    n_features = _int(obj.n_features_in_, "n_features_in_", 1)
    _need(type(obj.estimators_) is list and obj.estimators_, "estimators_ is not a non-empty list")
    subsample = obj._max_features != n_features
    for index, (tree, columns) in enumerate(zip(obj.estimators_, _feature_sets(obj, n_features), strict=True)):
        _tree_of(tree, len(columns) if subsample else n_features, index)


@_validator
def sklearn_bagging(obj: Any) -> None:
    """``Bagging*`` calls each estimator on ``X[:, features]`` through its public
    methods: each must be fitted for exactly those columns."""
    if not _fitted(obj, "estimators_", "estimators_features_", "n_features_in_"):
        return
    n_features = _int(obj.n_features_in_, "n_features_in_", 1)
    _need(type(obj.estimators_) is list, "estimators_ is not a list")
    for index, (estimator, columns) in enumerate(zip(obj.estimators_, _feature_sets(obj, n_features), strict=True)):
        width = getattr(estimator, "n_features_in_", None)
        _need(width == len(columns), f"estimator {index} takes {width} features, not its {len(columns)}")


@_validator
def sklearn_gradient_boosting(obj: Any) -> None:
    """``GradientBoosting*``: ``predict_stages`` walks ``estimators_`` (n_stages x K) and
    adds tree ``[i, k]`` into column ``k`` of the init estimator's raw predictions, with no
    bounds checks: K must be the model's trees per stage, the init predictions that wide,
    and every entry a regression tree reading the model's features."""
    if not _fitted(obj, "estimators_", "n_features_in_", "n_trees_per_iteration_", "init_", "_loss"):
        return
    numpy = _np()
    n_features = _int(obj.n_features_in_, "n_features_in_", 1)
    k = _int(obj.n_trees_per_iteration_, "n_trees_per_iteration_", 1)
    stages = obj.estimators_
    _need(
        isinstance(stages, numpy.ndarray) and stages.dtype == object and stages.ndim == 2,
        "estimators_ is not a 2-d object array",
    )
    _need(stages.shape[0] >= 1 and stages.shape[1] == k, f"estimators_ has shape {stages.shape}, not (n, {k})")
    classifier = hasattr(obj, "classes_")
    if classifier:
        n_classes = _int(obj.n_classes_, "n_classes_", 2)
        _need(len(obj.classes_) == n_classes, "classes_ does not hold n_classes_ classes")
        _need(k == (1 if n_classes == 2 else n_classes), f"{k} trees per stage for {n_classes} classes")
        _need(bool(obj._loss.is_multiclass) == (k > 1), "its loss does not match its classes")
    else:
        _need(k == 1, f"a regressor with {k} trees per stage")
    init = obj.init_
    if not (isinstance(init, str) and init == "zero"):
        width = _dummy_width(init, classifier)
        _need(width == (k if k > 1 else width), f"its init estimator predicts {width} columns, not {k}")
    for index, tree in enumerate(stages.flat):
        if type(tree).__name__ != "DecisionTreeRegressor":
            raise _Invalid(f"estimators_ entry {index} is not a regression tree")
        if _tree_of(tree, n_features, index).n_outputs != 1:
            raise _Invalid(f"tree {index} has several outputs")


def _dummy_width(init: Any, classifier: bool) -> int:
    """Columns of the raw predictions the init estimator starts from: its
    ``predict_proba`` (classifiers) or ``predict`` (one output, made 1-d).  Only the
    dummy estimators ``fit`` makes tell it from their state: another init estimator's
    width would only show at predict, after ``predict_stages`` wrote by K."""
    state: Any = getattr(init, "__dict__", None) or {}
    expected = "DummyClassifier" if classifier else "DummyRegressor"
    _need(
        type(init).__name__ == expected and type(init).__module__ == "sklearn.dummy",
        f"its init estimator is a {type(init).__name__}, not 'zero' or a {expected}",
    )
    _need(state.get("n_outputs_") == 1, "its init estimator has other than one output")
    if not classifier:
        return 1
    prior, n_classes = state.get("class_prior_"), state.get("n_classes_")
    _need(
        isinstance(prior, _np().ndarray)
        and prior.shape == (n_classes,)
        and len(state.get("classes_", ())) == n_classes,
        "its init estimator's classes disagree",
    )
    return int(n_classes)


# -- histogram gradient boosting ---------------------------------------------------------


_PREDICTOR_FIELDS = ("left", "right", "is_leaf", "feature_idx", "is_categorical", "bitset_idx")


def predictor_problem(nodes: object, bitsets: object) -> str | None:
    """What ``_predict_from_raw_data`` assumes of a ``TreePredictor``: node 0 exists,
    inner nodes point forward to nodes that exist, features are not negative, category
    bitsets are ``(n, 8)`` words and categorical nodes name one that exists."""
    numpy = _np()
    if not isinstance(nodes, numpy.ndarray) or nodes.ndim != 1 or not nodes.size:
        return "its nodes are not a non-empty 1-d array"
    if not set(_PREDICTOR_FIELDS) <= set(nodes.dtype.names or ()):
        return "its nodes lack the predictor fields"
    if not isinstance(bitsets, numpy.ndarray) or bitsets.ndim != 2 or bitsets.shape[1] != 8:
        return "its category bitsets are not an (n, 8) array"
    count = len(nodes)
    inner = nodes["is_leaf"] == 0
    index = numpy.flatnonzero(inner)
    left, right = nodes["left"][inner], nodes["right"][inner]
    if not numpy.all((left > index) & (left < count) & (right > index) & (right < count)):
        return "a node's child is not a later node"
    if not numpy.all(nodes["feature_idx"][inner] >= 0):
        return "a node splits on a negative feature"
    categorical = inner & (nodes["is_categorical"] != 0)
    bitset = nodes["bitset_idx"][categorical]
    if bitset.size and (bitset.min() < 0 or bitset.max() >= len(bitsets)):
        return "a categorical node names a bitset that does not exist"
    return None


@_validator
def sklearn_tree_predictor(obj: Any) -> None:
    """``TreePredictor``: see :func:`predictor_problem`."""
    state = getattr(obj, "__dict__", None)
    _need(state, "it never received its state")
    problem = predictor_problem(state.get("nodes"), state.get("raw_left_cat_bitsets"))  # type: ignore[union-attr]
    _need(problem is None, str(problem))


@_validator
def sklearn_bin_mapper(obj: Any) -> None:
    """``_BinMapper``: ``transform`` checks the input's width against
    ``n_bins_non_missing_`` and then indexes ``is_categorical_`` and ``bin_thresholds_``
    per column, writing bin numbers into a uint8 array."""
    if not _fitted(obj, "is_categorical_", "bin_thresholds_", "n_bins_non_missing_", "missing_values_bin_idx_"):
        return
    width = len(_array(obj.n_bins_non_missing_, "n_bins_non_missing_", 1, "iu"))
    categorical = _array(obj.is_categorical_, "is_categorical_", 1, "u")
    _need(categorical.dtype.itemsize == 1 and len(categorical) == width, "is_categorical_ is not one byte per feature")
    _need(
        type(obj.bin_thresholds_) is list and len(obj.bin_thresholds_) == width,
        "bin_thresholds_ is not one array per feature",
    )
    for thresholds in obj.bin_thresholds_:
        _need(len(_array(thresholds, "a bin threshold array", 1, "f")) <= 255, "a feature has more than 255 bins")
    missing = _int(obj.missing_values_bin_idx_, "missing_values_bin_idx_")
    _need(missing <= 255, "the missing-values bin is past 255")


@_validator
def sklearn_hist_gradient_boosting(obj: Any) -> None:
    """``HistGradientBoosting*``: every predictor reads the features its nodes name from
    an input checked only against ``n_features_in_``, and categorical nodes look their
    feature up in the bin mapper's category table."""
    if not _fitted(obj, "_predictors", "_bin_mapper", "n_features_in_", "n_trees_per_iteration_"):
        return
    numpy = _np()
    n_features = _int(obj.n_features_in_, "n_features_in_", 1)
    k = _int(obj.n_trees_per_iteration_, "n_trees_per_iteration_", 1)
    predictor_class = _module_class("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor")
    stages = obj._predictors
    _need(type(stages) is list, "_predictors is not a list")
    nodes = []
    for stage in stages:
        _need(type(stage) is list and len(stage) == k, f"a stage does not hold {k} predictors")
        for predictor in stage:
            _need(type(predictor) is predictor_class, "a predictor is not a TreePredictor")
            nodes.append(predictor.nodes)
    mapper = obj._bin_mapper
    _need(
        type(mapper) is _module_class("sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper"),
        "_bin_mapper is not a _BinMapper",
    )
    categorical_features: Any = getattr(mapper, "is_categorical_", None)
    _need(
        isinstance(categorical_features, numpy.ndarray) and categorical_features.shape == (n_features,),
        "its bin mapper does not describe its features",
    )
    if not nodes:
        return
    every = numpy.concatenate(nodes)
    inner = every["is_leaf"] == 0
    feature = every["feature_idx"][inner]
    _need(
        not feature.size or (feature.min() >= 0 and feature.max() < n_features),
        f"a node splits on a feature past its {n_features}",
    )
    categorical = every["feature_idx"][inner & (every["is_categorical"] != 0)]
    _need(numpy.all(categorical_features[categorical] != 0), "a categorical node splits on a numeric feature")


# -- support vector machines ------------------------------------------------------------


_LIBSVM_STATE = (
    "support_",
    "support_vectors_",
    "_n_support",
    "_dual_coef_",
    "_intercept_",
    "_probA",
    "_probB",
    "shape_fit_",
)
_LIBSVM_KERNELS = frozenset({"linear", "poly", "rbf", "sigmoid", "precomputed"})


@_validator
def sklearn_svm(obj: Any) -> None:
    """``SVC``/``NuSVC``/``SVR``/``NuSVR``/``OneClassSVM``: libsvm's ``set_model`` copies
    ``n_support`` per class, ``k(k-1)/2`` intercepts and probability pairs, takes one
    row of dual coefficients per class but one, and iterates ``len(support_)`` support
    vectors split by the counts — all without checking one against another (sklearn
    checks only the counts' sum, CVE-2020-28975).  A callable kernel would be called
    later with the pickle's choice of function: only libsvm's own kernels."""
    if not _fitted(obj, *_LIBSVM_STATE):
        return
    numpy = _np()
    _need(obj._impl == type(obj)._impl, f"its libsvm type {obj._impl!r} is not its class's")
    _need(isinstance(obj.kernel, str) and obj.kernel in _LIBSVM_KERNELS, f"kernel {obj.kernel!r} is not libsvm's")
    _need(obj._sparse is False, "it was fitted on sparse data")
    for name in ("degree", "_gamma", "coef0"):
        value = getattr(obj, name)
        _need(isinstance(value, int | float | numpy.number) and math.isfinite(value), f"{name} is not a finite number")
    support = _array(obj.support_, "support_", 1, "i")
    vectors = _array(obj.support_vectors_, "support_vectors_", 2, "f")
    counts = _array(obj._n_support, "_n_support", 1, "i")
    dual = _array(obj._dual_coef_, "_dual_coef_", 2, "f")
    intercept = _array(obj._intercept_, "_intercept_", 1, "f")
    shape_fit = obj.shape_fit_
    _need(type(shape_fit) is tuple and len(shape_fit) == 2, "shape_fit_ is not a shape")
    n_sv, n_classes = len(support), len(counts)
    classifier = obj._impl in ("c_svc", "nu_svc")
    _need(n_classes >= 2 and (classifier or n_classes == 2), f"_n_support has {n_classes} entries")
    _need(not classifier or n_classes == len(obj.classes_), "_n_support does not have one count per class")
    _need(numpy.all(counts >= 0), "_n_support has a negative count")
    _need(not classifier or int(counts.sum()) == n_sv, f"_n_support adds up to {counts.sum()}, not {n_sv}")
    _need(dual.shape == (n_classes - 1, n_sv), f"_dual_coef_ has shape {dual.shape}, not {(n_classes - 1, n_sv)}")
    pairs = n_classes * (n_classes - 1) // 2
    _need(intercept.shape == (pairs,), f"_intercept_ has {len(intercept)} entries, not {pairs}")
    for name in ("_probA", "_probB"):
        probability = _array(getattr(obj, name), name, 1, "f")
        _need(probability.size in (0, pairs), f"{name} has {probability.size} entries, not {pairs}")
    _need(obj._probA.size == obj._probB.size, "_probA and _probB differ in size")
    _need(support.size == 0 or (support.min() >= 0 and support.max() < shape_fit[0]), "a support index is out of range")
    if obj.kernel == "precomputed":
        _need(obj.n_features_in_ == shape_fit[0], "its precomputed kernel is not square")
    else:
        _need(vectors.shape == (n_sv, obj.n_features_in_), f"support_vectors_ has shape {vectors.shape}")


# -- linear models ----------------------------------------------------------------------


@_validator
def sklearn_linear(obj: Any) -> None:
    """Linear models: ``coef_`` one row of ``n_features_in_`` weights per target (warm
    starts and ``partial_fit`` hand it to Cython solvers that index it by the input's
    columns), ``intercept_`` one per row; SGD's averaged copies the same shapes."""
    if not _fitted(obj, "coef_", "n_features_in_"):
        return
    n_features = _int(obj.n_features_in_, "n_features_in_", 1)
    coef = _array(obj.coef_, "coef_", None, "f")
    _need(coef.ndim in (1, 2) and coef.shape[-1] == n_features, f"coef_ has shape {coef.shape}")
    rows = 1 if coef.ndim == 1 else coef.shape[0]
    intercept = getattr(obj, "intercept_", 0.0)
    if not isinstance(intercept, int | float):
        intercept = _array(intercept, "intercept_", None, "f")
        _need(intercept.ndim == 0 or intercept.shape == (rows,), f"intercept_ has shape {intercept.shape}")
    for name, like in (("_standard_coef", coef), ("_average_coef", coef)):
        if name in vars(obj):
            _need(_array(getattr(obj, name), name, None, "f").shape == like.shape, f"{name} is not shaped like coef_")
    for name in ("_standard_intercept", "_average_intercept"):
        if name in vars(obj) and not isinstance(intercept, int | float):
            value = _array(getattr(obj, name), name, None, "f")
            _need(value.shape == intercept.shape, f"{name} is not shaped like intercept_")


# -- clustering and neighbours ----------------------------------------------------------


@_validator
def sklearn_kmeans(obj: Any) -> None:
    """``KMeans``/``MiniBatchKMeans``: ``predict`` checks the input against
    ``n_features_in_``; the Cython assignment reads ``cluster_centers_`` with the input's
    row length, on ``_n_threads`` OpenMP threads."""
    if not _fitted(obj, "cluster_centers_", "n_features_in_", "_n_threads"):
        return
    n_features = _int(obj.n_features_in_, "n_features_in_", 1)
    centers = _array(obj.cluster_centers_, "cluster_centers_", 2, "f")
    _need(centers.shape[0] >= 1 and centers.shape[1] == n_features, f"cluster_centers_ has shape {centers.shape}")
    _need(1 <= _int(obj._n_threads, "_n_threads", 1) <= _MAX_THREADS, "_n_threads is out of range")


@_validator
def sklearn_bisecting_kmeans(obj: Any) -> None:
    """``BisectingKMeans``: ``predict`` walks ``_bisecting_tree`` and hands each node's two
    child centers (plus ``_X_mean``) to the Cython assignment, which reads them with the
    input's row length: every center must be ``n_features_in_`` wide, the tree a tree
    (children in pairs, no node twice) with integer leaf labels."""
    if not _fitted(obj, "_bisecting_tree", "n_features_in_", "_n_threads"):
        return
    n_features = _int(obj.n_features_in_, "n_features_in_", 1)
    _need(1 <= _int(obj._n_threads, "_n_threads", 1) <= _MAX_THREADS, "_n_threads is out of range")
    if "_X_mean" in vars(obj):
        mean = _array(obj._X_mean, "_X_mean", 1, "f")
        _need(mean.shape == (n_features,), f"_X_mean has shape {mean.shape}")
    tree_class = _module_class("sklearn.cluster._bisect_k_means", "_BisectingTree")
    seen: set[int] = set()
    pending = [obj._bisecting_tree]
    while pending:
        node = pending.pop()
        _need(
            type(node) is tree_class and id(node) not in seen, "_bisecting_tree is not a tree of _BisectingTree nodes"
        )
        seen.add(id(node))
        center = _array(getattr(node, "center", None), "a node's center", 1, "f")
        _need(center.shape == (n_features,), f"a node's center has shape {center.shape}")
        left, right = getattr(node, "left", None), getattr(node, "right", None)
        if left is None and right is None:
            _int(getattr(node, "label", None), "a leaf's label", -1)
        else:
            _need(left is not None and right is not None, "a node has one child")
            pending += [left, right]


@_validator
def sklearn_birch(obj: Any) -> None:
    """``Birch``: ``predict`` hands ``subcluster_centers_`` and their squared norms
    (``_subcluster_norms``) to the Cython argmin, which reads one norm per center
    without checking the length: one norm per center, centers ``n_features_in_`` wide,
    one label per center."""
    if not _fitted(obj, "subcluster_centers_", "_subcluster_norms", "n_features_in_"):
        return
    centers = _array(obj.subcluster_centers_, "subcluster_centers_", 2, "f")
    n_features = _int(obj.n_features_in_, "n_features_in_", 1)
    _need(centers.shape[0] >= 1 and centers.shape[1] == n_features, f"subcluster_centers_ has shape {centers.shape}")
    norms = _array(obj._subcluster_norms, "_subcluster_norms", 1, "f")
    _need(norms.shape == (centers.shape[0],), f"_subcluster_norms has {norms.size} entries for {len(centers)} centers")
    if "subcluster_labels_" in vars(obj):
        labels = _array(obj.subcluster_labels_, "subcluster_labels_", 1, "iu")
        _need(labels.shape == (centers.shape[0],), f"subcluster_labels_ has {labels.size} entries")


_LINKAGE_FIELDS = ("left_node", "right_node", "value", "cluster_size")


@_validator
def sklearn_hdbscan(obj: Any) -> None:
    """``HDBSCAN``: ``dbscan_clustering`` hands ``_single_linkage_tree_`` to Cython that
    unions its node numbers in a table of 2n-1 entries without bounds checks: row i of
    the linkage of n points joins two nodes made before it (below n + i); ``labels_``
    one per point."""
    if not _fitted(obj, "_single_linkage_tree_", "labels_"):
        return
    linkage = obj._single_linkage_tree_
    _need(isinstance(linkage, _np().ndarray) and linkage.ndim == 1, "_single_linkage_tree_ is not a 1-D array")
    _need(linkage.dtype.names == _LINKAGE_FIELDS, "_single_linkage_tree_ does not have the linkage fields")
    numpy = _np()
    n = len(linkage) + 1
    left, right = linkage["left_node"], linkage["right_node"]
    limit = n + numpy.arange(len(linkage))
    _need(
        numpy.all((left >= 0) & (left < limit) & (right >= 0) & (right < limit)),
        "_single_linkage_tree_ joins nodes that do not exist yet",
    )
    labels = _array(obj.labels_, "labels_", 1, "i")
    _need(len(labels) == n, f"labels_ has {len(labels)} entries for {n} points")


# -- text and feature extraction -------------------------------------------------------------


def _vocabulary(vocabulary: object, size: int | None, what: str) -> None:
    """A fitted vocabulary: str (or any hashable a DictVectorizer saw) to column, the
    columns exactly 0..n-1 — the transforms build sparse matrices n columns wide from
    these numbers, which scipy's C++ then indexes without checking."""
    _need(type(vocabulary) is dict, f"{what} is not a dict")
    assert isinstance(vocabulary, dict)
    columns = sorted(_int(column, f"a column of {what}") for column in vocabulary.values())
    _need(columns == list(range(len(columns))), f"the columns of {what} are not 0..{len(columns) - 1}")
    _need(size is None or size == len(columns), f"{what} has {len(columns)} columns, not {size}")


def _own_params(obj: Any) -> None:
    """scikit-learn's own parameter validation (what ``fit`` runs first): the transforms
    of stateless extractors use their parameters as given (``n_features`` as a divisor
    in C: 0 is a SIGFPE)."""
    _need(getattr(obj, "__dict__", None), "it never received its state")
    try:
        obj._validate_params()
    except Exception as exc:  # (an InvalidParameterError, or forged state breaking it)
        raise _Invalid(f"its parameters are invalid: {exc}") from None


@_validator
def sklearn_count_vectorizer(obj: Any) -> None:
    """``CountVectorizer``/``TfidfVectorizer``: valid parameters, and a fitted
    ``vocabulary_`` whose columns are 0..n-1 (a column past n writes outside the dense
    array ``toarray()`` makes)."""
    _own_params(obj)
    state = getattr(obj, "__dict__", {})
    if "vocabulary_" in state:
        _vocabulary(state["vocabulary_"], None, "vocabulary_")


@_validator
def sklearn_dict_vectorizer(obj: Any) -> None:
    """``DictVectorizer``: ``vocabulary_`` maps each of ``feature_names_`` to its own
    position in it (``transform`` builds a matrix ``len(vocabulary_)`` wide)."""
    _own_params(obj)
    if not _fitted(obj, "vocabulary_", "feature_names_"):
        return
    names = obj.feature_names_
    _need(type(names) is list, "feature_names_ is not a list")
    _vocabulary(obj.vocabulary_, len(names), "vocabulary_")
    _need(all(names[column] == name for name, column in obj.vocabulary_.items()), "vocabulary_ is not feature_names_")


@_validator
def sklearn_feature_hasher(obj: Any) -> None:
    """``FeatureHasher``/``HashingVectorizer``: stateless, so only their parameters,
    by scikit-learn's own validation (``n_features`` from 1 to 2**31 - 1)."""
    _own_params(obj)


# -- scorers -------------------------------------------------------------------------------

_RESPONSE_METHODS = frozenset({"predict", "predict_proba", "decision_function"})


@_validator
def sklearn_scorer(obj: Any) -> None:
    """Scorers: ``_response_method`` names the estimator methods the scorer calls by name
    (``getattr``), so only prediction methods; a sign of 1 or -1; keyword arguments for
    the metric by name.  The metric itself is a global the policy let be a value."""
    state: Any = getattr(obj, "__dict__", None)
    _need(state, "it never received its state")
    if "_scorers" in state:  # _MultimetricScorer: a dict of scorers, each validated itself
        _need(type(state["_scorers"]) is dict, "_scorers is not a dict")
        return
    method = state.get("_response_method")
    methods = method if type(method) in (tuple, list) else (method,)
    _need(methods and all(m in _RESPONSE_METHODS for m in methods), f"_response_method is {method!r}")
    _need(state.get("_sign") in (1, -1), "_sign is not 1 or -1")
    kwargs = state.get("_kwargs")
    _need(type(kwargs) is dict and all(type(k) is str for k in kwargs), "_kwargs is not a dict of names")


_METRIC_P = {"EuclideanDistance": 2.0, "ManhattanDistance": 1.0, "ChebyshevDistance": math.inf}


def _metric_problem(metric: Any, n_features: int | None) -> str | None:
    """A distance metric's state: the ``p`` its class computes with, and Minkowski weights
    (non-negative, finite, one per feature of the data it measures)."""
    numpy = _np()
    name = type(metric).__name__
    if type(metric).__module__ != "sklearn.metrics._dist_metrics":
        return f"its metric is a {name}"
    p, weights = metric.__getstate__()[:2]
    base = name.removesuffix("64").removesuffix("32")
    if base in _METRIC_P:
        return None if p == _METRIC_P[base] else f"{name} has p={p}"
    if base != "MinkowskiDistance":
        return f"{name} is not a shipped metric"
    if not (isinstance(p, float) and 0 < p < math.inf):
        return f"{name} has p={p}"
    weights = numpy.asarray(weights)
    if weights.size and not (numpy.all(numpy.isfinite(weights)) and numpy.all(weights >= 0) and weights.any()):
        return "its Minkowski weights are not finite, non-negative and not all zero"
    if n_features is not None and weights.size not in (0, n_features):
        return f"its metric holds {weights.size} weights for {n_features} features"
    return None


@_validator
def sklearn_distance_metric(obj: Any) -> None:
    """``*Distance64``/``*Distance32``: see :func:`_metric_problem`."""
    problem = _metric_problem(obj, None)
    _need(problem is None, str(problem))


def binary_tree_problem(state: object) -> str | None:
    """What ``KDTree``/``BallTree`` queries assume of their state: they walk nodes 2i+1 and
    2i+2 and read ``data[idx_array[idx_start:idx_end]]`` without bounds checks, so the
    index array is a permutation of the rows, every node's range lies inside it, inner
    nodes have children, bounds cover every node, and the metric measures the data's
    features."""
    numpy = _np()
    if type(state) is not tuple or len(state) < 12:
        return "its state is not a binary tree's"
    data, idx, nodes, bounds, _leaf_size, _levels, n_nodes = state[:7]
    weights = state[12] if len(state) > 12 else None
    if type(n_nodes) is not int or not all(isinstance(a, numpy.ndarray) for a in (data, idx, nodes, bounds)):
        return "its arrays are missing"
    if data.ndim != 2 or idx.ndim != 1 or nodes.ndim != 1 or bounds.ndim != 3:
        return "its arrays have the wrong dimensions"
    rows, features = data.shape
    if rows < 1 or len(idx) != rows or not numpy.array_equal(numpy.sort(idx), numpy.arange(rows)):
        return "its index array is not a permutation of its rows"
    if n_nodes < 1 or len(nodes) != n_nodes or bounds.shape[0] not in (1, 2) or bounds.shape[1:] != (n_nodes, features):
        return "its nodes or bounds do not match its node count"
    if not {"idx_start", "idx_end", "is_leaf"} <= set(nodes.dtype.names or ()):
        return "its nodes lack the node fields"
    start, end = nodes["idx_start"], nodes["idx_end"]
    inner = numpy.flatnonzero(nodes["is_leaf"] == 0)
    if weights is not None and (not isinstance(weights, numpy.ndarray) or weights.shape != (rows,)):
        return "its sample weights are not one per row"
    if not (numpy.all((start >= 0) & (start <= end) & (end <= rows)) and numpy.all(2 * inner + 2 < n_nodes)):
        return "a node's range or children lie outside the tree"
    return _metric_problem(state[11], features)


@_validator
def sklearn_binary_tree(obj: Any) -> None:
    """``KDTree``/``BallTree``: see :func:`binary_tree_problem` (one made by ``newObj`` and
    never BUILT has a one-row placeholder and no metric)."""
    state = obj.__getstate__()
    _need(state[11] is not None, "it has no distance metric (it was never BUILT)")
    problem = binary_tree_problem(state)
    _need(problem is None, str(problem))


_FIT_METHODS = {"brute": None, "kd_tree": "KDTree", "ball_tree": "BallTree"}


@_validator
def sklearn_neighbors(obj: Any) -> None:
    """Nearest-neighbour estimators: queries go to ``_tree`` (KD or ball tree, which checks
    the query's width against its own data) or, by brute force, to Cython reductions over
    ``_fit_X``; both must be the data the estimator was fitted on.  A callable metric
    would be called later with the pickle's choice of function: only named metrics."""
    if not _fitted(obj, "_fit_X", "_fit_method", "n_samples_fit_", "effective_metric_"):
        return
    _need(isinstance(obj.effective_metric_, str), "its metric is not a metric name")
    _need(obj._fit_method in _FIT_METHODS, f"fit method {obj._fit_method!r} is unknown")
    data = _array(obj._fit_X, "_fit_X", 2, "fiub")
    n_samples = _int(obj.n_samples_fit_, "n_samples_fit_", 1)
    _need(data.shape[0] == n_samples, f"_fit_X has {data.shape[0]} rows, not {n_samples}")
    _need(data.shape[1] == getattr(obj, "n_features_in_", data.shape[1]), "_fit_X is not n_features_in_ wide")
    tree: Any = getattr(obj, "_tree", None)
    expected = _FIT_METHODS[obj._fit_method]
    if expected is None:
        _need(tree is None, "a brute-force model holds a tree")
    else:
        _need(type(tree).__name__ == expected, f"its {obj._fit_method} is a {type(tree).__name__}")
        _need(tree.data.shape == data.shape, "its tree holds other data than _fit_X")
    labels = getattr(obj, "_y", None)
    if labels is not None:
        _need(len(_array(labels, "_y", None, "fiub")) == n_samples, "_y does not have one label per sample")


@_validator
def sklearn_kernel_density(obj: Any) -> None:
    """``KernelDensity``: scoring goes to ``tree_``, a KD or ball tree (validated itself)."""
    if not _fitted(obj, "tree_", "bandwidth_"):
        return
    _need(type(obj.tree_).__name__ in ("KDTree", "BallTree"), "tree_ is not a KD or ball tree")
    bandwidth = obj.bandwidth_
    _need(isinstance(bandwidth, int | float) and 0 < bandwidth < math.inf, "bandwidth_ is not a positive number")


VALIDATORS: dict[str, Validator] = {
    "sklearn_tree": sklearn_tree,
    "sklearn_decision_tree": sklearn_decision_tree,
    "sklearn_forest": sklearn_forest,
    "sklearn_isolation_forest": sklearn_isolation_forest,
    "sklearn_bagging": sklearn_bagging,
    "sklearn_gradient_boosting": sklearn_gradient_boosting,
    "sklearn_tree_predictor": sklearn_tree_predictor,
    "sklearn_bin_mapper": sklearn_bin_mapper,
    "sklearn_hist_gradient_boosting": sklearn_hist_gradient_boosting,
    "sklearn_svm": sklearn_svm,
    "sklearn_linear": sklearn_linear,
    "sklearn_kmeans": sklearn_kmeans,
    "sklearn_distance_metric": sklearn_distance_metric,
    "sklearn_binary_tree": sklearn_binary_tree,
    "sklearn_neighbors": sklearn_neighbors,
    "sklearn_kernel_density": sklearn_kernel_density,
    "sklearn_bisecting_kmeans": sklearn_bisecting_kmeans,
    "sklearn_hdbscan": sklearn_hdbscan,
    "sklearn_birch": sklearn_birch,
    "sklearn_count_vectorizer": sklearn_count_vectorizer,
    "sklearn_dict_vectorizer": sklearn_dict_vectorizer,
    "sklearn_feature_hasher": sklearn_feature_hasher,
    "sklearn_scorer": sklearn_scorer,
}
CHECKS: dict[str, Check] = {}
