"""Validators and checks for pandas objects (see the package docstring).

pandas' Cython code indexes memory with what the objects hold and checks little of it
(``boundscheck(False)``): category and level codes index their categories, block
placements index the manager's block-number tables (written, during ``__setstate__``
already), object-typed loops read the elements of an array as object pointers.  The
validators state those invariants; where pandas has a check of its own (a
``MultiIndex``'s integrity, ``CategoricalDtype.validate_categories``) it is used.
Everything here is vectorised: no Python loop runs per element.
"""

from __future__ import annotations

import sys
from typing import Any

from .._rules import Call, Check, Validator

__all__ = ["CHECKS", "VALIDATORS"]

_UNITS = frozenset({"s", "ms", "us", "ns"})  # the resolutions pandas' datetime code supports
_CLOSED = frozenset({"right", "left", "both", "neither"})
_UNINITIALISED = "it never received its state"


def _np() -> Any:
    return sys.modules["numpy"]


def _pd() -> Any:
    return sys.modules["pandas"]


def _ndarray(value: Any, name: str, ndims: tuple[int, ...] = (1, 2)) -> str | None:
    numpy = _np()
    if type(value) is not numpy.ndarray:
        return f"{name} is a {type(value).__name__}, not an ndarray"
    if value.ndim not in ndims:
        return f"{name} has {value.ndim} dimensions"
    return None


def _codes(codes: Any, count: int, name: str) -> str | None:
    """Codes indexing ``count`` values, -1 for missing: signed integers in [-1, count)."""
    problem = _ndarray(codes, name, (1,))
    if problem is None and codes.dtype.kind != "i":
        problem = f"{name} are {codes.dtype}, not signed integers"
    if problem is None and len(codes):
        low, high = int(codes.min()), int(codes.max())
        if low < -1 or high >= count:
            problem = f"{name} run from {low} to {high}, outside [-1, {count}) for {count} values"
    return problem


# -- dtypes ------------------------------------------------------------------------------


def categorical_dtype(obj: Any) -> str | None:
    """Categories are an Index pandas' own ``validate_categories`` accepts (unique, no
    missing values): codes are positions in it."""
    state = vars(obj)
    if "_categories" not in state or "_ordered" not in state:
        return _UNINITIALISED
    categories, ordered = state["_categories"], state["_ordered"]
    if not isinstance(ordered, bool) and ordered is not None:
        return f"ordered is a {type(ordered).__name__}"
    if categories is None:
        return None
    if not isinstance(categories, _pd().Index):
        return f"its categories are a {type(categories).__name__}, not an Index"
    type(obj).validate_categories(categories, fastpath=False)
    return None


def datetime_tz_dtype(obj: Any) -> str | None:
    """The unit picks the conversion factors pandas' C code uses; tz must be a tzinfo."""
    import datetime

    state = vars(obj)
    if "_unit" not in state or "_tz" not in state:
        return _UNINITIALISED
    if state["_unit"] not in _UNITS:
        return f"unit {state['_unit']!r} is not one of {sorted(_UNITS)}"
    if not isinstance(state["_tz"], datetime.tzinfo):
        return f"its time zone is a {type(state['_tz']).__name__}, not a tzinfo"
    return None


def interval_dtype(obj: Any) -> str | None:
    state = vars(obj)
    if "_subtype" not in state:
        return _UNINITIALISED
    subtype, closed = state["_subtype"], state.get("_closed")
    if subtype is not None and not isinstance(subtype, _np().dtype):
        return f"its subtype is a {type(subtype).__name__}, not a numpy dtype"
    if closed is not None and closed not in _CLOSED:
        return f"closed {closed!r} is not one of {sorted(_CLOSED)}"
    return None


def string_dtype(obj: Any) -> str | None:
    state = vars(obj)
    storage, na_value = state.get("_storage"), state.get("_na_value", _UNINITIALISED)
    if storage not in ("python", "pyarrow"):
        return f"storage {storage!r} is not 'python' or 'pyarrow'"
    if na_value is not _pd().NA and not (type(na_value) is float and na_value != na_value):
        return "its missing value is neither pd.NA nor NaN"
    return None


def period_dtype(obj: Any) -> str | None:
    """The Cython base keeps a code and a multiple of the frequency the Python side
    holds: they must be the frequency's own."""
    freq = vars(obj).get("_freq")
    if not isinstance(freq, _pd().tseries.offsets.BaseOffset):
        return _UNINITIALISED if freq is None else f"its frequency is a {type(freq).__name__}"
    if obj._dtype_code != freq._period_dtype_code or obj._n != freq.n:
        return "its period code disagrees with its frequency"
    return None


# -- extension arrays ----------------------------------------------------------------------


def _backing(obj: Any) -> tuple[Any, Any] | str:
    """The ndarray and dtype of an NDArrayBacked array (None before its state)."""
    values, dtype = obj._ndarray, obj._dtype
    if values is None or dtype is None:
        return _UNINITIALISED
    return _ndarray(values, "its backing array") or (values, dtype)


def categorical(obj: Any) -> str | None:
    """Codes index the categories with no bounds check (``take_nd``)."""
    backed = _backing(obj)
    if isinstance(backed, str):
        return backed
    codes, dtype = backed
    if not isinstance(dtype, _pd().CategoricalDtype) or categorical_dtype(dtype) is not None:
        return "its dtype is not a valid CategoricalDtype"
    if dtype.categories is None:
        return "its dtype has no categories"
    return _codes(codes, len(dtype.categories), "its codes")


def datetime_array(obj: Any) -> str | None:
    backed = _backing(obj)
    if isinstance(backed, str):
        return backed
    values, dtype = backed
    numpy = _np()
    if values.dtype.kind != "M" or numpy.datetime_data(values.dtype)[0] not in _UNITS:
        return f"its values are {values.dtype}, not datetime64 in s, ms, us or ns"
    if isinstance(dtype, _pd().DatetimeTZDtype):
        if datetime_tz_dtype(dtype) is not None or dtype.unit != numpy.datetime_data(values.dtype)[0]:
            return f"its dtype {dtype} disagrees with its values {values.dtype}"
    elif dtype != values.dtype or not isinstance(dtype, numpy.dtype):
        return f"its dtype {dtype!r} disagrees with its values {values.dtype}"
    return None


def timedelta_array(obj: Any) -> str | None:
    backed = _backing(obj)
    if isinstance(backed, str):
        return backed
    values, dtype = backed
    numpy = _np()
    if values.dtype.kind != "m" or numpy.datetime_data(values.dtype)[0] not in _UNITS:
        return f"its values are {values.dtype}, not timedelta64 in s, ms, us or ns"
    if not isinstance(dtype, numpy.dtype) or dtype != values.dtype:
        return f"its dtype {dtype!r} disagrees with its values {values.dtype}"
    return None


def period_array(obj: Any) -> str | None:
    backed = _backing(obj)
    if isinstance(backed, str):
        return backed
    values, dtype = backed
    if values.dtype != _np().int64:
        return f"its ordinals are {values.dtype}, not int64"
    if not isinstance(dtype, _pd().PeriodDtype) or period_dtype(dtype) is not None:
        return "its dtype is not a valid PeriodDtype"
    return None


def string_array(obj: Any) -> str | None:
    """Object-typed Cython loops read every element as a Python object: the array must
    hold objects, and pandas' own ``is_string_array`` must accept them."""
    backed = _backing(obj)
    if isinstance(backed, str):
        return backed
    values, dtype = backed
    if values.dtype != object:
        return f"its values are {values.dtype}, not objects"
    if not isinstance(dtype, _pd().StringDtype) or string_dtype(dtype) is not None or dtype.storage != "python":
        return "its dtype is not a valid python-storage StringDtype"
    lib = sys.modules["pandas._libs.lib"]
    if len(values) and not lib.is_string_array(values.ravel(), skipna=True):
        return "it holds values that are neither strings nor missing"
    return None


def numpy_extension_array(obj: Any) -> str | None:
    backed = _backing(obj)
    if isinstance(backed, str):
        return backed
    values, dtype = backed
    numpy_ea_dtype = sys.modules["pandas.core.dtypes.dtypes"].NumpyEADtype
    if not isinstance(dtype, numpy_ea_dtype) or dtype.numpy_dtype != values.dtype:
        return f"its dtype {dtype!r} disagrees with its values {values.dtype}"
    return None


_MASKED_KINDS = {"IntegerArray": "iu", "FloatingArray": "f", "BooleanArray": "b"}


def masked_array(obj: Any) -> str | None:
    """``IntegerArray``/``FloatingArray``/``BooleanArray``: the Cython kernels walk data
    and mask together, so they must have one shape (what ``BaseMaskedArray.__init__``
    checks), the mask bool and the data of the class's kind."""
    state = vars(obj)
    if "_data" not in state or "_mask" not in state:
        return _UNINITIALISED
    data, mask = state["_data"], state["_mask"]
    problem = _ndarray(data, "its data") or _ndarray(mask, "its mask")
    if problem is not None:
        return problem
    kinds = _MASKED_KINDS[type(obj).__name__]
    if data.dtype.kind not in kinds or (kinds == "f" and data.dtype.itemsize not in (4, 8)):
        return f"its data are {data.dtype}, not of kind {kinds!r}"
    if mask.dtype != _np().bool_:
        return f"its mask is {mask.dtype}, not bool"
    if data.shape != mask.shape:
        return f"its data {data.shape} and mask {mask.shape} disagree in shape"
    if "_dtype" in state and state["_dtype"] != _pd().BooleanDtype():
        return "its dtype is not BooleanDtype"
    if obj.dtype.numpy_dtype != data.dtype:  # the dtype is cached: a state can hold a forged cache
        return f"its dtype {obj.dtype} disagrees with its data {data.dtype}"
    return None


def interval_array(obj: Any) -> str | None:
    """Left and right ends: the same length and dtype, as pandas' own ``_validate``
    checks (plus that they are arrays, not anything a state can name)."""
    state = vars(obj)
    if "_left" not in state or "_right" not in state or "_dtype" not in state:
        return _UNINITIALISED
    left, right, dtype = state["_left"], state["_right"], state["_dtype"]
    pd = _pd()
    for end in (left, right):
        if type(end) is not _np().ndarray and not isinstance(end, pd.api.extensions.ExtensionArray):
            return f"an end is a {type(end).__name__}, not an array"
        if end.ndim != 1:
            return "an end is not one-dimensional"
    if left.dtype != right.dtype or not isinstance(dtype, pd.IntervalDtype) or dtype.subtype != left.dtype:
        return "its ends and its dtype disagree"
    if interval_dtype(dtype) is not None:
        return "its dtype is not a valid IntervalDtype"
    type(obj)._validate(left, right, dtype=dtype)
    return None


#: What pandas writes for an IntervalArray (through Cython's ``__setstate_cython__``,
#: which puts every key into the instance's ``__dict__``).
_INTERVAL_ARRAY_STATE = frozenset({"_left", "_right", "_dtype", "_readonly", "_cache"})


def interval_array_state(call: Call) -> bool:
    """The keys of an IntervalArray's state, as a dict (NEWOBJ and BUILD) or as the
    1-tuple holding it that ``__pyx_unpickle_IntervalMixin``'s instance is BUILT with."""
    if len(call.args) != 2:
        return False
    state = call.args[1]
    if type(state) is tuple and len(state) == 1:
        state = state[0]
    return type(state) is dict and set(state) <= _INTERVAL_ARRAY_STATE and type(state.get("_readonly", False)) is bool


# -- indexes ------------------------------------------------------------------------------


def multi_index(obj: Any) -> str | None:
    """``_new_Index`` rebuilds a MultiIndex with ``verify_integrity=False``; the Cython
    engines index each level with its codes.  pandas' own ``_verify_integrity`` bounds
    the codes, plus they must be integer arrays."""
    levels, codes = getattr(obj, "_levels", None), getattr(obj, "_codes", None)
    if levels is None or codes is None:
        return _UNINITIALISED
    if len(levels) != len(codes) or not levels:
        return f"it has {len(levels)} levels and {len(codes)} code arrays"
    pd = _pd()
    for i, (level, level_codes) in enumerate(zip(levels, codes, strict=True)):
        if not isinstance(level, pd.Index):
            return f"level {i} is a {type(level).__name__}, not an Index"
        problem = _codes(level_codes, len(level), f"the codes of level {i}")
        if problem is not None:
            return problem
    obj._verify_integrity()
    return None


def array_index(obj: Any) -> str | None:
    """The Index classes over one extension array: ``_new_DatetimeIndex`` and friends
    wrap a pickled ndarray with ``_simple_new``, which only checks its dtype with ``assert`` (gone
    under ``python -O``), so the array the index holds is validated like a pickled one."""
    pd = _pd()
    kinds = {
        pd.DatetimeIndex: (pd.arrays.DatetimeArray, datetime_array),
        pd.TimedeltaIndex: (pd.arrays.TimedeltaArray, timedelta_array),
        pd.PeriodIndex: (pd.arrays.PeriodArray, period_array),
        pd.CategoricalIndex: (pd.Categorical, categorical),
        pd.IntervalIndex: (pd.arrays.IntervalArray, interval_array),
    }
    array_type, validator = kinds[type(obj)]
    data = vars(obj).get("_data")
    if data is None:
        return _UNINITIALISED
    if type(data) is not array_type:
        return f"it holds a {type(data).__name__}, not a {array_type.__name__}"
    if data.ndim != 1:  # blocks hold 2-D arrays; an index's engines take 1-D ones
        return f"it holds a {data.ndim}-dimensional array"
    return validator(data)


# -- sparse arrays ------------------------------------------------------------------------

_SPARSE_ARRAY_STATE = frozenset({"_sparse_index", "_sparse_values", "_dtype"})


def sparse_index(obj: Any) -> str | None:
    """``IntIndex`` and ``BlockIndex``: the sparse kernels (``sparse_add_int64`` and
    friends, ``boundscheck(False)``) walk the values with these positions.  IntIndex's
    constructor checks itself; BlockIndex's accepts a negative block length."""
    numpy = _np()
    sparse = sys.modules["pandas._libs.sparse"]
    length, npoints = obj.length, obj.npoints
    if not 0 <= npoints <= length:
        return f"it has {npoints} points for a length of {length}"
    if type(obj) is sparse.IntIndex:
        indices = obj.indices
        if indices.dtype != numpy.int32 or indices.shape != (npoints,):
            return "its indices are not one int32 per point"
        if npoints and (int(indices[0]) < 0 or int(indices[-1]) >= length or not numpy.all(indices[1:] > indices[:-1])):
            return "its indices are not strictly increasing inside its length"
        return None
    starts, lengths = obj.blocs, obj.blengths
    if starts.dtype != numpy.int32 or lengths.dtype != numpy.int32 or starts.shape != lengths.shape or starts.ndim != 1:
        return "its block starts and lengths are not int32 arrays of one shape"
    ends = starts.astype(numpy.int64) + lengths
    if len(starts) and (
        int(lengths.min()) < 0 or int(starts[0]) < 0 or int(ends[-1]) > length or not numpy.all(starts[1:] >= ends[:-1])
    ):
        return "its blocks are not ordered, non-overlapping and inside its length"
    if int(lengths.sum(dtype=numpy.int64)) != npoints:
        return "its block lengths do not add up to its points"
    return None


def sparse_dtype(obj: Any) -> str | None:
    state = vars(obj)
    if set(state) != {"_dtype", "_fill_value"}:
        return _UNINITIALISED if not state else f"its attributes are {sorted(state)}"
    if not isinstance(state["_dtype"], _np().dtype) or state["_dtype"].kind not in "biufcmMO":
        return f"its subtype {state['_dtype']!r} is not a plain numpy dtype"
    if not sys.modules["pandas._libs.lib"].is_scalar(state["_fill_value"]):
        return "its fill value is not a scalar"
    return None


def sparse_array_state(call: Call) -> bool:
    """``SparseArray.__setstate__`` runs ``ndarray.__setstate__`` on a tuple state (the
    pandas < 0.24 form, with none of numpy's state checks); pandas writes a dict."""
    return len(call.args) == 2 and type(call.args[1]) is dict and set(call.args[1]) == _SPARSE_ARRAY_STATE


def sparse_array(obj: Any) -> str | None:
    """One value per point of the index, of the dtype's subtype."""
    state = vars(obj)
    if set(state) != _SPARSE_ARRAY_STATE:
        return _UNINITIALISED
    index, values, dtype = state["_sparse_index"], state["_sparse_values"], state["_dtype"]
    sparse = sys.modules["pandas._libs.sparse"]
    if type(index) not in (sparse.IntIndex, sparse.BlockIndex):
        return f"its index is a {type(index).__name__}"
    problem = sparse_index(index) or _ndarray(values, "its values", (1,))
    if problem is not None:
        return problem
    if len(values) != index.npoints:
        return f"it has {len(values)} values for {index.npoints} points"
    if not isinstance(dtype, _pd().SparseDtype) or sparse_dtype(dtype) is not None or dtype.subtype != values.dtype:
        return f"its dtype {dtype!r} is not a valid SparseDtype of its values' {values.dtype}"
    return None


# -- date offsets -------------------------------------------------------------------------

#: ``DateOffset``'s keywords (pandas' ``_relativedelta_kwds``) and its own attributes:
#: its ``__setstate__`` puts every key of the state into the instance's ``__dict__``.
_DATE_OFFSET_STATE = frozenset(
    {"_offset", "_use_relativedelta", "n", "normalize", "_cache", "offset"}
    | {"years", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds", "microseconds", "nanoseconds"}
    | {"year", "month", "day", "weekday", "hour", "minute", "second", "microsecond", "nanosecond"}
)


def date_offset_state(call: Call) -> bool:
    """The keys ``DateOffset`` writes, of plain types (a key named after a method would
    replace it on the instance)."""
    if len(call.args) != 2 or type(call.args[1]) is not dict:
        return False
    state = call.args[1]
    import datetime

    relativedelta = sys.modules.get("dateutil.relativedelta")
    offsets = (datetime.timedelta,) if relativedelta is None else (datetime.timedelta, relativedelta.relativedelta)
    for key, value in state.items():
        if key not in _DATE_OFFSET_STATE:
            return False
        if key in ("_offset", "offset"):
            if not isinstance(value, offsets):
                return False
        elif key == "_cache":
            if value != {}:
                return False
        elif key == "weekday":
            common = sys.modules.get("dateutil._common")
            if type(value) is not int and (common is None or type(value) is not common.weekday):
                return False
        elif type(value) not in (int, float, bool):
            return False
    return True


# -- Arrow-backed arrays -------------------------------------------------------------------

#: What pandas' Arrow-backed arrays may set when BUILT (``__setstate__`` updates the
#: instance's ``__dict__`` with whatever it is given, methods included).
_ARROW_ARRAY_STATE = frozenset({"_pa_array", "_data", "_dtype", "_cache", "_readonly"})


def _pa() -> Any:
    return sys.modules["pyarrow"]


def _array_data_problem(data: object, dtype: Any = None) -> str | None:
    """``pyarrow.lib._restore_array``'s argument, ``(type, length, null_count, offset,
    buffers, children, dictionary)`` nested for children and dictionaries: Arrow's C++
    ``MakeArray`` takes the buffer, child and dictionary counts on trust (a dictionary
    type without a dictionary, or a list without its child, fails an ``ARROW_CHECK``
    and aborts the process), so they must be the type's own before it is called."""
    pa = _pa()
    if type(data) is not tuple or len(data) != 7:
        return "its array data is not a 7-tuple"
    kind, length, null_count, offset, buffers, children, dictionary = data
    if not isinstance(kind, pa.DataType) or isinstance(kind, pa.BaseExtensionType):
        return f"its type is a {type(kind).__name__}"
    if dtype is not None and not kind.equals(dtype):
        return f"a child or dictionary is {kind}, where its parent's type says {dtype}"
    if pa.types.is_binary_view(kind) or pa.types.is_string_view(kind):  # variadic buffers
        return f"{kind} arrays are not supported"
    if not all(type(v) is int for v in (length, null_count, offset)):
        return "its length, null count and offset are not ints"
    if length < 0 or offset < 0 or not -1 <= null_count <= length:
        return f"length {length}, offset {offset}, null count {null_count}"
    if type(buffers) is not list or len(buffers) != kind.num_buffers:
        return f"{kind} takes {kind.num_buffers} buffers"
    if not all(b is None or type(b) is pa.Buffer for b in buffers):
        return "a buffer is not a pyarrow Buffer"
    if type(children) is not list or len(children) != kind.num_fields:
        return f"{kind} takes {kind.num_fields} children"
    for i, child in enumerate(children):
        problem = _array_data_problem(child, kind.field(i).type)
        if problem is not None:
            return problem
    if pa.types.is_dictionary(kind) != (dictionary is not None):
        return "a dictionary goes with a dictionary type, and only with one"
    problem = _null_count_problem(kind, length, null_count, offset, buffers[0] if buffers else None)
    if problem is not None:
        return problem
    return None if dictionary is None else _array_data_problem(dictionary, kind.value_type)


def _null_count_problem(kind: Any, length: int, null_count: int, offset: int, bitmap: Any) -> str | None:
    """A stated null count is the one its validity bitmap gives (Arrow's full validation
    does not compare them, and kernels take a count of 0 to mean "no bitmap to read")."""
    pa = _pa()
    if null_count == -1:  # unknown: Arrow counts the bitmap itself
        return None
    if pa.types.is_null(kind):
        return None if null_count == length else f"a null array of {length} says {null_count} nulls"
    if bitmap is None:
        return None if null_count == 0 else f"it says {null_count} nulls and has no validity bitmap"
    try:  # the bitmap read as booleans: Arrow checks its size first
        valid = pa.Array.from_buffers(pa.bool_(), length, [None, bitmap], 0, offset).true_count
    except pa.ArrowException as exc:
        return f"its validity bitmap: {exc}"
    return None if length - valid == null_count else f"it says {null_count} nulls, its bitmap {length - valid}"


def pyarrow_restore_array(call: Call) -> bool:
    """The array ``_restore_array`` will make: its structure (above), then Arrow's own
    ``validate(full=True)`` on a candidate built from the same buffers, so that no
    invalid array exists even during the load (pandas' own unpicklers and the other
    validators compute on the arrays they hold)."""
    if len(call.args) != 1 or call.kwargs or _array_data_problem(call.args[0]) is not None:
        return False
    return pyarrow_array(sys.modules["pyarrow.lib"]._restore_array(call.args[0])) is None


def pyarrow_chunked_array(call: Call) -> bool:
    """``chunked_array(chunks, type)`` as a ChunkedArray reduces: chunks already rebuilt
    (and validated) by ``_restore_array``, of that type; anything else it would convert
    as Python data."""
    if len(call.args) != 2 or call.kwargs:
        return False
    chunks, kind = call.args
    pa = _pa()
    return (
        type(chunks) is list
        and isinstance(kind, pa.DataType)
        and all(isinstance(chunk, pa.Array) and chunk.type.equals(kind) for chunk in chunks)
    )


def pyarrow_array(obj: Any) -> str | None:
    """Arrow's compute kernels trust offsets, lengths, null counts and dictionary
    indices; Arrow's full validation checks all of them."""
    try:
        obj.validate(full=True)
    except _pa().ArrowException as exc:
        return f"Arrow's validation refuses it: {exc}"
    return None


def arrow_array_state(call: Call) -> bool:
    """``ArrowExtensionArray.__setstate__`` hands its array to ``pa.chunked_array``,
    which converts anything else as Python data, and sets every key it is given."""
    if len(call.args) != 2 or call.kwargs:
        return False
    state = call.args[1]
    if type(state) is not dict or not set(state) <= _ARROW_ARRAY_STATE:
        return False
    pa = _pa()
    data = state.get("_data", state.get("_pa_array"))
    return isinstance(data, pa.Array | pa.ChunkedArray) and type(state.get("_cache", {})) is dict


def arrow_dtype(obj: Any) -> str | None:
    """A pyarrow type, and a cache (pandas writes its ``cache_readonly`` values) that
    holds what pandas computes from that type: a forged ``numpy_dtype`` or
    ``itemsize`` would describe memory the array does not have."""
    state = vars(obj)
    if not {"_storage", "pyarrow_dtype"} <= set(state) <= {"_storage", "pyarrow_dtype", "_cache"}:
        return _UNINITIALISED if not state else f"its attributes are {sorted(state)}"
    if state["_storage"] != "pyarrow" or not isinstance(state["pyarrow_dtype"], _pa().DataType):
        return "it is not a pyarrow storage dtype of a pyarrow type"
    cache = state.get("_cache", {})
    if type(cache) is not dict:
        return "its cache is not a dict"
    if cache:
        fresh = type(obj)(state["pyarrow_dtype"])
        cached = sys.modules["pandas._libs.properties"].cache_readonly
        for key, value in cache.items():
            if type(key) is not str or not isinstance(getattr(type(obj), key, None), cached):
                return f"its cache holds {key!r}, which is not one of its cached properties"
            if not _same_value(getattr(fresh, key), value):
                return f"its cached {key} is not the one its pyarrow type gives"
    return None


def _same_value(expected: object, got: object) -> bool:
    if isinstance(expected, type) or isinstance(got, type):
        return expected is got
    return type(expected) is type(got) and bool(expected == got)


def arrow_extension_array(obj: Any) -> str | None:
    """``ArrowExtensionArray`` and ``ArrowStringArray``: a chunked array Arrow's full
    validation accepts, of the type the dtype says."""
    pa = _pa()
    state = vars(obj)
    chunked, dtype = state.get("_pa_array"), state.get("_dtype")
    if chunked is None or dtype is None:
        return _UNINITIALISED
    if type(chunked) is not pa.ChunkedArray:
        return f"it holds a {type(chunked).__name__}, not a ChunkedArray"
    if type(state.get("_cache")) is not dict or state["_cache"]:
        return "its cache is not empty"
    if type(state.get("_readonly", False)) is not bool:
        return "its read-only flag is not a bool"
    if isinstance(dtype, _pd().StringDtype):
        if string_dtype(dtype) is not None or dtype.storage != "pyarrow":
            return "its dtype is not a valid pyarrow-storage StringDtype"
        if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
            return f"it holds {chunked.type}, not strings"
    elif isinstance(dtype, _pd().ArrowDtype) and arrow_dtype(dtype) is None:
        if not dtype.pyarrow_dtype.equals(chunked.type):
            return f"its dtype says {dtype.pyarrow_dtype}, its array holds {chunked.type}"
    else:
        return f"its dtype {type(dtype).__name__} is not an Arrow dtype"
    return pyarrow_array(chunked)


# -- frames and their block managers ------------------------------------------------------


def _locations(locs: Any, count: int) -> Any:
    """A block's placement as an int array inside [0, count), or None.  A slice is
    bounded before it is expanded (``slice(0, 10**15)`` would be a huge arange)."""
    numpy = _np()
    if type(locs) is slice:  # BlockPlacement's canonical slices follow range(), as its as_array does
        start, stop, step = 0 if locs.start is None else locs.start, locs.stop, 1 if locs.step is None else locs.step
        if not all(type(v) is int for v in (start, stop, step)) or step == 0:
            return None
        span = range(start, stop, step)
        if len(span) > count or (span and not (min(span[0], span[-1]) >= 0 and max(span[0], span[-1]) < count)):
            return None
        return numpy.arange(start, stop, step)
    if type(locs) is not numpy.ndarray or locs.ndim != 1 or locs.dtype.kind not in "iu" or len(locs) > count:
        return None
    if len(locs) and (int(locs.min()) < 0 or int(locs.max()) >= count):
        return None
    return locs


def _blocks_problem(axes: Any, blocks: list[tuple[Any, Any]], ndim: int) -> str | None:
    """The invariants of a block manager over ``axes``: each block's values fit its
    placement and the other axis, and the placements together cover every item exactly
    once (``_rebuild_blknos_and_blklocs`` writes ``blknos[loc]`` unchecked)."""
    numpy, pd = _np(), _pd()
    if type(axes) is not list or len(axes) != ndim or not all(isinstance(ax, pd.Index) for ax in axes):
        return f"its axes are not {ndim} Index objects"
    count = len(axes[0])
    rows = len(axes[-1])
    placed = []
    for number, (values, locs) in enumerate(blocks):
        where = _locations(locs, count)
        if where is None:
            return f"block {number} is placed outside the {count} items"
        placed.append(where)
        if type(values) is not numpy.ndarray and not isinstance(values, pd.api.extensions.ExtensionArray):
            return f"block {number} holds a {type(values).__name__}, not an array"
        shape = values.shape if values.ndim == ndim else (1, *values.shape) if values.ndim == ndim - 1 else None
        if ndim == 1:
            wanted: tuple[int, ...] = (len(where),)
        else:
            wanted = (len(where), rows)
        if shape != wanted:
            return f"block {number} has shape {values.shape}, not {wanted} as its axes say"
    every = numpy.concatenate(placed) if placed else numpy.empty(0, numpy.intp)
    if len(every) != count or (count and int(numpy.bincount(every, minlength=count).max()) != 1):
        return f"the blocks do not place each of the {count} items exactly once"
    return None


def _manager_state_blocks(state: object) -> tuple[Any, list[tuple[Any, Any]]] | None:
    """Axes and (values, placement) pairs of a manager's pickled state (``__getstate__``'s
    ``"0.14.1"`` form, the only one pandas reads), values as ``__setstate__`` extracts them."""
    if type(state) is not tuple or len(state) < 4 or type(state[3]) is not dict:
        return None
    inner = state[3].get("0.14.1")
    if type(inner) is not dict or type(inner.get("blocks")) is not list:
        return None
    extract = sys.modules["pandas.core.construction"].extract_array
    blocks = []
    for block in inner["blocks"]:
        if type(block) is not dict or set(block) != {"values", "mgr_locs"}:
            return None
        blocks.append((extract(block["values"], extract_numpy=True), block["mgr_locs"]))
    return inner.get("axes"), blocks


def _manager_ndim(instance: object) -> int:
    return 1 if isinstance(instance, sys.modules["pandas.core.internals.managers"].SingleBlockManager) else 2


def block_manager_state(call: Call) -> bool:
    """``BlockManager.__setstate__`` rebuilds its block-number tables from the placements
    before returning, writing out of bounds for a placement past the items: the state
    is checked before BUILD, with the invariants the validator checks after it."""
    if len(call.args) != 2 or call.kwargs:
        return False
    instance, state = call.args
    found = _manager_state_blocks(state)
    return found is not None and _blocks_problem(found[0], found[1], _manager_ndim(instance)) is None


def block_manager(obj: Any) -> str | None:
    """A finished manager: its blocks against its axes, and the block-number tables
    (computed when it was built, from placements that a later BUILD of a shared array
    could have changed) still those of its blocks."""
    blocks, axes = getattr(obj, "blocks", None), getattr(obj, "axes", None)
    if type(blocks) is not tuple or axes is None:
        return _UNINITIALISED
    internals = sys.modules["pandas._libs.internals"]
    if not all(isinstance(block, internals.Block) for block in blocks):
        return "its blocks are not pandas blocks"
    ndim = _manager_ndim(obj)
    if any(block.ndim != ndim for block in blocks):
        return f"a block is not {ndim}-dimensional like its manager"
    problem = _blocks_problem(axes, [(b.values, b.mgr_locs.indexer) for b in blocks], ndim)
    if problem is not None or not isinstance(obj, internals.BlockManager):
        return problem
    return _tables_problem(obj, blocks, len(axes[0]))


def _tables_problem(obj: Any, blocks: tuple[Any, ...], count: int) -> str | None:
    numpy = _np()
    blknos, blklocs = obj._blknos, obj._blklocs
    if blknos is None and blklocs is None:
        return None
    if type(blknos) is not numpy.ndarray or type(blklocs) is not numpy.ndarray:
        return "its block-number tables are not arrays"
    if blknos.shape != (count,) or blklocs.shape != (count,):
        return "its block-number tables do not have one entry per item"
    for number, block in enumerate(blocks):
        where = block.mgr_locs.as_array
        if not (numpy.all(blknos[where] == number) and numpy.array_equal(blklocs[where], numpy.arange(len(where)))):
            return "its block-number tables disagree with its blocks' placements"
    return None


def ndframe(obj: Any) -> str | None:
    """DataFrame and Series: their data is the block manager of their kind."""
    managers = sys.modules["pandas.core.internals.managers"]
    kind = managers.SingleBlockManager if isinstance(obj, _pd().Series) else managers.BlockManager
    mgr = vars(obj).get("_mgr")
    if mgr is None:
        return _UNINITIALISED
    if type(mgr) is not kind:
        return f"its data is a {type(mgr).__name__}, not a {kind.__name__}"
    return None


VALIDATORS: dict[str, Validator] = {
    "pandas_ndframe": ndframe,
    "pandas_block_manager": block_manager,
    "pandas_categorical": categorical,
    "pandas_datetime_array": datetime_array,
    "pandas_timedelta_array": timedelta_array,
    "pandas_period_array": period_array,
    "pandas_string_array": string_array,
    "pandas_numpy_extension_array": numpy_extension_array,
    "pandas_masked_array": masked_array,
    "pandas_interval_array": interval_array,
    "pandas_multi_index": multi_index,
    "pandas_array_index": array_index,
    "pandas_categorical_dtype": categorical_dtype,
    "pandas_datetime_tz_dtype": datetime_tz_dtype,
    "pandas_interval_dtype": interval_dtype,
    "pandas_string_dtype": string_dtype,
    "pandas_period_dtype": period_dtype,
    "pandas_arrow_dtype": arrow_dtype,
    "pandas_arrow_extension_array": arrow_extension_array,
    "pyarrow_array": pyarrow_array,
    "pandas_sparse_index": sparse_index,
    "pandas_sparse_dtype": sparse_dtype,
    "pandas_sparse_array": sparse_array,
}
CHECKS: dict[str, Check] = {
    "pandas_block_manager_state": block_manager_state,
    "pandas_arrow_array_state": arrow_array_state,
    "pyarrow_restore_array": pyarrow_restore_array,
    "pyarrow_chunked_array": pyarrow_chunked_array,
    "pandas_sparse_array_state": sparse_array_state,
    "pandas_date_offset_state": date_offset_state,
    "pandas_interval_array_state": interval_array_state,
}
