"""The broad corpus: artifacts made by the libraries themselves, loaded with shipped
policy names only, and compared with what ``pickle`` (or the library's own loader)
returns for the same bytes.

Each library has one module here exposing ``artifacts()``; an :class:`Artifact` says how
to make the object (with the real library, never an imitation), which shipped policy a
user would name, how to tell two copies apart, and — for the few that must not load —
why.  ``tests/test_corpus.py`` runs every artifact in every format it lists; the README's
"What does not load" section lists every ``refused`` reason (a test keeps them equal).
"""

from __future__ import annotations

import contextlib
import copyreg
import functools
import io
import math
import pickle
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FORMATS", "Artifact", "assert_same", "dumped", "loaded", "made", "own_reducers_only"]

#: how an artifact can be written: pickle protocols, joblib's format, torch.save's zip
FORMATS = ("p0", "p2", "p4", "p5", "joblib", "torch")
_PROTOCOLS = ("p0", "p2", "p4", "p5")


@dataclass(frozen=True)
class Artifact:
    """One object of the corpus.

    ``make`` builds it with the library (imports inside, so a missing library skips only
    its own rows); ``same(expected, got)`` raises ``AssertionError`` when the loaded copy
    differs from the oracle's (default: :func:`assert_same`); ``refused`` is the reason a
    shipped policy refuses it on purpose, and then the test asserts the refusal instead.
    """

    name: str
    make: Callable[[], Any]
    policy: str
    formats: tuple[str, ...] = ("p2", "p5")
    same: Callable[[Any, Any], None] | None = None
    refused: str | None = None
    requires: tuple[str, ...] = field(default=())

    def ids(self) -> Iterator[tuple[Artifact, str]]:
        for fmt in self.formats:
            yield self, fmt


@functools.cache
def made(artifact: Artifact) -> Any:
    """The artifact's object, built once per session however many formats use it."""
    return artifact.make()


@functools.cache
def dumped(artifact: Artifact, fmt: str) -> bytes:
    """The artifact written in ``fmt`` by the library's own writer, as a process that
    imported only that library writes it (see :func:`own_reducers_only`)."""
    obj = made(artifact)
    with own_reducers_only():
        return _dumped(obj, fmt)


@contextlib.contextmanager
def own_reducers_only() -> Iterator[None]:
    """Hide, while an artifact is written, the reducers a third package registered in
    ``copyreg`` for types not its own: dask installs tblib's for every exception once
    imported, and an artifact must not depend on which tests ran before it (tblib's
    unpickler is rightly refused by every shipped policy)."""
    foreign = {
        cls: reducer
        for cls, reducer in copyreg.dispatch_table.items()
        if _package(reducer) not in (_package(cls), *sys.stdlib_module_names)
    }
    for cls in foreign:
        del copyreg.dispatch_table[cls]
    try:
        yield
    finally:
        copyreg.dispatch_table.update(foreign)


def _package(obj: object) -> str:
    return str(getattr(obj, "__module__", None) or "").partition(".")[0]


def _dumped(obj: Any, fmt: str) -> bytes:
    if fmt in _PROTOCOLS:
        return pickle.dumps(obj, protocol=int(fmt[1]))
    buffer = io.BytesIO()
    if fmt == "joblib":
        import joblib

        joblib.dump(obj, buffer)
    elif fmt == "torch":
        import torch

        torch.save(obj, buffer)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return buffer.getvalue()


def loaded(data: bytes, fmt: str, policy: str | None) -> Any:
    """The bytes read back: by picklefence under ``policy``, or by the real consumer
    (``pickle``, ``joblib.load``, ``torch.load(weights_only=False)``) when ``policy`` is
    None — the oracle."""
    if fmt in _PROTOCOLS:
        if policy is None:
            return pickle.loads(data)
        import picklefence

        return picklefence.loads(data, policy=policy)
    if fmt == "joblib":
        if policy is None:
            import joblib

            return joblib.load(io.BytesIO(data))
        import picklefence.joblib

        return picklefence.joblib.load(io.BytesIO(data), policy=policy)
    if fmt == "torch":
        if policy is None:
            import torch

            return torch.load(io.BytesIO(data), weights_only=False)
        import picklefence.torch

        return picklefence.torch.load(io.BytesIO(data), policy=policy)
    raise ValueError(f"unknown format {fmt!r}")


def assert_same(expected: Any, got: Any, where: str = "", _active: frozenset[int] = frozenset()) -> None:
    """Raise ``AssertionError`` unless ``got`` is the same value as ``expected``: same
    type, and equal by the library's own comparison (arrays element-wise with NaN equal to
    NaN, frames by pandas' testing helpers, tensors by ``torch.equal``), recursively
    through containers and instance dictionaries.  Objects with neither ``__eq__`` nor a
    ``__dict__`` are compared by re-pickling both with ``pickle``: the same state writes
    the same bytes; a module is the same value only as itself.  An object met again
    inside itself (a linked list of nodes) is compared once."""
    if id(expected) in _active:
        return
    _active = _active | {id(expected)}
    assert type(expected) is type(got), f"{where}: type {type(got).__name__}, expected {type(expected).__name__}"
    if _compared_by_library(expected, got, where):
        return
    if isinstance(expected, float):
        assert expected == got or (math.isnan(expected) and math.isnan(got)), f"{where}: {got!r} != {expected!r}"
        return
    if isinstance(expected, dict):
        assert list(expected) == list(got), f"{where}: keys {list(got)!r} != {list(expected)!r}"
        for key in expected:
            assert_same(expected[key], got[key], f"{where}[{key!r}]", _active)
        return
    if isinstance(expected, list | tuple):
        assert len(expected) == len(got), f"{where}: length {len(got)} != {len(expected)}"
        for n, (a, b) in enumerate(zip(expected, got, strict=True)):
            assert_same(a, b, f"{where}[{n}]", _active)
        return
    if type(expected).__eq__ is not object.__eq__:
        assert expected == got, f"{where}: {got!r} != {expected!r}"
        return
    if isinstance(expected, types.ModuleType):  # (scipy 1.18's splines hold their array namespace)
        assert expected is got, f"{where}: module {got.__name__}, expected {expected.__name__}"
        return
    if hasattr(expected, "__dict__") and not isinstance(expected, type):
        assert_same(vars(expected), vars(got), f"{where}.__dict__", _active)
        return
    reduced = _reduced(expected), _reduced(got)
    if reduced[0] is not None and reduced[1] is not None:
        assert reduced[0][0] is reduced[1][0], f"{where}: rebuilt by {reduced[1][0]!r}, expected {reduced[0][0]!r}"
        assert_same(reduced[0][1:], reduced[1][1:], f"{where}.__reduce__()", _active)
        return
    assert pickle.dumps(expected, 5) == pickle.dumps(got, 5), f"{where}: state differs"


def _reduced(obj: Any) -> tuple[Any, ...] | None:
    """What ``pickle`` would write for a compiled object (a Cython tree): its rebuilder,
    arguments and state, compared as values (so the padding bytes a copy of a C struct
    picked up from uninitialised memory are not taken for state)."""
    if isinstance(obj, type):
        return None
    try:
        reduced = obj.__reduce_ex__(5)
    except Exception:  # not picklable this way: compared by bytes, which then raise too
        return None
    if type(reduced) is not tuple or len(reduced) < 2 or any(part is obj for part in reduced[1:]):
        return None
    return reduced


def _compared_by_library(expected: Any, got: Any, where: str) -> bool:
    module = type(expected).__module__.partition(".")[0]
    if module == "numpy":
        import numpy as np

        if isinstance(expected, np.ndarray):
            assert expected.dtype == got.dtype and expected.shape == got.shape, f"{where}: {got.dtype}{got.shape}"
            if expected.dtype.hasobject:
                assert_same(expected.tolist(), got.tolist(), where)
            else:
                np.testing.assert_array_equal(expected, got, err_msg=where)
            return True
        if isinstance(expected, np.generic):
            assert expected.tobytes() == got.tobytes(), f"{where}: {got!r} != {expected!r}"
            return True
    if module == "pandas":
        import pandas as pd
        import pandas.testing as pdt

        if isinstance(expected, pd.DataFrame):
            pdt.assert_frame_equal(expected, got, check_exact=True)
            return True
        if isinstance(expected, pd.Series):
            pdt.assert_series_equal(expected, got, check_exact=True)
            return True
        if isinstance(expected, pd.Index):
            pdt.assert_index_equal(expected, got, exact=True)
            return True
        if isinstance(expected, pd.api.extensions.ExtensionArray):
            pdt.assert_extension_array_equal(expected, got)
            return True
    if module == "scipy":
        import scipy.sparse

        if scipy.sparse.issparse(expected):
            assert expected.format == got.format and expected.shape == got.shape, f"{where}: {got.format}{got.shape}"
            assert_same(expected.dtype, got.dtype, f"{where}.dtype")
            assert (expected != got).nnz == 0, f"{where}: values differ"
            return True
    if module == "torch":
        import torch

        if isinstance(expected, torch.Tensor):
            assert expected.dtype == got.dtype and expected.shape == got.shape, f"{where}: {got.dtype}{got.shape}"
            assert expected.layout == got.layout, f"{where}: layout {got.layout}"
            if expected.is_sparse:
                expected, got = expected.to_dense(), got.to_dense()
            elif expected.is_quantized:
                expected, got = expected.int_repr(), got.int_repr()
            assert torch.equal(expected, got), f"{where}: values differ"
            return True
    return False
