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

import contextlib
import sys
from collections.abc import Callable
from typing import Any

from .._rules import Call, Check, Validator
from ._invariants import Invalid as _Invalid
from ._invariants import need as _need
from ._invariants import validator as _validator

__all__ = ["CHECKS", "VALIDATORS"]


def _np() -> Any:
    return sys.modules["numpy"]


def _attrs(obj: Any, *names: str) -> dict[str, Any]:
    """The instance's attributes, from its ``__dict__`` and its slots; ``names`` must
    all have been BUILT."""
    found: Any = getattr(obj, "__dict__", None)
    state: dict[str, Any] = dict(found) if type(found) is dict else {}
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if type(slots) is str else slots:
            if slot not in state and slot != "__dict__":
                with contextlib.suppress(AttributeError):  # (a slot never set)
                    state[slot] = object.__getattribute__(obj, slot)
    _need(state, "it never received its state")
    missing = [name for name in names if name not in state]
    _need(not missing, f"it has no {missing[0] if missing else ''}")
    return state


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


# -- interpolators and splines ----------------------------------------------------------


def _number(value: object) -> bool:
    np = _np()
    return type(value) in (int, float, bool) or isinstance(value, np.integer | np.floating | np.bool_)


def _numpy_namespace() -> Any:
    """The array namespace scipy derives from a numpy array (its ``array_namespace``,
    called here on an array of our own): what the splines of scipy 1.18 hold as ``_xp``
    and ``_xp_internal``, and whose ``asarray`` interpolators keep as ``_asarray``."""
    return sys.modules["scipy._lib._array_api"].array_namespace(_np().empty(0))


def _asarray(state: dict[str, Any]) -> None:
    """``_asarray`` is called on every input: it must be scipy's own numpy ``asarray``."""
    if "_asarray" in state:
        _need(state["_asarray"] is _numpy_namespace().asarray, "its _asarray is not scipy's numpy asarray")


def _axis(state: dict[str, Any], ndim: int) -> None:
    axis = state.get("axis", 0)
    _need(type(axis) is int and 0 <= axis < max(ndim, 1), f"axis {axis!r} is not an axis of its {ndim}-D data")


def _extrapolate(state: dict[str, Any]) -> None:
    value = state.get("extrapolate", True)
    _need(
        type(value) is bool or value == "periodic" or value is None,
        f"extrapolate {value!r} is not a bool or 'periodic'",
    )


# scipy 1.18 pickles its splines and piecewise polynomials through a NumPy delegate: the
# public object holds ``_delegate_to`` (a ``_BSpline``, ``_PPoly`` or ``_BPoly`` with the
# arrays the Cython evaluators index) and stands its array namespace in for by
# ``xp.empty(0)``, from which its ``__setstate__`` derives ``_xp`` again.


def _delegate_class(cls: type) -> type | None:
    """The NumPy delegate scipy rebuilds an instance of ``cls`` around, or None where the
    installed scipy (1.17) pickles the arrays on the object itself."""
    interpolate = sys.modules["scipy.interpolate"]
    if issubclass(cls, interpolate.BSpline):
        return getattr(sys.modules["scipy.interpolate._bsplines"], "_BSpline", None)
    name = "_BPoly" if issubclass(cls, interpolate.BPoly) else "_PPoly"
    return getattr(sys.modules["scipy.interpolate._interpolate"], name, None)


def _namespace_sentinel(value: Any) -> bool:
    """What ``__getstate__`` writes for the numpy namespace: ``numpy.empty(0)``."""
    np = _np()
    return type(value) is np.ndarray and value.shape == (0,) and value.dtype == np.float64


def delegating_state(call: Call) -> bool:
    """A scipy 1.18 spline's or piecewise polynomial's state, before its ``__setstate__``:
    that calls ``array_namespace`` on pickled values (which, with ``SCIPY_ARRAY_API`` set,
    converts an arbitrary object or asks it for its namespace, before any validator ran)
    and, for the polynomials, sets every other key as an attribute.  So the state must be
    what ``__getstate__`` writes: the NumPy delegate of scipy's own class for this one,
    made by this load (a spline's knots already a numpy array, as its ``__setstate__``
    reads them), and the empty float64 array that stands for the numpy namespace.  Under
    scipy 1.17 the arrays are a plain BUILD of attributes, validated after the load."""
    inst, state = call.args
    delegate_cls = _delegate_class(type(inst))
    if delegate_cls is None:
        return True
    spline = isinstance(inst, sys.modules["scipy.interpolate"].BSpline)
    if spline and type(state) is tuple and len(state) == 2:
        delegate, sentinel = state
    elif not spline and type(state) is dict and set(state) == {"_delegate_to", "_xp"}:
        delegate, sentinel = state["_delegate_to"], state["_xp"]
    else:
        return False
    if type(delegate) is not delegate_cls or not _namespace_sentinel(sentinel):
        return False
    return not spline or type(vars(delegate).get("t")) is _np().ndarray


def _delegated(obj: Any, *names: str) -> dict[str, Any] | None:
    """scipy 1.18's form, after ``__setstate__``: exactly a delegate of scipy's own class
    and the numpy namespace as both namespaces; the delegate's attributes (``names``
    among them) are returned for the checks of its arrays.  None where the installed
    scipy pickles the arrays on the object itself (1.17)."""
    delegate_cls = _delegate_class(type(obj))
    if delegate_cls is None:
        return None
    state = _attrs(obj, "_delegate_to", "_xp", "_xp_internal")
    extra = sorted(set(state) - {"_delegate_to", "_xp", "_xp_internal"})
    _need(not extra, f"it has an attribute {extra[0] if extra else ''!r} scipy does not pickle")
    delegate = state["_delegate_to"]
    _need(
        type(delegate) is delegate_cls,
        f"its delegate is a {type(delegate).__name__}, not scipy's {delegate_cls.__name__}",
    )
    xp = _numpy_namespace()
    for name in ("_xp", "_xp_internal"):
        _need(state[name] is xp, f"its {name} is not scipy's numpy namespace")
    return _attrs(delegate, *names)


def _piecewise(c: Any, x: Any, state: dict[str, Any], bernstein: bool) -> None:
    """The checks of a piecewise polynomial's arrays, wherever they are pickled."""
    _need(
        type(c) is _np().ndarray and c.ndim >= 2 and c.dtype.kind in "fc", "the coefficients are not a 2-D float array"
    )
    x = _array(x, "the breakpoints", 1, "f")
    _axis(state, c.ndim - 1)
    _extrapolate(state)
    _asarray(state)
    interpolate = sys.modules["scipy.interpolate"]
    base = interpolate.BPoly if bernstein else interpolate.PPoly
    _scipy_check(lambda: base(c, x, extrapolate=state.get("extrapolate")))


@_validator
def ppoly(obj: Any) -> None:
    """``PPoly``, ``BPoly`` and the cubic interpolators (``CubicSpline``, ``Pchip``,
    ``Akima1D``, ``CubicHermiteSpline``): their Cython evaluators index the coefficients
    by the interval ``x`` finds, unchecked.  scipy's own ``_PPolyBase`` constructor checks
    what they assume (``c`` of shape (order, len(x) - 1, ...), ``x`` 1-D and monotonic);
    it is run on the pickled arrays (numpy only), after their types are known: scipy
    1.17's on the object, 1.18's on its delegate, whose wrapping is checked first."""
    bernstein = isinstance(obj, sys.modules["scipy.interpolate"].BPoly)
    delegate = _delegated(obj, "c", "x")
    if delegate is not None:
        _piecewise(delegate["c"], delegate["x"], delegate, bernstein)
        return
    state = _attrs(obj, "_c", "_x")
    _piecewise(state["_c"], state["_x"], state, bernstein)


@_validator
def ppoly_delegate(obj: Any) -> None:
    """scipy 1.18's ``_PPoly`` and ``_BPoly``, the NumPy delegates the evaluators read:
    the checks of ``ppoly`` on their own slots."""
    state = _attrs(obj, "c", "x")
    _piecewise(state["c"], state["x"], state, type(obj).__name__ == "_BPoly")


def _spline(t: Any, c: Any, k: Any, state: dict[str, Any]) -> None:
    """The checks of a B-spline's arrays, wherever they are pickled."""
    t = _array(t, "the knots", 1, "f")
    _need(type(c) is _np().ndarray and c.ndim >= 1 and c.dtype.kind in "fc", "the coefficients are not a float array")
    _need(type(k) is int and 0 <= k <= len(t), f"degree {k!r} is not an int the knots allow")
    _axis(state, c.ndim)
    _extrapolate(state)
    _asarray(state)
    bspl = sys.modules["scipy.interpolate"].BSpline
    _scipy_check(lambda: bspl(t, c, k, extrapolate=state.get("extrapolate", True)))


@_validator
def bspline(obj: Any) -> None:
    """``BSpline`` (``make_interp_spline``, ``make_smoothing_spline``, ``interp1d``'s
    splines): ``evaluate_spline`` reads ``k + 1`` coefficients per knot interval, unchecked.
    scipy's own constructor checks what it assumes (a non-negative int degree, at least
    2k+2 non-decreasing finite knots, at least len(t) - k - 1 coefficients); it is run on
    the pickled arrays, after their types are known: scipy 1.17's on the object, 1.18's
    on its delegate, whose wrapping is checked first."""
    delegate = _delegated(obj, "t", "c", "k")
    if delegate is not None:
        _bspline_delegate_state(delegate)
        return
    state = _attrs(obj, "_t", "_c", "k")
    _spline(state["_t"], state["_c"], state["k"], state)


def _bspline_delegate_state(state: dict[str, Any]) -> None:
    _need(state.get("_delegate_to") is None, "its delegate delegates again")
    _spline(state["t"], state["c"], state["k"], state)


@_validator
def bspline_delegate(obj: Any) -> None:
    """scipy 1.18's ``_BSpline``, the NumPy delegate ``evaluate_spline`` reads: the checks
    of ``bspline`` on its own attributes (its ``_delegate_to`` is None, as
    ``construct_fast`` leaves it)."""
    _bspline_delegate_state(_attrs(obj, "t", "c", "k"))


_INTERP1D_CALLS = {
    "linear": ("_call_linear_np", "_call_linear"),
    "nearest": ("_call_nearest",),
    "nearest-up": ("_call_nearest",),
    "previous": ("_call_previousnext",),
    "next": ("_call_previousnext",),
    "spline": ("_call_spline",),
}


@_validator
def interp1d(obj: Any) -> None:
    """``interp1d`` calls ``self._call(self, x)``: it must be interp1d's own method for its
    kind (never a function the pickle chose); the rest is numpy, which checks its indices."""
    state = _attrs(obj, "_kind", "_call", "x", "_y")
    kind = state["_kind"]
    _need(type(kind) is str and kind in _INTERP1D_CALLS, f"kind {kind!r} is not one interp1d knows")
    cls = sys.modules["scipy.interpolate"].interp1d
    calls = [getattr(cls, name) for name in _INTERP1D_CALLS[kind]]
    _need(any(state["_call"] is call for call in calls), f"its _call is not interp1d's own for kind {kind!r}")
    x = _array(state["x"], "x", 1, "biuf")
    y = _array(state["_y"], "_y", 2, "biufc?")
    _need(len(y) == len(x), f"{len(y)} rows of y for {len(x)} points")
    if kind == "spline":
        _need(type(state.get("_spline")) is sys.modules["scipy.interpolate"].BSpline, "its spline is not a BSpline")


def _tck(t: Any, c: Any, k: Any, what: str, max_k: int = 5) -> None:
    """FITPACK's Fortran (splev, splint, sproot, ...) trusts a tck: 1-D float64 knots and
    coefficients, a degree 1 to 5, at least 2(k + 1) knots and n - k - 1 coefficients."""
    t = _array(t, f"the {what} knots", 1, "f")
    c = _array(c, f"the {what} coefficients", 1, "f")
    _need(t.dtype == _np().float64 and c.dtype == _np().float64, f"the {what} knots and coefficients are not float64")
    _need(type(k) is int and 1 <= k <= max_k, f"degree {k!r} is not between 1 and {max_k}")
    _need(len(t) >= 2 * (k + 1), f"{len(t)} knots are too few for degree {k}")
    _need(len(c) >= len(t) - k - 1, f"{len(c)} coefficients are too few for {len(t)} knots of degree {k}")
    _need(not (_np().diff(t) < 0).any(), f"the {what} knots are not non-decreasing")


@_validator
def univariate_spline(obj: Any) -> None:
    """``UnivariateSpline`` and friends: the tck FITPACK evaluates (``_eval_args``), and the
    fitting data ``set_smoothing_factor`` hands back to ``fpcurf1`` (x, y, w of one length
    m > k; knots, coefficients and the Fortran work arrays of one length nest >= n)."""
    state = _attrs(obj, "_eval_args", "_data")
    tck = state["_eval_args"]
    _need(type(tck) is tuple and len(tck) == 3, "its tck is not (t, c, k)")
    _tck(tck[0], tck[1], tck[2], "spline")
    ext = state.get("ext", 0)
    _need(type(ext) is int and 0 <= ext <= 3, f"ext {ext!r} is not 0 to 3")
    data = state["_data"]
    _need(type(data) is tuple and len(data) == 14, "its fitting data are not FITPACK's 14 fields")
    x, y, w, xb, xe, k, s, n, t, c, fp, fpint, nrdata, ier = data
    _need(k == tck[2] and type(n) is int and 2 * (k + 1) <= n, "its fitting data disagree with its tck")
    _tck(t, c, k, "fitted")
    _need(n <= len(t) == len(c), f"{n} knots do not fit arrays of {len(t)} and {len(c)}")
    if x is not None:
        m = len(_array(x, "x", 1, "f"))
        _need(m > k, f"{m} points are too few for degree {k}")
        for arr, name in ((y, "y"), (w, "w")):
            _need(len(_array(arr, name, 1, "f")) == m, f"{name} is not as long as x")
        for arr, name in ((fpint, "fpint"), (nrdata, "nrdata")):  # (None in a least-squares spline)
            _need(arr is None or len(_array(arr, name, 1, "fi")) == len(t), f"{name} is not as long as the knots")
        _need(all(_number(v) for v in (xb, xe, s, fp)) and type(ier) is int, "its fitting scalars are not numbers")
    cls = state.get("_spline_class")
    if cls is not None:
        fitpack = sys.modules["scipy.interpolate"]
        own = (fitpack.UnivariateSpline, fitpack.InterpolatedUnivariateSpline, fitpack.LSQUnivariateSpline)
        _need(cls in own, "its _spline_class is not one of scipy's univariate splines")


@_validator
def bivariate_spline(obj: Any) -> None:
    """``RectBivariateSpline`` and the other bivariate splines: ``bispev``/``parder`` read
    (nx - kx - 1) x (ny - ky - 1) coefficients for the knots and degrees pickled."""
    state = _attrs(obj, "tck", "degrees")
    tck, degrees = state["tck"], state["degrees"]
    _need(type(tck) is tuple and len(tck) == 3, "its tck is not (tx, ty, c)")
    _need(type(degrees) is tuple and len(degrees) == 2, "its degrees are not (kx, ky)")
    tx, ty, c = tck
    kx, ky = degrees
    _tck(tx, c, kx, "x")
    _tck(ty, c, ky, "y")
    expected = (len(tx) - kx - 1) * (len(ty) - ky - 1)
    _need(len(c) == expected, f"{len(c)} coefficients for a {len(tx)} by {len(ty)} knot grid")
    _need(_number(state.get("fp", 0.0)), "fp is not a number")


@_validator
def regular_grid(obj: Any) -> None:
    """``RegularGridInterpolator``: its Cython linear kernels index ``values`` with the
    cell each grid finds, unchecked: one strictly ascending 1-D grid per leading axis of
    ``values`` (scipy's own ``_check_dimensionality``), a method it knows, no spline
    object (the spline methods are not validated: they are refused)."""
    state = _attrs(obj, "_grid", "_values", "method")
    grid, values = state["_grid"], state["_values"]
    _need(type(grid) is tuple and grid, "its grid is not a tuple of arrays")
    for i, axis in enumerate(grid):
        axis = _array(axis, f"grid axis {i}", 1, "f")
        _need(len(axis) >= 1 and (_np().diff(axis) > 0).all(), f"grid axis {i} is not strictly ascending")
    _need(type(values) is _np().ndarray and values.dtype.kind in "biufc", "its values are not a numeric array")
    method = state["method"]
    rgi = sys.modules["scipy.interpolate"].RegularGridInterpolator
    _need(
        method in ("linear", "nearest", "slinear_legacy", "cubic_legacy", "quintic_legacy"),
        f"method {method!r} is not validated",
    )
    _need(state.get("_spline") is None, "it holds a spline object")
    _need(type(state.get("bounds_error", True)) is bool, "bounds_error is not a bool")
    descending = state.get("_descending_dimensions", ())
    _need(
        type(descending) is tuple and all(type(d) is int and 0 <= d < len(grid) for d in descending),
        "its descending axes are not axes",
    )
    _asarray(state)
    _scipy_check(lambda: rgi._check_dimensionality(obj, grid, values))


# -- spatial ----------------------------------------------------------------------------

_KDTREE_STATE = 10  # tree buffer, data, n, m, leafsize, maxes, mins, indices, boxsize, boxsize_data
#: ``ckdtreenode``: split_dim, children, split, start_idx, end_idx, less*, greater*,
#: _less, _greater, eight bytes each; the two pointers are process addresses, which
#: ``__setstate__`` recomputes from ``_less``/``_greater``
_NODE_FIELDS = 9
_NODE_POINTERS = (5, 6)


def ckdtree_state(call: Call) -> bool:
    """A k-d tree's pickled state, before ``__setstate__`` copies the node buffer into C++
    and walks its child links (a forged link is an out-of-bounds read right there, a
    forged index or size one at every query).  The tree is rebuilt from the pickled data
    with each of scipy's build options; the state must be what one of them writes."""
    np = _np()
    _inst, state = call.args
    if type(state) is not tuple or len(state) != _KDTREE_STATE:
        return False
    data, leafsize, boxsize = state[1], state[4], state[8]
    if type(data) is not np.ndarray or data.dtype != np.float64 or data.ndim != 2 or not data.flags.c_contiguous:
        return False
    if type(leafsize) is not int or leafsize < 1:
        return False
    if boxsize is not None and (type(boxsize) is not np.ndarray or boxsize.shape != (data.shape[1],)):
        return False
    ckdtree = sys.modules["scipy.spatial"].cKDTree
    box = None if boxsize is None else boxsize
    for compact in (True, False):
        for balanced in (True, False):
            try:
                rebuilt = ckdtree(data, leafsize=leafsize, compact_nodes=compact, balanced_tree=balanced, boxsize=box)
            except (ValueError, TypeError):
                return False
            if _same_state(rebuilt.__getstate__(), state):
                return True
    return False


def _nodes(buffer: Any) -> Any:
    """The node fields of a pickled tree buffer, without the two pointers."""
    np = _np()
    if type(buffer) is not np.ndarray or buffer.dtype != np.dtype("S1") or buffer.ndim != 1:
        return None
    if buffer.nbytes % (8 * _NODE_FIELDS):
        return None
    nodes = np.frombuffer(buffer.tobytes(), dtype=np.int64).reshape(-1, _NODE_FIELDS)
    return np.delete(nodes, _NODE_POINTERS, axis=1)


def _same_state(expected: tuple[Any, ...], got: tuple[Any, ...]) -> bool:
    np = _np()
    ours, theirs = _nodes(expected[0]), _nodes(got[0])
    if ours is None or theirs is None or ours.shape != theirs.shape or not np.array_equal(ours, theirs):
        return False
    for a, b in zip(expected[1:], got[1:], strict=True):
        if type(a) is not type(b):
            return False
        if type(a) is np.ndarray:
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                return False
        elif a != b:
            return False
    return True


@_validator
def rotation(obj: Any) -> None:
    """``Rotation``: its Cython kernels read four float64 components per rotation; the
    quaternions are unit (what every constructor leaves) and ``single`` a bool."""
    np = _np()
    state = _attrs(obj, "_quat", "_single")
    quat = state["_quat"]
    _need(type(quat) is np.ndarray and quat.dtype == np.float64, "its quaternions are not a float64 array")
    _need(quat.ndim >= 1 and quat.shape[-1] == 4, f"its quaternions have shape {quat.shape}")
    single = state["_single"]
    _need(type(single) is bool, "single is not a bool")
    _need(not single or quat.size == 4, "a single rotation holds more than one quaternion")
    _need(np.isfinite(quat).all() and np.allclose(np.linalg.norm(quat, axis=-1), 1.0), "its quaternions are not unit")


# -- stats -------------------------------------------------------------------------------


#: scipy.stats' distribution objects by class: the instances scipy itself makes
_DISTRIBUTION_MODULES = ("scipy.stats._continuous_distns", "scipy.stats._discrete_distns")
#: state a distribution's code paths depend on: it must be what scipy's own instance has
#: (``_parse_arg_template`` is Python source that ``__setstate__`` passes to ``exec``)
_AS_SCIPY_HAS_IT = frozenset({"_parse_arg_template", "shapes", "numargs", "_stats_has_moments", "moment_type", "inc"})
_NUMBERS = frozenset({"a", "b", "badvalue", "xtol", "moment_tol"})
_TEXT = frozenset({"name", "longname", "__doc__"})


def _canonical(cls: type) -> Any:
    """scipy's own instance of the distribution class ``cls`` (``norm`` for ``norm_gen``)."""
    for name in _DISTRIBUTION_MODULES:
        module = sys.modules.get(name)
        for dist_name in getattr(module, "_distn_names", ()):
            dist = getattr(module, dist_name)
            if type(dist) is cls:
                return dist
    return None


def _random_state(value: object) -> bool:
    random = _np().random
    return value is None or type(value) in (random.RandomState, random.Generator)


def distribution_state(call: Call) -> bool:
    """A distribution's state, before its ``__setstate__`` runs: that ``exec``s the
    pickled ``_parse_arg_template`` (Python source) and builds methods from it, so the
    template and everything that shapes it must be exactly what scipy's own instance of
    the class holds; the support, tolerances and names are plain numbers and text, the
    random state one of numpy's generators (their validators run on them)."""
    inst, state = call.args
    canonical = _canonical(type(inst))
    if canonical is None or type(state) is not dict:
        return False
    expected = canonical.__getstate__()
    if set(state) != set(expected):
        return False
    for key, value in state.items():
        if key in _AS_SCIPY_HAS_IT:
            ok = type(value) is type(expected[key]) and value == expected[key]
        elif key in _NUMBERS:
            ok = _number(value)
        elif key in _TEXT:
            ok = value is None or type(value) is str
        elif key == "_random_state":
            ok = _random_state(value)
        elif key == "_ctor_param":
            ok = _ctor_param(value, expected[key], expected["shapes"])
        elif key == "vecentropy":  # (discrete: replaced by __setstate__, validated as a vectorize)
            ok = type(value) is _np().vectorize
        else:
            ok = False
        if not ok:
            return False
    return True


def _ctor_param(value: Any, expected: dict[str, Any], shapes: str | None) -> bool:
    """The constructor arguments scipy re-runs when a distribution is re-seeded or
    frozen (its constructor checks the shape names it builds the parser from): the
    shapes scipy's instance has, or none (freezing fills them in); no ``values`` (those
    make a different class); the rest numbers and text."""
    if type(value) is not dict or set(value) != set(expected):
        return False
    for key, item in value.items():
        if key == "shapes":
            if item is not None and item != shapes:
                return False
        elif key == "values":
            if item is not None:
                return False
        elif key == "seed":
            if not (_random_state(item) or type(item) is int):
                return False
        elif not (item is None or type(item) is str or _number(item)):
            return False
    return True


def distribution_entropy(call: Call) -> bool:
    """``getattr(dist, "_entropy")``: how a discrete distribution pickles the function its
    ``vecentropy`` vectorizes (a bound method).  Only on one of scipy's discrete
    distributions that this load made (never a global), only that one pure method; the
    pickle cannot call what getattr returns, and ``__setstate__`` replaces ``vecentropy``."""
    if len(call.args) != 2 or call.kwargs:
        return False
    dist, name = call.args
    infrastructure = sys.modules.get("scipy.stats._distn_infrastructure")
    if infrastructure is None or name != "_entropy" or call.global_name(dist) is not None:
        return False
    return isinstance(dist, infrastructure.rv_discrete) and _canonical(type(dist)) is not None


@_validator
def entropy_vectorize(obj: Any) -> None:
    """``numpy.vectorize`` as discrete distributions pickle it: it calls ``pyfunc`` with
    whatever it is given, so ``pyfunc`` must be a scipy discrete distribution's own bound
    ``_entropy``; no cached ufunc, an output type code, plain options."""
    state = _attrs(obj, "pyfunc")
    func = state["pyfunc"]
    dist: Any = getattr(func, "__self__", None)
    infrastructure = sys.modules["scipy.stats._distn_infrastructure"]
    _need(
        type(func).__name__ == "method"
        and isinstance(dist, infrastructure.rv_discrete)
        and _canonical(type(dist)) is not None,
        "its function is not a scipy distribution's own method",
    )
    _need(func.__func__ is type(dist)._entropy, "its function is not the distribution's _entropy")
    _need(state.get("_ufunc", {}) == {}, "it holds a cached ufunc")
    otypes = state.get("otypes")
    _need(
        otypes is None or (type(otypes) is str and otypes.isalnum() and len(otypes) <= 8),
        f"otypes {otypes!r} is not a type code",
    )
    _need(
        state.get("signature") is None and type(state.get("cache", False)) is bool,
        "it has a signature or a non-bool cache flag",
    )
    excluded = state.get("excluded", set())
    _need(
        type(excluded) is set and all(type(e) in (int, str) for e in excluded),
        "its excluded arguments are not names or positions",
    )
    _need(state.get("_in_and_out_core_dims") is None, "it has core dimensions")


def _distribution_argument(value: Any) -> bool:
    np = _np()
    return _number(value) or (type(value) is np.ndarray and value.dtype.kind in "biuf")


@_validator
def frozen_distribution(obj: Any) -> None:
    """A frozen distribution calls its distribution's methods with its arguments: the
    distribution must be one of scipy's (continuous for ``rv_continuous_frozen``,
    discrete for ``rv_discrete_frozen``), the arguments numbers or numeric arrays."""
    state = _attrs(obj, "args", "kwds", "dist")
    infrastructure = sys.modules["scipy.stats._distn_infrastructure"]
    dist = state["dist"]
    kind = (
        infrastructure.rv_discrete
        if isinstance(obj, infrastructure.rv_discrete_frozen)
        else infrastructure.rv_continuous
    )
    _need(
        _canonical(type(dist)) is not None and isinstance(dist, kind),
        f"its distribution is a {type(dist).__name__}, not one of scipy's {kind.__name__} distributions",
    )
    args, kwds = state["args"], state["kwds"]
    _need(type(args) is tuple and all(_distribution_argument(a) for a in args), "its arguments are not numbers")
    _need(
        type(kwds) is dict and all(type(k) is str and _distribution_argument(v) for k, v in kwds.items()),
        "its keyword arguments are not numbers",
    )
    for name in ("a", "b"):
        _need(_number(state.get(name, 0)), f"its support bound {name} is not a number")


@_validator
def gaussian_kde(obj: Any) -> None:
    """``gaussian_kde``: the Cython kernel sums read d coordinates per point from
    ``dataset`` and a d by d Cholesky factor, by the shapes of the arrays it is handed:
    they must agree with each other, ``d``, ``n`` and the weights."""
    state = _attrs(obj, "dataset", "d", "n", "_weights", "covariance", "cho_cov")
    dataset = _array(state["dataset"], "the dataset", 2, "f")
    d, n = state["d"], state["n"]
    _need(
        type(d) is int and type(n) is int and dataset.shape == (d, n) and n >= 1, f"the dataset is not {d!r} by {n!r}"
    )
    _need(_array(state["_weights"], "the weights", 1, "f").shape == (n,), "there is not one weight per point")
    for name in ("covariance", "cho_cov", "_data_covariance", "_data_cho_cov"):
        if name in state:
            _need(_array(state[name], name, 2, "f").shape == (d, d), f"{name} is not {d} by {d}")
    for name in ("factor", "_neff", "log_det"):
        if name in state:
            _need(_number(state[name]), f"{name} is not a number")


VALIDATORS: dict[str, Validator] = {
    "scipy_sparse_compressed": sparse_compressed,
    "scipy_sparse_coo": sparse_coo,
    "scipy_sparse_dia": sparse_dia,
    "scipy_sparse_lil": sparse_lil,
    "scipy_sparse_dok": sparse_dok,
    "scipy_ppoly": ppoly,
    "scipy_ppoly_delegate": ppoly_delegate,
    "scipy_bspline": bspline,
    "scipy_bspline_delegate": bspline_delegate,
    "scipy_interp1d": interp1d,
    "scipy_univariate_spline": univariate_spline,
    "scipy_bivariate_spline": bivariate_spline,
    "scipy_regular_grid": regular_grid,
    "scipy_rotation": rotation,
    "scipy_gaussian_kde": gaussian_kde,
    "scipy_frozen_distribution": frozen_distribution,
    "scipy_entropy_vectorize": entropy_vectorize,
}
CHECKS: dict[str, Check] = {
    "scipy_ckdtree_state": ckdtree_state,
    "scipy_delegating_state": delegating_state,
    "scipy_distribution_state": distribution_state,
    "scipy_distribution_entropy": distribution_entropy,
}
