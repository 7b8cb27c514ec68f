"""The state check of xgboost's ``Booster`` (see the package docstring).

``Booster.__setstate__`` hands the pickled bytes (``{"Config": ..., "Model": ...}`` in
UBJSON) to ``XGBoosterUnserializeFromBuffer``.  xgboost's C++ checks that each tree's
arrays have ``num_nodes`` entries and that the tree count adds up, but not what the
prediction loops index with (found by forging models in subprocesses):

- a child index outside the tree, or pointing back at an ancestor: a read past the node
  array or a recursion without end (segfault at ``predict``);
- a split feature outside ``[0, num_feature)``: a read past the row's feature vector;
- a ``tree_info`` entry (the output group a tree adds to) outside the groups: a write
  past the prediction buffer (heap corruption);
- a leaf vector longer than one (multi-target trees) in a model that is not one.

So the whole model is read here first, with a bounded pure-Python UBJSON reader, and
refused unless it is the shape these loops assume.  What is not read — categorical
splits and the category recoder, multi-target trees, the legacy binary format — is
refused, never passed through.  The Config half only carries training parameters, which
xgboost re-derives from the Model where they matter; the thread count in it is bounded.
"""

from __future__ import annotations

import ctypes
from array import array
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from .. import _ubjson
from .._rules import Call, Check, Validator
from ._invariants import Invalid as _Invalid
from ._invariants import need as _need

_MAX_THREADS = 4096
_NO_PARENT = 0x7FFFFFFF  # RegTree's kInvalidNodeId, as its JSON writes the root's parent
_INT_ARRAYS = "bBhiq"


def _dict(value: object, what: str) -> dict[str, Any]:
    _need(type(value) is dict, f"{what} is not an object")
    assert isinstance(value, dict)
    return value


def _count(text: object, what: str, high: int = 1 << 31) -> int:
    """xgboost stores its integer parameters as decimal strings."""
    _need(type(text) is str and text.isascii() and text.isdigit() and len(text) <= 10, f"{what} is not a count")
    assert isinstance(text, str)
    value = int(text)
    _need(value < high, f"{what} is {value}, not below {high}")
    return value


def _ints(value: object, n: int, what: str) -> Sequence[int]:
    _need(isinstance(value, array) and value.typecode in _INT_ARRAYS, f"{what} is not an integer array")
    assert isinstance(value, array)
    _need(len(value) == n, f"{what} has {len(value)} entries, not {n}")
    return value


def _tree(tree: dict[str, Any], n_features: int, where: str) -> None:
    param = _dict(tree.get("tree_param"), f"{where}'s tree_param")
    n = _count(param.get("num_nodes"), f"{where}'s num_nodes")
    _need(n >= 1, f"{where} has no nodes")
    _need(_count(param.get("size_leaf_vector"), f"{where}'s size_leaf_vector") <= 1, f"{where} is a multi-target tree")
    _need(_count(param.get("num_feature"), f"{where}'s num_feature") == n_features, f"{where} reads other features")
    left = _ints(tree.get("left_children"), n, f"{where}'s left_children")
    right = _ints(tree.get("right_children"), n, f"{where}'s right_children")
    parents = _ints(tree.get("parents"), n, f"{where}'s parents")
    features = _ints(tree.get("split_indices"), n, f"{where}'s split_indices")
    split_type = _ints(tree.get("split_type"), n, f"{where}'s split_type")
    _need(not any(split_type), f"{where} has categorical splits, which are not checked")
    for key in ("categories", "categories_nodes", "categories_segments", "categories_sizes"):
        _need(len(tree.get(key, ())) == 0, f"{where} has categorical splits, which are not checked")
    _need(set(_ints(tree.get("default_left"), n, f"{where}'s default_left")) <= {0, 1}, f"{where}'s default_left")
    _need(parents[0] == _NO_PARENT, f"{where}'s root has a parent")
    seen = bytearray(n)
    stack = [0]
    while stack:  # each reachable node once: children inside the tree, no cycle
        node = stack.pop()
        _need(not seen[node], f"{where}'s node {node} is reached twice")
        seen[node] = 1
        a, b = left[node], right[node]
        if a == -1 and b == -1:
            continue
        for child in (a, b):
            _need(0 <= child < n, f"{where}'s node {node} has child {child}, outside [0, {n})")
            _need(parents[child] == node, f"{where}'s node {child} is not a child of its parent {node}")
        _need(0 <= features[node] < n_features, f"{where}'s node {node} splits on feature {features[node]}")
        stack.extend((a, b))


def _trees(model: dict[str, Any], n_features: int, n_groups: int, what: str) -> int:
    param = _dict(model.get("gbtree_model_param"), f"{what}'s gbtree_model_param")
    n_trees = _count(param.get("num_trees"), f"{what}'s num_trees")
    trees = model.get("trees")
    _need(type(trees) is list and len(trees) == n_trees, f"{what} does not hold num_trees trees")
    assert isinstance(trees, list)
    info = model.get("tree_info")
    _need(type(info) is list or isinstance(info, array), f"{what}'s tree_info is not an array")
    assert isinstance(info, list | array)
    _need(len(info) == n_trees, f"{what}'s tree_info has {len(info)} entries for {n_trees} trees")
    for group in info:
        _need(type(group) is int and 0 <= group < n_groups, f"{what} adds a tree to output {group} of {n_groups}")
    indptr = model.get("iteration_indptr")
    _need(type(indptr) is list or isinstance(indptr, array), f"{what}'s iteration_indptr is not an array")
    assert isinstance(indptr, list | array)
    _need(len(indptr) >= 1 and indptr[0] == 0 and indptr[-1] == n_trees, f"{what}'s iteration_indptr")
    _need(all(type(a) is int and a <= b for a, b in pairwise(indptr)), f"{what}'s iteration_indptr")
    cats = _dict(model.get("cats", {}), f"{what}'s cats")
    _need(not any(len(v) for v in cats.values()), f"{what} has a category recoder, which is not checked")
    for n, tree in enumerate(trees):
        _tree(_dict(tree, f"tree {n}"), n_features, f"tree {n}")
    return n_trees


def _model(doc: object) -> None:
    doc = _dict(doc, "the pickled model")
    _need(set(doc) == {"Config", "Model"}, "the pickled model is not {Config, Model}")
    generic = _dict(_dict(_dict(doc["Config"], "Config").get("learner"), "Config's learner").get("generic_param"), "")
    for key in ("nthread", "n_jobs"):
        if key in generic:
            _need(_count(generic[key], key, _MAX_THREADS) >= 0, key)
    learner = _dict(_dict(doc["Model"], "Model").get("learner"), "Model's learner")
    param = _dict(learner.get("learner_model_param"), "learner_model_param")
    n_features = _count(param.get("num_feature"), "num_feature")
    n_classes = _count(param.get("num_class"), "num_class")
    n_targets = _count(param.get("num_target", "1"), "num_target")
    n_groups = max(n_classes, n_targets, 1)
    booster = _dict(learner.get("gradient_booster"), "gradient_booster")
    name = booster.get("name")
    if name == "gbtree":
        _trees(_dict(booster.get("model"), "gbtree's model"), n_features, n_groups, "the model")
    elif name == "dart":
        inner = _dict(booster.get("gbtree"), "dart's gbtree")
        n_trees = _trees(_dict(inner.get("model"), "dart's model"), n_features, n_groups, "the model")
        drops = booster.get("weight_drop")
        _need(type(drops) is list or isinstance(drops, array), "dart's weight_drop is not an array")
        assert isinstance(drops, list | array)
        _need(len(drops) == n_trees, f"dart has {len(drops)} tree weights for {n_trees} trees")
    elif name == "gblinear":
        weights = _dict(booster.get("model"), "gblinear's model").get("weights")
        expected = (n_features + 1) * n_groups
        _need(isinstance(weights, array) and weights.typecode == "f", "gblinear's weights are not float32")
        assert isinstance(weights, array)
        _need(len(weights) == expected, f"gblinear has {len(weights)} weights, not {expected}")
    else:
        raise _Invalid(f"unknown booster {name!r}")


def model_problem(buffer: object) -> str | None:
    """Why xgboost's native parser must not see ``buffer`` (the pickled handle), or ``None``."""
    if not isinstance(buffer, bytearray):  # what __getstate__ writes and from_buffer needs
        return "the model is not a bytearray"
    try:
        _model(_ubjson.parse(buffer))
    except _ubjson.UBJSONError as exc:
        return f"the model is not UBJSON: {exc}"
    except _Invalid as exc:
        return str(exc)
    return None


def xgboost_booster_state(call: Call) -> bool:
    """BUILD of a ``Booster``: its handle a model :func:`model_problem` accepts."""
    _, state = call.args
    return type(state) is dict and model_problem(state.get("handle")) is None


def xgboost_booster(booster: Any) -> str | None:
    """A finished ``Booster`` has a native handle: one never BUILT has none, and every
    method would pass ``NULL`` to the C API."""
    handle = getattr(booster, "__dict__", {}).get("handle")
    if not isinstance(handle, ctypes.c_void_p) or not handle.value:
        return "it never received its model"
    return None


VALIDATORS: dict[str, Validator] = {"xgboost_booster": xgboost_booster}
CHECKS: dict[str, Check] = {"xgboost_booster_state": xgboost_booster_state}
