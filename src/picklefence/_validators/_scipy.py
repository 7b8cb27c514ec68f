"""Validators for scipy objects (see the package docstring).

scipy's compiled code trusts the state it is handed: the C++ sparsetools index dense
buffers with a sparse matrix's ``indices``/``indptr`` (a forged column index is an
out-of-bounds write in ``toarray``, a forged ``indptr`` a read past ``data``), and the
Cython list-of-lists kernels fill arrays sized by one list from another.  Sparse
matrices and arrays are unpickled as a bare ``__new__`` plus a dict BUILD, so none of
the constructor's checks ran; the validators run scipy's own format checks where scipy
has them, once the types they rely on are established.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

from .._rules import Check, Validator

__all__ = ["CHECKS", "VALIDATORS"]


class _Invalid(Exception):
    """An invariant the object breaks; the validator returns its message."""


def _validator(fn: Callable[[Any], None]) -> Validator:
    @wraps(fn)
    def run(obj: Any) -> str | None:
        try:
            fn(obj)
        except _Invalid as problem:
            return str(problem)
        return None

    return run


def _need(condition: object, problem: str) -> None:
    if not condition:
        raise _Invalid(problem)


def _np() -> Any:
    return sys.modules["numpy"]


def _attrs(obj: Any, *names: str) -> dict[str, Any]:
    """The instance attributes ``names`` (each must have been BUILT)."""
    state: Any = getattr(obj, "__dict__", None)
    _need(type(state) is dict, "it never received its state")
    missing = [name for name in names if name not in state]
    _need(not missing, f"it has no {missing[0] if missing else ''}")
    found: dict[str, Any] = state
    return found


def _array(value: Any, name: str, ndim: int, kinds: str) -> Any:
    np = _np()
    _need(type(value) is np.ndarray, f"{name} is a {type(value).__name__}, not a numpy array")
    _need(value.ndim == ndim, f"{name} is {value.ndim}-D, not {ndim}-D")
    _need(value.dtype.kind in kinds, f"{name} has dtype {value.dtype}")
    return value


# -- sparse matrices and arrays ----------------------------------------------------

#: index dtypes sparsetools is compiled for
_INDEX_DTYPES = ("int32", "int64")


def _index_array(value: Any, name: str) -> Any:
    arr = _array(value, name, 1, "i")
    _need(arr.dtype.name in _INDEX_DTYPES, f"{name} has dtype {arr.dtype}, not int32 or int64")
    return arr


def _data_dtype(dtype: Any, name: str) -> None:
    """A dtype sparse containers support (scipy's own list: bool and numeric)."""
    np = _np()
    supported = sys.modules["scipy.sparse._sputils"].supported_dtypes
    _need(
        isinstance(dtype, np.dtype) and dtype.type in supported,
        f"{name} has dtype {dtype}, which sparse does not support",
    )


def _shape(obj: Any, state: dict[str, Any], ndims: tuple[int, ...]) -> tuple[int, ...]:
    """``_shape``: non-negative ints, as many as the format allows (scipy's
    ``check_shape`` never ran on an unpickled container)."""
    np = _np()
    shape = state["_shape"]
    _need(type(shape) is tuple and len(shape) in ndims, f"its shape {shape!r} is not a tuple of {ndims} ints")
    _need(
        all((type(n) is int or isinstance(n, np.integer)) and 0 <= n < 1 << 62 for n in shape),
        f"its shape {shape!r} is not non-negative ints",
    )
    size = 1
    for n in shape:
        size *= int(n)
    _need(size < 1 << 63, f"its shape {shape!r} has more elements than an int64 counts")
    maxprint = state.get("maxprint", 50)
    _need(type(maxprint) is int, f"maxprint {maxprint!r} is not an int")
    _need(isinstance(obj, sys.modules["scipy.sparse"].sparray) or len(shape) == 2, "a sparse matrix is 2-D")
    return tuple(int(n) for n in shape)


def _fits(shape: tuple[int, ...], dtype: Any, what: str) -> None:
    """Dimensions fit the index dtype: sparsetools takes them as that C integer type."""
    limit = int(_np().iinfo(dtype).max)
    _need(max(shape, default=0) <= limit, f"its shape {shape} does not fit its {dtype} {what}")


def _flag(state: dict[str, Any], name: str, actual: Callable[[], bool]) -> None:
    """A cached format flag, if pickled, is a bool; if it claims sorted/canonical
    indices, they are (scipy's kernels skip sorting and de-duplication on its word)."""
    if name in state:
        value = state[name]
        _need(type(value) is bool, f"{name} {value!r} is not a bool")
        _need(not value or actual(), f"{name} is True but its indices are not so")


def _scipy_check(check: Callable[[], object]) -> None:
    try:
        check()
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise _Invalid(f"scipy's own check refuses it: {exc}") from exc


@_validator
def sparse_compressed(obj: Any) -> None:
    """CSR, CSC and BSR: ``data``, ``indices`` and ``indptr`` are plain numpy arrays of
    the types sparsetools is compiled for and the shape fits them; then scipy's own
    ``check_format(full_check=True)`` — safe to call here because it does only numpy
    operations (lengths, ``indptr[0]``/``[-1]``, ``min``/``max``/``diff``) on arrays
    whose types are now known — proves every index inside the shape, ``indptr`` starting
    at 0, non-decreasing and inside ``indices``, and ``data`` as long as ``indices``:
    exactly what the C++ kernels assume.  A pickled sorted/canonical flag must be true."""
    state = _attrs(obj, "_shape", "data", "indices", "indptr")
    sparse = sys.modules["scipy.sparse"]
    is_bsr = isinstance(obj, sparse.bsr_matrix | sparse.bsr_array)
    is_csc = isinstance(obj, sparse.csc_matrix | sparse.csc_array)
    shape = _shape(obj, state, (2,) if is_bsr or is_csc else (1, 2))
    indices = _index_array(state["indices"], "indices")
    indptr = _index_array(state["indptr"], "indptr")
    data = state["data"]
    _need(type(data) is _np().ndarray, f"data is a {type(data).__name__}, not a numpy array")
    _data_dtype(data.dtype, "data")
    for arr, name in ((indices, "indices"), (indptr, "indptr")):
        _fits(shape, arr.dtype, name)
        _fits((len(indices),), arr.dtype, name)
    if is_bsr:
        _need(data.ndim == 3, f"a BSR data array is 3-D, not {data.ndim}-D")
        rows, cols = data.shape[1:]
        _need(rows >= 1 and cols >= 1, f"blocksize {data.shape[1:]} is empty")
        _need(
            shape[0] % rows == 0 and shape[1] % cols == 0,
            f"shape {shape} is not a multiple of blocksize {data.shape[1:]}",
        )
    _scipy_check(lambda: obj.check_format(full_check=True))
    tools = sys.modules["scipy.sparse._sparsetools"]
    indptr, indices = obj.indptr, obj.indices
    rows = len(indptr) - 1
    _flag(state, "_has_sorted_indices", lambda: bool(tools.csr_has_sorted_indices(rows, indptr, indices)))
    _flag(state, "_has_canonical_format", lambda: bool(tools.csr_has_canonical_format(rows, indptr, indices)))


@_validator
def sparse_coo(obj: Any) -> None:
    """COO: one plain int32/int64 coordinate array per dimension, as long as a 1-D
    ``data``; then scipy's own ``_check`` (numpy ``min``/``max`` of each coordinate
    against its dimension, nothing native).  A canonical flag must be true: scipy then
    skips sorting and summing duplicates."""
    state = _attrs(obj, "_shape", "coords", "data")
    shape = _shape(obj, state, tuple(range(1, 65)))
    coords = state["coords"]
    _need(type(coords) is tuple and len(coords) == len(shape), f"coords are not {len(shape)} index arrays")
    data = _array(state["data"], "data", 1, "biufc?")
    _data_dtype(data.dtype, "data")
    for axis, idx in enumerate(coords):
        _index_array(idx, f"coords[{axis}]")
        _need(len(idx) == len(data), f"coords[{axis}] has {len(idx)} entries for {len(data)} values")
        _fits(shape, idx.dtype, f"coords[{axis}]")
    _scipy_check(obj._check)
    if "has_canonical_format" in state:
        _flag(state, "has_canonical_format", lambda: _coo_canonical(obj.coords))


def _coo_canonical(coords: tuple[Any, ...]) -> bool:
    """Sorted row-major (what ``sum_duplicates`` leaves) with no repeated coordinate."""
    np = _np()
    if len(coords[0]) < 2:
        return True
    order = np.lexsort(coords[::-1])
    if not np.array_equal(order, np.arange(len(order))):
        return False
    same = np.ones(len(order) - 1, dtype=bool)
    for idx in coords:
        same &= idx[1:] == idx[:-1]
    return not bool(same.any())


@_validator
def sparse_dia(obj: Any) -> None:
    """DIA: the checks of scipy's constructor (a 2-D ``data`` with one row per offset,
    1-D offsets without repeats), offsets int32/int64 and no further from the main
    diagonal than the matrix is wide or tall (``dia_matvec`` adds them to dimensions in
    the offsets' C type)."""
    state = _attrs(obj, "_shape", "data", "offsets")
    shape = _shape(obj, state, (2,))
    data = _array(state["data"], "data", 2, "biufc?")
    _data_dtype(data.dtype, "data")
    offsets = _index_array(state["offsets"], "offsets")
    _need(data.shape[0] == len(offsets), f"{data.shape[0]} diagonals for {len(offsets)} offsets")
    _need(len(_np().unique(offsets)) == len(offsets), "offsets repeat")
    _fits(shape, offsets.dtype, "offsets")
    _fits((data.shape[1],), offsets.dtype, "offsets")
    if len(offsets):
        _need(
            -max(shape) <= int(offsets.min()) and int(offsets.max()) <= max(shape),
            f"an offset is further from the diagonal than shape {shape}",
        )


def _index(value: object) -> bool:
    return type(value) is int or isinstance(value, _np().integer)


def _scalar(value: object) -> bool:
    return type(value) in (int, float, complex, bool) or isinstance(value, _np().generic)


@_validator
def sparse_lil(obj: Any) -> None:
    """LIL: ``rows`` and ``data`` object arrays of one list per row, each row's column
    indices strictly increasing ints inside the shape and its values as many numbers.
    scipy has no check of its own; its Cython ``lil_flatten_to_array`` writes every
    value into an array sized by the index lists, so the two must agree."""
    state = _attrs(obj, "_shape", "rows", "data", "dtype")
    n_rows, n_cols = _shape(obj, state, (2,))
    _data_dtype(state["dtype"], "dtype")
    rows = _array(state["rows"], "rows", 1, "O")
    data = _array(state["data"], "data", 1, "O")
    _need(len(rows) == n_rows == len(data), f"rows and data are not one list per row of {n_rows}")
    for i in range(n_rows):
        cols, values = rows[i], data[i]
        _need(type(cols) is list and type(values) is list, f"row {i} is not two lists")
        _need(len(cols) == len(values), f"row {i} has {len(cols)} indices for {len(values)} values")
        previous = -1
        for col in cols:
            _need(
                _index(col) and previous < col < n_cols,
                f"row {i}'s column indices are not increasing inside 0..{n_cols}",
            )
            previous = col
        _need(all(_scalar(v) for v in values), f"row {i} holds a value that is not a number")


@_validator
def sparse_dok(obj: Any) -> None:
    """DOK: a dict of coordinates inside the shape to numbers (an int key per value for
    a 1-D array, a tuple of two otherwise), both in ``_dict`` (what scipy reads) and in
    the dict the object itself is (what ``copyreg`` filled)."""
    state = _attrs(obj, "_shape", "_dict", "dtype")
    shape = _shape(obj, state, (1, 2))
    _data_dtype(state["dtype"], "dtype")
    store = state["_dict"]
    _need(type(store) is dict, f"_dict is a {type(store).__name__}, not a dict")
    for table in (store, dict(dict.items(obj))):
        for key, value in table.items():
            coords = key if len(shape) == 2 else (key,)
            _need(
                type(coords) is tuple and len(coords) == len(shape), f"key {key!r} is not a coordinate of shape {shape}"
            )
            _need(
                all(_index(c) and 0 <= c < n for c, n in zip(coords, shape, strict=True)),
                f"key {key!r} is outside shape {shape}",
            )
            _need(_scalar(value), f"the value at {key!r} is not a number")


VALIDATORS: dict[str, Validator] = {
    "scipy_sparse_compressed": sparse_compressed,
    "scipy_sparse_coo": sparse_coo,
    "scipy_sparse_dia": sparse_dia,
    "scipy_sparse_lil": sparse_lil,
    "scipy_sparse_dok": sparse_dok,
}
CHECKS: dict[str, Check] = {}
