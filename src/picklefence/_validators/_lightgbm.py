"""The state check of LightGBM's ``Booster`` (see the package docstring).

``Booster.__setstate__`` hands the pickled model text to
``LGBM_BoosterLoadModelFromString``.  LightGBM's C++ checks that each tree's arrays have
the lengths ``num_leaves`` says, but not what prediction indexes with (found by forging
models in subprocesses):

- ``tree_sizes`` that do not fall on the trees: the parser throws inside an OpenMP
  region and the process aborts (at load, before ``__setstate__`` returns);
- a child outside the tree or a cycle, a split feature outside ``[0, max_feature_idx]``,
  a categorical split whose threshold is no category set: reads past the node, feature
  or category arrays at ``predict``;
- ``num_tree_per_iteration`` or the objective's ``num_class`` unlike ``num_class``: the
  output transform reads or writes past the prediction buffer (heap corruption).

So the text is read first, in Python, as strictly as LightGBM writes it: ASCII lines,
no NUL (C sees only the prefix before one), one ``key=value`` per line, integers in
plain decimal (the header's one flag line, ``average_output`` of random forests,
aside), each tree block exactly where ``tree_sizes`` puts it.  Linear trees are
not checked and so refused.  Thresholds, leaf values and the parameters section are
used as given.
"""

from __future__ import annotations

import ctypes
import re
from itertools import pairwise
from typing import Any

from .._rules import Call, Check, Validator
from ._invariants import Invalid as _Invalid
from ._invariants import need as _need

_INT = re.compile(r"-?[0-9]{1,10}")
_MISSING_TYPES = 3  # decision_type bits 2-3: none, zero, NaN
_TREE_KEYS = frozenset(
    {
        "num_leaves",
        "num_cat",
        "split_feature",
        "split_gain",
        "threshold",
        "decision_type",
        "left_child",
        "right_child",
        "leaf_value",
        "leaf_weight",
        "leaf_count",
        "internal_value",
        "internal_weight",
        "internal_count",
        "cat_boundaries",
        "cat_threshold",
        "is_linear",
        "shrinkage",
    }
)


def _int(token: str, what: str) -> int:
    _need(_INT.fullmatch(token), f"{what} is not an integer: {token[:20]!r}")
    return int(token)


def _ints(value: str, n: int, what: str) -> list[int]:
    tokens = value.split(" ") if value else []
    _need(len(tokens) == n, f"{what} has {len(tokens)} entries, not {n}")
    return [_int(t, what) for t in tokens]


def _count(value: str, n: int, what: str) -> None:
    """An array LightGBM reads ``n`` numbers from (values not used for indexing)."""
    tokens = value.split(" ") if value else []
    _need(len(tokens) == n, f"{what} has {len(tokens)} entries, not {n}")


def _pairs(lines: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        _need(sep and key and "=" not in value, f"{what} has a line that is not key=value: {line[:40]!r}")
        _need(key not in out, f"{what} gives {key} twice")
        out[key] = value
    return out


def _tree(block: str, index: int, n_features: int) -> None:
    where = f"tree {index}"
    lines = block.split("\n")
    _need(lines[0] == f"Tree={index}", f"{where} does not start with Tree={index}")
    body = lines[1:]
    while body and body[-1] == "":
        body.pop()
    tree = _pairs(body, where)
    _need(set(tree) <= _TREE_KEYS, f"{where} has unknown keys {sorted(set(tree) - _TREE_KEYS)}")
    _need(tree.get("is_linear", "0") == "0", f"{where} is a linear tree, which is not checked")
    leaves = _int(tree.get("num_leaves", ""), f"{where}'s num_leaves")
    _need(leaves >= 1, f"{where} has no leaves")
    inner = leaves - 1
    features = _ints(tree.get("split_feature", ""), inner, f"{where}'s split_feature")
    decisions = _ints(tree.get("decision_type", ""), inner, f"{where}'s decision_type")
    left = _ints(tree.get("left_child", ""), inner, f"{where}'s left_child")
    right = _ints(tree.get("right_child", ""), inner, f"{where}'s right_child")
    thresholds = tree.get("threshold", "").split(" ") if inner else []
    _need(len(thresholds) == inner, f"{where}'s threshold has {len(thresholds)} entries, not {inner}")
    _count(tree.get("leaf_value", ""), leaves, f"{where}'s leaf_value")
    for key, n in (("split_gain", inner), ("internal_value", inner), ("leaf_count", leaves)):
        if key in tree:
            _count(tree[key], n, f"{where}'s {key}")
    n_cat = _int(tree.get("num_cat", "0"), f"{where}'s num_cat")
    _need(n_cat >= 0, f"{where}'s num_cat is negative")
    if n_cat:
        bounds = _ints(tree.get("cat_boundaries", ""), n_cat + 1, f"{where}'s cat_boundaries")
        words = tree.get("cat_threshold", "").split(" ")
        _need(bounds[0] == 0 and all(a <= b for a, b in pairwise(bounds)), f"{where}'s cat_boundaries")
        _need(bounds[-1] == len(words), f"{where}'s cat_boundaries end at {bounds[-1]}, not {len(words)}")
        for word in words:
            _need(0 <= _int(word, f"{where}'s cat_threshold") < 1 << 32, f"{where}'s cat_threshold")
    for node in range(inner):
        kind = decisions[node]
        _need(0 <= kind < 16 and (kind >> 2) < _MISSING_TYPES, f"{where}'s node {node} has decision type {kind}")
        _need(0 <= features[node] < n_features, f"{where}'s node {node} splits on feature {features[node]}")
        if kind & 1:  # categorical: the threshold names a category set
            cat = _int(thresholds[node], f"{where}'s node {node} threshold")
            _need(0 <= cat < n_cat, f"{where}'s node {node} names category set {cat} of {n_cat}")
    if not inner:
        return
    seen_node, seen_leaf = bytearray(inner), bytearray(leaves)
    stack = [0]
    while stack:  # each node and each leaf reached exactly once from the root
        node = stack.pop()
        _need(not seen_node[node], f"{where}'s node {node} is reached twice")
        seen_node[node] = 1
        for child in (left[node], right[node]):
            if child >= 0:
                _need(child < inner, f"{where}'s node {node} has child {child}, outside [0, {inner})")
                stack.append(child)
            else:
                leaf = ~child
                _need(leaf < leaves, f"{where}'s node {node} has leaf {leaf}, outside [0, {leaves})")
                _need(not seen_leaf[leaf], f"{where}'s leaf {leaf} is reached twice")
                seen_leaf[leaf] = 1


def _model(text: str) -> None:
    _need(text.isascii() and "\0" not in text and "\r" not in text, "the model text is not plain ASCII lines")
    start = text.find("\nTree=0\n")
    end = text.find("\nend of trees\n")
    _need(start >= 0 and end > start, "the model has no trees")
    lines = text[:start].split("\n")
    _need(lines[0] == "tree", "the model text does not start with 'tree'")
    header = _pairs([line for line in lines[1:] if line and line != "average_output"], "the header")
    n_classes = _int(header.get("num_class", ""), "num_class")
    _need(n_classes >= 1, "num_class is below 1")
    per_iteration = _int(header.get("num_tree_per_iteration", ""), "num_tree_per_iteration")
    _need(per_iteration == n_classes, f"num_tree_per_iteration {per_iteration} is not num_class {n_classes}")
    objective = header.get("objective", "").split(" ")
    for option in objective[1:]:
        name, _, value = option.partition(":")
        if name == "num_class":
            _need(_int(value, "the objective's num_class") == n_classes, "the objective's num_class is not num_class")
    n_features = _int(header.get("max_feature_idx", ""), "max_feature_idx") + 1
    _need(n_features >= 1, "max_feature_idx is negative")
    sizes = [_int(t, "tree_sizes") for t in header.get("tree_sizes", "").split(" ")]
    _need(len(sizes) % per_iteration == 0, "the trees are not whole iterations")
    position = start + 1
    for index, size in enumerate(sizes):
        _need(size > 0 and position + size <= end + 1, f"tree {index}'s size {size} reaches past the trees")
        _tree(text[position : position + size], index, n_features)
        position += size
    _need(position == end + 1, "tree_sizes do not cover the trees")


def model_problem(text: object) -> str | None:
    """Why LightGBM's native parser must not see ``text`` (the pickled model), or ``None``."""
    if type(text) is not str:
        return "the model is not text"
    try:
        _model(text)
    except _Invalid as exc:
        return str(exc)
    return None


def lightgbm_booster_state(call: Call) -> bool:
    """BUILD of a ``Booster``: a model text :func:`model_problem` accepts (``__setstate__``
    reads ``_handle``, else ``handle``, and ignores ``None``)."""
    _, state = call.args
    if type(state) is not dict or "handle" in state:
        return False
    return model_problem(state.get("_handle")) is None


def lightgbm_booster(booster: Any) -> str | None:
    """A finished ``Booster`` has a native handle (one never BUILT would pass ``NULL``)."""
    handle = getattr(booster, "__dict__", {}).get("_handle")
    if not isinstance(handle, ctypes.c_void_p) or not handle.value:
        return "it never received its model"
    return None


VALIDATORS: dict[str, Validator] = {"lightgbm_booster": lightgbm_booster}
CHECKS: dict[str, Check] = {"lightgbm_booster_state": lightgbm_booster_state}
