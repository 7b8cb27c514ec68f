"""Validators for gensim's word-vector models (see the package docstring).

gensim's Cython training loops (``word2vec_inner``, ``doc2vec_inner``), which
``train()`` runs on a loaded model, index the model's arrays with numbers taken from
its other arrays and never check them (found by forging models in subprocesses):

- negative sampling draws a word by bisecting ``cum_table`` and uses the position as a
  row of ``syn1neg``: a ``cum_table`` longer than the vocabulary writes past it;
- hierarchical softmax walks each word's Huffman ``code`` for as many digits as it has,
  reading the word's ``point`` array alongside as rows of ``syn1``: a code longer than
  its points, or a point past ``syn1``, reads and writes out of bounds;
- the output layers are indexed by word and read ``vector_size`` numbers a row: a
  ``syn1neg`` shorter than the vocabulary is written past (segfault in ``train()``).

So each ``KeyedVectors`` must be one consistent vocabulary (its vectors one row per
key, ``key_to_index`` the inverse of ``index_to_key``, per-word arrays one entry per
word), and each model's output layers that vocabulary's size and width (and
``layer1_size`` the width, as in every model gensim makes).  Doc2Vec's
concatenating mode (``dm_concat``), whose layer width depends on the window, is not
checked and so refused.  Vectors saved in separate ``.npy`` files by gensim's ``save``
are not part of the pickle and are refused as missing.
"""

from __future__ import annotations

import sys
from typing import Any

from .._rules import Check, Validator
from ._invariants import Invalid as _Invalid
from ._invariants import need as _need

_MAX_THREADS = 4096


def _array(value: object, what: str, ndim: int, kinds: str) -> Any:
    numpy = sys.modules["numpy"]
    _need(isinstance(value, numpy.ndarray), f"{what} is not an array")
    assert isinstance(value, numpy.ndarray)
    _need(value.ndim == ndim and value.dtype.kind in kinds, f"{what} is {value.ndim}-D {value.dtype}")
    return value


def _int(value: object, what: str, low: int, high: int) -> int:
    _need(type(value) is int and low <= value <= high, f"{what} is {value!r}, not in [{low}, {high}]")
    assert isinstance(value, int)
    return value


def _state(obj: object) -> dict[str, Any]:
    state = getattr(obj, "__dict__", None)
    _need(state, "it never received its state")
    assert isinstance(state, dict)
    return state


def _keyed_vectors(kv: object, what: str) -> int:
    """The checks of one ``KeyedVectors``; its vocabulary size."""
    cls = type(kv)
    known = (cls.__module__, cls.__name__) == ("gensim.models.keyedvectors", "KeyedVectors")
    _need(known, f"{what} is a {cls.__name__}, not KeyedVectors")
    state = _state(kv)
    if "vectors" not in state and "vectors" in state.get("__numpys", ()):
        raise _Invalid(f"{what}'s vectors were saved in a separate file, which is not loaded")
    vectors = _array(state.get("vectors"), f"{what}'s vectors", 2, "f")
    n, width = int(vectors.shape[0]), int(vectors.shape[1])
    _need(state.get("vector_size") == width, f"{what}'s vector_size is not its vectors' width {width}")
    keys, index = state.get("index_to_key"), state.get("key_to_index")
    _need(type(keys) is list and len(keys) == n, f"{what} has not one key per vector")
    _need(type(index) is dict and len(index) <= n, f"{what}'s key_to_index has more entries than vectors")
    assert isinstance(keys, list) and isinstance(index, dict)
    for key, i in index.items():
        _need(type(i) is int and 0 <= i < n and keys[i] == key, f"{what}'s key_to_index is not index_to_key's inverse")
    for i, key in enumerate(keys):  # Doc2Vec's plain int tags are their own index, and not in key_to_index
        _need(key in index or (type(key) is int and key == i), f"{what}'s key {key!r} has no index")
    _int(state.get("next_index", 0), f"{what}'s next_index", 0, n)
    if state.get("norms") is not None:
        _need(_array(state["norms"], f"{what}'s norms", 1, "f").shape == (n,), f"{what}'s norms")
    _need(_array(state.get("vectors_lockf"), f"{what}'s vectors_lockf", 1, "f").size >= 1, f"{what}'s lockf")
    extras = state.get("expandos", {})
    _need(type(extras) is dict, f"{what}'s expandos are not a dict")
    for key, values in extras.items():
        kind = "O" if key in ("code", "point") else "iuf"
        _need(_array(values, f"{what}'s {key}", 1, kind).shape == (n,), f"{what}'s {key} has not one entry per key")
    if "code" in extras or "point" in extras:
        _need("code" in extras and "point" in extras, f"{what} has Huffman codes without points, or points without")
        for code, point in zip(extras["code"], extras["point"], strict=True):
            code = _array(code, f"{what}'s code", 1, "u")
            point = _array(point, f"{what}'s point", 1, "u")
            _need(len(code) == len(point), f"{what} has a Huffman code of {len(code)} digits for {len(point)} points")
            _need(not len(code) or int(code.max()) <= 1, f"{what} has a Huffman code digit above 1")
            _need(not len(point) or int(point.max()) < n, f"{what} has a Huffman point past its vocabulary")
    return n


def gensim_keyed_vectors(kv: Any) -> str | None:
    """``KeyedVectors``: :func:`_keyed_vectors`."""
    try:
        _keyed_vectors(kv, "it")
    except _Invalid as exc:
        return str(exc)
    return None


def _layer(state: dict[str, Any], key: str, n: int, width: int) -> None:
    layer = _array(state.get(key), key, 2, "f")
    _need(layer.shape == (n, width), f"{key} is {layer.shape}, not ({n}, {width})")


def gensim_model(model: Any) -> str | None:
    """``Word2Vec``/``Doc2Vec``: their vocabulary, output layers and parameters agree."""
    try:
        state = _state(model)
        n = _keyed_vectors(state.get("wv"), "its wv")
        width = _int(state.get("vector_size"), "vector_size", 1, 1 << 20)
        _need(state.get("layer1_size") == width and state["wv"].vector_size == width, "its layer widths disagree")
        if "dv" in state:
            _need(not state.get("dm_concat"), "it is a concatenating Doc2Vec (dm_concat), which is not checked")
            _need(_keyed_vectors(state["dv"], "its dv") >= 0 and state["dv"].vector_size == width, "its dv's width")
        for key in ("sg", "hs", "cbow_mean"):
            _int(state.get(key, 0), key, 0, 1)
        _int(state.get("workers", 1), "workers", 1, _MAX_THREADS)
        _int(state.get("window", 1), "window", 0, 1 << 20)
        negative = _int(state.get("negative", 0), "negative", 0, 1 << 20)
        # (a layer that is absent, as gensim's save leaves cum_table, is an AttributeError
        # in train(), never a read: only the ones present are checked)
        for key in ("syn1neg", "syn1"):
            if key in state:
                _layer(state, key, n, width)
        if "cum_table" in state and (negative or state["cum_table"] is not None):  # (None without sampling)
            table = _array(state["cum_table"], "cum_table", 1, "u")
            _need(table.shape == (n,), f"cum_table has {table.size} entries for {n} words")
        if state.get("hs") and n:
            _need("code" in state["wv"].expandos, "it has hierarchical softmax but no Huffman codes")
    except _Invalid as exc:
        return str(exc)
    return None


VALIDATORS: dict[str, Validator] = {"gensim_keyed_vectors": gensim_keyed_vectors, "gensim_model": gensim_model}
CHECKS: dict[str, Check] = {}
