"""The shipped checks scikit-learn files need beyond plain estimators: Cython's unpickle
helpers (``__pyx_unpickle_<Class>(cls, checksum, state)``) and ``functools.partial`` of
a pure function.  Hostile rows name what is refused; the real files load."""

from __future__ import annotations

import importlib
import importlib.util
import pickle
import sys

import pytest

import picklefence
from picklefence import Policy, PolicyViolation, audit

from .hostile import allowed_modules, call, g, i, stop, t, u

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn not installed")

_LOSS = "sklearn._loss._loss"
_PYX = g(_LOSS, "__pyx_unpickle_CyHalfMultinomialLoss")
_MULTINOMIAL = g(_LOSS, "CyHalfMultinomialLoss")
_CHECK_ARRAY = g("sklearn.utils.validation", "check_array")
_PARTIAL = g("functools", "partial")


def _partial_build(func: bytes, args: bytes, keywords: bytes = b"N", attributes: bytes = b"N") -> bytes:
    """partial(check_array), then BUILD (func, args, keywords, attributes)."""
    return stop(call(_PARTIAL, _CHECK_ARRAY) + t(func, args, keywords, attributes) + b"b")


# id -> (pickle, the global refused, the capability)
ROWS: dict[str, tuple[bytes, str, str]] = {
    "cython unpickler making another class": (
        stop(call(_PYX, g(_LOSS, "CyHalfBinomialLoss"), i(1), b")")),
        f"{_LOSS}:__pyx_unpickle_CyHalfMultinomialLoss",
        "arguments",
    ),
    "cython unpickler with a str checksum": (
        stop(call(_PYX, _MULTINOMIAL, u("x"), b")")),
        f"{_LOSS}:__pyx_unpickle_CyHalfMultinomialLoss",
        "arguments",
    ),
    "cython unpickler with a checksum past 64 bits": (
        stop(call(_PYX, _MULTINOMIAL, i(1 << 70), b")")),
        f"{_LOSS}:__pyx_unpickle_CyHalfMultinomialLoss",
        "arguments",
    ),
    "cython unpickler writing fields of a class without state": (
        stop(call(_PYX, _MULTINOMIAL, i(1), t(i(5)))),
        f"{_LOSS}:__pyx_unpickle_CyHalfMultinomialLoss",
        "arguments",
    ),
    "cython unpickler with a list for its state": (
        stop(call(_PYX, _MULTINOMIAL, i(1), b"]")),
        f"{_LOSS}:__pyx_unpickle_CyHalfMultinomialLoss",
        "arguments",
    ),
    "cython unpickler with two arguments": (
        stop(call(_PYX, _MULTINOMIAL, i(1))),
        f"{_LOSS}:__pyx_unpickle_CyHalfMultinomialLoss",
        "arguments",
    ),
    "partial of a function the policy does not allow": (
        stop(call(_PARTIAL, g("numpy", "load"))),
        "numpy:load",
        "reference",
    ),
    "partial of a class it may only call": (
        stop(call(_PARTIAL, g("sklearn.tree._tree", "Tree"))),
        "sklearn.tree._tree:Tree",
        "value",
    ),
    "partial of a made object": (
        stop(call(_PARTIAL, call(g("sklearn.model_selection._split", "KFold")))),
        "functools:partial",
        "arguments",
    ),
    "partial with arguments in its call": (
        stop(call(_PARTIAL, _CHECK_ARRAY, i(1))),
        "functools:partial",
        "arguments",
    ),
    "partial BUILD swapping its function": (_partial_build(g("numpy", "log1p"), b")"), "functools:partial", "state"),
    "partial BUILD with an attribute dict": (
        _partial_build(_CHECK_ARRAY, b")", b"N", b"}" + u("x") + i(1) + b"s"),
        "functools:partial",
        "state",
    ),
    "partial BUILD with a made object in its arguments": (
        _partial_build(_CHECK_ARRAY, t(call(g("sklearn.model_selection._split", "KFold")))),
        "functools:partial",
        "state",
    ),
    "partial BUILD with a non-str keyword": (
        _partial_build(_CHECK_ARRAY, b")", b"}" + i(1) + i(1) + b"s"),
        "functools:partial",
        "state",
    ),
    "partial BUILD with a list for its arguments": (_partial_build(_CHECK_ARRAY, b"]"), "functools:partial", "state"),
    "partial BUILD of a short state": (
        stop(call(_PARTIAL, _CHECK_ARRAY) + t(_CHECK_ARRAY, b")") + b"b"),
        "functools:partial",
        "state",
    ),
}


@pytest.mark.parametrize("row", list(ROWS))
def test_hostile_cython_and_partial_rows_are_refused_naming_the_rule(row: str) -> None:
    data, name, capability = ROWS[row]
    for module in allowed_modules(data, "sklearn"):  # the load may import these, with what they import
        importlib.import_module(module)
    modules = set(sys.modules)
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy="sklearn")
    assert (info.value.name, info.value.capability) == (name, capability), info.value
    new = {m for m in set(sys.modules) - modules if not m.startswith(("numpy", "pandas", "sklearn", "scipy"))}
    assert not new, f"imported {new}"


def test_a_partial_of_a_pure_function_with_plain_arguments_loads() -> None:
    from sklearn.utils.validation import check_array

    data = _partial_build(_CHECK_ARRAY, b")", b"}" + u("ensure_all_finite") + b"\x89" + b"s")
    loaded = picklefence.loads(data, policy="sklearn")
    assert (loaded.func, loaded.args, loaded.keywords) == (check_array, (), {"ensure_all_finite": False})


def test_the_partial_is_never_called_by_the_pickle() -> None:
    """A partial is made by a call, so it is no global: REDUCE on it is refused (G2)."""
    data = stop(call(call(_PARTIAL, _CHECK_ARRAY), u("1")))
    with pytest.raises(PolicyViolation):
        picklefence.loads(data, policy="sklearn")


def test_partial_is_refused_without_a_rule() -> None:
    data = _partial_build(_CHECK_ARRAY, b")")
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy=Policy.named("numpy").allow("sklearn.utils.validation:check_array"))
    assert (info.value.name, info.value.capability) == ("functools:partial", "reference")


def _multiclass_loss() -> object:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = np.random.RandomState(0).rand(30, 3)
    return HistGradientBoostingClassifier(max_iter=3).fit(X, np.arange(30) % 3)._loss.closs


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cython_unpickler_of_an_allowed_class_loads_and_is_audited_safe(protocol: int) -> None:
    loss = _multiclass_loss()
    data = pickle.dumps(loss, protocol)
    assert b"__pyx_unpickle_CyHalfMultinomialLoss" in data
    assert type(picklefence.loads(data, policy="sklearn")) is type(loss)
    assert audit(data, policy=Policy.named("sklearn")).safe
    assert picklefence.dumps(loss, protocol, policy=Policy.named("sklearn")) == data
