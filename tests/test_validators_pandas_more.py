"""pandas' Arrow-backed arrays, sparse arrays, offsets and dateutil zones under the
shipped policy (G8).  Without pyarrow the Arrow rows are left out and the rest run.

The hostile rows run in subprocesses (tests/_state_rows.py).  Arrow rows are forged
through pyarrow's own unpickler, ``pyarrow.lib._restore_array``, from the array data a
real array reduces to, with one field edited: Arrow's C++ trusts the buffer, child and
dictionary counts when it wraps the data (a wrong one fails an ``ARROW_CHECK``, which
aborts) and its kernels trust offsets, lengths and dictionary indices."""

from __future__ import annotations

import copyreg
import importlib.util
import pickle
import struct
from typing import Any

import pytest

import picklefence

from ._state_rows import Forged, Row, dumps, row_tests

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
try:
    import pyarrow as pa
    import pyarrow.lib
except ImportError:
    pa = None

from dateutil import relativedelta, tz  # noqa: E402

try:  # dateutil 4 pickles a tzfile zone through _unpickle, dateutil 2.x as tzfile(None, filename)
    from dateutil.tz import _tzfile
except ImportError:
    _tzfile = None
from pandas._libs.sparse import BlockIndex, IntIndex  # noqa: E402

POLICY = "pandas"
MODULE = __name__
_NEWOBJ = copyreg.__newobj__  # type: ignore[attr-defined]
_RESTORE = "pyarrow.lib:_restore_array"
_AEA = "pandas.core.arrays.arrow.array:ArrowExtensionArray"
_ASA = "pandas.core.arrays.string_arrow:ArrowStringArray"
_SPARSE = "pandas.core.arrays.sparse.array:SparseArray"
_DTYPE = "pandas.core.dtypes.dtypes:ArrowDtype"


def _use(obj: Any) -> object:
    """The ordinary use: repr, the values as Python objects and as numpy, a copy."""
    if pa is not None and isinstance(obj, pa.Array | pa.ChunkedArray):
        return [repr(obj), obj.to_pylist(), obj.to_pandas()]
    if isinstance(obj, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        return [repr(obj), list(obj), np.asarray(obj), obj[::-1], obj.copy()]
    return [repr(obj), str(obj)]


def _sparse_use(obj: Any) -> object:
    """Sparse arithmetic runs pandas' Cython kernels over the values by the index."""
    return [(obj + obj).to_dense(), obj.sum(), repr(obj)]


def _sparse_garbage(obj: Any) -> str:
    """Adding a sparse array of another index runs ``sparse_add_int64`` (no bounds
    checks) over both: with ones and zeros plus 0, 1 and 2, anything above 3 was read
    from outside the values."""
    other = pd.arrays.SparseArray(np.arange(len(obj)) % 3)
    total = (obj + other).to_dense()
    return "GARBAGE" if int(total.max()) > 3 or int(total.min()) < 0 else "clean"


# -- pyarrow arrays through _restore_array


def _data(array: Any) -> tuple[Any, ...]:
    """The array data ``_restore_array`` takes, as pyarrow reduces ``array`` to it."""
    return tuple(array.__reduce__()[1][0])


def _edited(data: tuple[Any, ...], **fields: Any) -> tuple[Any, ...]:
    names = ("type", "length", "null_count", "offset", "buffers", "children", "dictionary")
    return tuple(fields.get(name, value) for name, value in zip(names, data, strict=True))


def _restored(data: tuple[Any, ...]) -> Forged:
    return Forged(pyarrow.lib._restore_array, (data,))


def _wrapped(array: Forged, dtype: Any) -> Forged:
    """The forged array as pandas pickles one: inside an ArrowExtensionArray's state."""
    cls = pd.arrays.ArrowStringArray if isinstance(dtype, pd.StringDtype) else pd.arrays.ArrowExtensionArray
    return Forged(_NEWOBJ, (cls,), {"_pa_array": array, "_dtype": dtype, "_cache": {}})


def _in_array(array: Forged, dtype: Any) -> bytes:
    return dumps(_wrapped(array, dtype))


def _buffer(data: bytes) -> Any:
    return pa.py_buffer(bytearray(data))


def _strings() -> tuple[Any, ...]:
    return _data(pa.array(["ab", "cd", "ef"], type=pa.large_string()))


def _with_offsets(offsets: list[int]) -> tuple[Any, ...]:
    data = _strings()
    validity, _, values = data[4]
    return _edited(data, buffers=[validity, _buffer(struct.pack(f"<{len(offsets)}q", *offsets)), values])


def arrow_offset_past() -> bytes:
    return _in_array(_restored(_with_offsets([0, 2, 1 << 40, 1 << 40])), pd.StringDtype("pyarrow"))


def arrow_offset_decreasing() -> bytes:
    return _in_array(_restored(_with_offsets([0, 6, 2, 4])), pd.StringDtype("pyarrow"))


def arrow_length_past() -> bytes:
    data = _data(pa.array([1, 2, 3], type=pa.int64()))
    return _in_array(_restored(_edited(data, length=1 << 28, null_count=0)), pd.ArrowDtype(pa.int64()))


def arrow_buffer_short() -> bytes:
    data = _data(pa.array([1, 2, 3], type=pa.int64()))
    return _in_array(_restored(_edited(data, buffers=[None, _buffer(b"\0" * 8)])), pd.ArrowDtype(pa.int64()))


def arrow_null_count_wrong() -> bytes:
    data = _data(pa.array([1, None, 3], type=pa.int64()))
    return _in_array(_restored(_edited(data, null_count=0)), pd.ArrowDtype(pa.int64()))


def arrow_null_count_negative() -> bytes:
    data = _data(pa.array([1, None, 3], type=pa.int64()))
    return _in_array(_restored(_edited(data, null_count=-7)), pd.ArrowDtype(pa.int64()))


def arrow_offset_negative() -> bytes:
    data = _data(pa.array([1, 2, 3], type=pa.int64()))
    return _in_array(_restored(_edited(data, offset=-(1 << 30))), pd.ArrowDtype(pa.int64()))


def arrow_utf8_invalid() -> bytes:
    data = _data(pa.array(["ab", "cd"], type=pa.string()))
    validity, offsets, _ = data[4]
    return _in_array(
        _restored(_edited(data, buffers=[validity, offsets, _buffer(b"\xff\xfe\xfd\xfc")])), pd.StringDtype("pyarrow")
    )


def _dictionary() -> tuple[Any, ...]:
    return _data(pa.array(["x", "y", "x"]).dictionary_encode())


def arrow_categories_offset_past() -> bytes:
    """Arrow strings as the categories of a CategoricalDtype, which pickle NEWOBJs before
    its categories (so its validator, which has pandas compute on them, would run
    before theirs): the check before ``_restore_array`` keeps the forged array from
    ever existing."""
    strings = _wrapped(_restored(_with_offsets([0, 2, 1 << 40, 1 << 40])), pd.StringDtype("pyarrow"))
    categories = Forged(pd.core.indexes.base._new_Index, (pd.Index, {"data": strings, "name": None}))
    return dumps(Forged(_NEWOBJ, (pd.CategoricalDtype,), {"categories": categories, "ordered": False}))


def _categories_use(obj: Any) -> object:
    return [repr(obj), list(obj.categories), obj.categories.is_unique]


def arrow_dictionary_index_past() -> bytes:
    data = _dictionary()
    validity, _ = data[4]
    indices = _buffer(struct.pack("<3i", 0, 1 << 30, 1))
    kind = pd.ArrowDtype(data[0])
    return _in_array(_restored(_edited(data, buffers=[validity, indices])), kind)


def arrow_dictionary_missing() -> bytes:
    data = _dictionary()
    return _in_array(_restored(_edited(data, dictionary=None)), pd.ArrowDtype(data[0]))


def arrow_dictionary_on_plain() -> bytes:
    data = _data(pa.array([0, 1], type=pa.int32()))
    return _in_array(_restored(_edited(data, dictionary=_dictionary()[6])), pd.ArrowDtype(pa.int32()))


def arrow_buffer_count() -> bytes:
    data = _strings()
    return _in_array(_restored(_edited(data, buffers=list(data[4][:2]))), pd.StringDtype("pyarrow"))


def arrow_buffer_not_buffer() -> bytes:
    data = _data(pa.array([1, 2, 3], type=pa.int64()))
    return _in_array(_restored(_edited(data, buffers=[None, b"\0" * 24])), pd.ArrowDtype(pa.int64()))


def _lists() -> tuple[Any, ...]:
    return _data(pa.array([[1, 2], [3]], type=pa.list_(pa.int64())))


def arrow_list_no_child() -> bytes:
    data = _lists()
    return _in_array(_restored(_edited(data, children=[])), pd.ArrowDtype(data[0]))


def arrow_child_type() -> bytes:
    data = _lists()
    child = _data(pa.array(["a", "b", "c"]))
    return _in_array(_restored(_edited(data, children=[child])), pd.ArrowDtype(data[0]))


def arrow_child_offsets_past() -> bytes:
    data = _lists()
    validity, _ = data[4]
    offsets = _buffer(struct.pack("<3i", 0, 2, 1 << 30))
    return _in_array(_restored(_edited(data, buffers=[validity, offsets])), pd.ArrowDtype(data[0]))


def arrow_struct_child_short() -> bytes:
    data = _data(pa.array([{"a": 1}, {"a": 2}, {"a": 3}], type=pa.struct([("a", pa.int64())])))
    child = _edited(data[5][0], length=1 << 27, null_count=0)
    return _in_array(_restored(_edited(data, children=[child], length=1 << 27, null_count=0)), pd.ArrowDtype(data[0]))


def arrow_data_not_tuple() -> bytes:
    return _in_array(_restored(list(_strings())), pd.StringDtype("pyarrow"))  # type: ignore[arg-type]


def arrow_dtype_disagrees() -> bytes:
    return _in_array(_restored(_strings()), pd.ArrowDtype(pa.int64()))


def arrow_string_of_ints() -> bytes:
    return _in_array(_restored(_data(pa.array([1, 2], type=pa.int64()))), pd.StringDtype("pyarrow"))


def arrow_state_python_list() -> bytes:
    return dumps(
        Forged(_NEWOBJ, (pd.arrays.ArrowExtensionArray,), {"_pa_array": [1, 2], "_dtype": pd.ArrowDtype(pa.int64())})
    )


def arrow_state_method_key() -> bytes:
    real = pd.array([1, 2], dtype="int64[pyarrow]")
    state = {**real.__getstate__(), "_from_pyarrow_array": 1}
    return dumps(Forged(_NEWOBJ, (pd.arrays.ArrowExtensionArray,), state))


def arrow_state_cache() -> bytes:
    real = pd.array(["a", "b"], dtype="string[pyarrow]")
    state = {**real.__getstate__(), "_cache": {"hasna": False}}
    return dumps(Forged(_NEWOBJ, (pd.arrays.ArrowStringArray,), state))


def arrowdtype_cache_forged() -> bytes:
    state = {"_storage": "pyarrow", "pyarrow_dtype": pa.int64(), "_cache": {"itemsize": 1 << 40}}
    return dumps(Forged(_NEWOBJ, (pd.ArrowDtype,), state))


def arrowdtype_cache_method() -> bytes:
    state = {"_storage": "pyarrow", "pyarrow_dtype": pa.int64(), "_cache": {"construct_array_type": 1}}
    return dumps(Forged(_NEWOBJ, (pd.ArrowDtype,), state))


def arrowdtype_not_a_type() -> bytes:
    return dumps(Forged(_NEWOBJ, (pd.ArrowDtype,), {"_storage": "pyarrow", "pyarrow_dtype": "int64"}))


def arrow_type_alias_view() -> bytes:
    return dumps(Forged(pyarrow.lib.type_for_alias, ("string_view",)))


def arrow_chunked_python_data() -> bytes:
    return dumps(Forged(pyarrow.lib.chunked_array, ([[1, 2, 3]], pa.int64())))


def arrow_chunked_other_type() -> bytes:
    return dumps(Forged(pyarrow.lib.chunked_array, ([_restored(_strings())], pa.int64())))


def arrow_read_ipc() -> bytes:
    return dumps(Forged(pa.ipc.open_file, ("/etc/passwd",)))


# -- sparse arrays


def _sparse_state(**fields: Any) -> bytes:
    real = pd.arrays.SparseArray([0, 0, 1, 2, 0])
    state = {"_sparse_index": real.sp_index, "_sparse_values": real.sp_values, "_dtype": real.dtype, **fields}
    return dumps(Forged(_NEWOBJ, (pd.arrays.SparseArray,), state))


def sparse_values_short() -> bytes:
    index = IntIndex(1 << 22, np.arange(0, 1 << 22, 2, dtype=np.int32))
    return _sparse_state(_sparse_index=index, _sparse_values=np.array([1], dtype=np.int64))


def sparse_block_negative() -> bytes:
    index = Forged(BlockIndex, (5, np.array([0], dtype=np.int32), np.array([-1], dtype=np.int32)))
    return _sparse_state(_sparse_index=index, _sparse_values=np.array([], dtype=np.int64))


def sparse_block_overlap() -> bytes:
    index = Forged(BlockIndex, (6, np.array([0, 1], dtype=np.int32), np.array([2, 1], dtype=np.int32)))
    return _sparse_state(_sparse_index=index, _sparse_values=np.array([1, 2, 3], dtype=np.int64))


def sparse_block_alone() -> bytes:
    return dumps([Forged(BlockIndex, (5, np.array([0, 3], dtype=np.int32), np.array([-1, 1], dtype=np.int32)))])


def sparse_index_unsorted() -> bytes:
    return _sparse_state(_sparse_index=Forged(IntIndex, (5, np.array([3, 1], dtype=np.int32))))


def sparse_dtype_mismatch() -> bytes:
    return _sparse_state(_dtype=pd.SparseDtype("float64", 0.0))


def sparse_tuple_state() -> bytes:
    real = pd.arrays.SparseArray([0, 0, 1])
    state = (real.sp_values.__reduce__()[2], (0, real.sp_index))
    return dumps(Forged(_NEWOBJ, (pd.arrays.SparseArray,), state))


def sparse_extra_key() -> bytes:
    return _sparse_state(_str_len=1)


def sparse_dtype_structured() -> bytes:
    return dumps(Forged(_NEWOBJ, (pd.SparseDtype,), {"_dtype": np.dtype([("a", "i8")]), "_fill_value": 0}))


# -- offsets, NaT and dateutil


def dateoffset_method_key() -> bytes:
    state = {**pd.DateOffset(months=1).__getstate__(), "_apply": 1}
    return dumps(Forged(pd.DateOffset, (), state))


def dateoffset_offset_str() -> bytes:
    state = {**pd.DateOffset(months=1).__getstate__(), "_offset": "months=1"}
    return dumps(Forged(pd.DateOffset, (), state))


def tzfile_from_path() -> bytes:
    return dumps(Forged(tz.tzfile, ("/etc/passwd",)))


# tzfile's own name: reference-only in dateutil 4, callable only with no file in 2.x
_TZFILE = f"{tz.tzfile.__module__}:tzfile"
_TZFILE_REFUSED = "call" if _tzfile is not None else "arguments"


def tzfile_unpickle_other_class() -> bytes:
    assert _tzfile is not None
    real = tz.gettz("Europe/Paris").__reduce__()[1]
    return dumps(Forged(_tzfile._unpickle, (tz.tzlocal, *real[1:])))


def relativedelta_extra_key() -> bytes:
    state = {**vars(relativedelta.relativedelta(months=1)), "normalized": 1}
    return dumps(Forged(_NEWOBJ, (relativedelta.relativedelta,), state))


def nat_with_argument() -> bytes:
    return dumps(Forged(pd._libs.tslibs.nattype._nat_unpickle, ("/etc/passwd",)))


def business_hour_long_tuple() -> bytes:
    return dumps(
        Forged(
            pd.offsets.BusinessHour, (1, False, ("09:00",) * 100, ("17:00",) * 100, pd.Timedelta(0).to_pytimedelta())
        )
    )


ARROW_ROWS: list[Row] = [
    Row("arrow-offset-past", arrow_offset_past, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row("arrow-offset-decreasing", arrow_offset_decreasing, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row("arrow-length-past", arrow_length_past, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row("arrow-buffer-short", arrow_buffer_short, _RESTORE, "", "arguments", use=_use),
    Row("arrow-null-count-wrong", arrow_null_count_wrong, _RESTORE, "", "arguments", use=_use),
    Row("arrow-null-count-negative", arrow_null_count_negative, _RESTORE, "", "arguments", use=_use),
    Row("arrow-offset-negative", arrow_offset_negative, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row(
        "arrow-categories-offset-past",
        arrow_categories_offset_past,
        _RESTORE,
        "",
        "arguments",
        use=_categories_use,
        control="crash",
    ),
    Row("arrow-utf8-invalid", arrow_utf8_invalid, _RESTORE, "", "arguments", use=_use),
    Row("arrow-dictionary-index-past", arrow_dictionary_index_past, _RESTORE, "", "arguments", use=_use),
    Row("arrow-dictionary-missing", arrow_dictionary_missing, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row("arrow-dictionary-on-plain", arrow_dictionary_on_plain, _RESTORE, "", "arguments", use=_use),
    Row("arrow-buffer-count", arrow_buffer_count, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row("arrow-buffer-not-buffer", arrow_buffer_not_buffer, _RESTORE, "", "arguments", use=_use),
    Row("arrow-list-no-child", arrow_list_no_child, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row("arrow-child-type", arrow_child_type, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row("arrow-child-offsets-past", arrow_child_offsets_past, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row("arrow-struct-child-short", arrow_struct_child_short, _RESTORE, "", "arguments", use=_use, control="crash"),
    Row("arrow-data-not-tuple", arrow_data_not_tuple, _RESTORE, "", "arguments", use=_use),
    Row("arrow-dtype-disagrees", arrow_dtype_disagrees, _AEA, "its dtype says int64", use=_use),
    Row("arrow-string-of-ints", arrow_string_of_ints, _ASA, "not strings", use=_use),
    Row("arrow-state-python-list", arrow_state_python_list, _AEA, "", "state", use=_use),
    Row("arrow-state-method-key", arrow_state_method_key, _AEA, "", "state", use=_use),
    Row("arrow-state-cache", arrow_state_cache, _ASA, "cache is not empty", use=_use),
    Row("arrowdtype-cache-forged", arrowdtype_cache_forged, _DTYPE, "cached itemsize", use=_use),
    Row("arrowdtype-cache-method", arrowdtype_cache_method, _DTYPE, "not one of its cached", use=_use),
    Row("arrowdtype-not-a-type", arrowdtype_not_a_type, _DTYPE, "not a pyarrow storage", use=_use),
    Row("arrow-type-alias-view", arrow_type_alias_view, "pyarrow.lib:type_for_alias", "", "arguments"),
    Row("arrow-chunked-python-data", arrow_chunked_python_data, "pyarrow.lib:chunked_array", "", "arguments"),
    Row("arrow-chunked-other-type", arrow_chunked_other_type, "pyarrow.lib:chunked_array", "", "arguments"),
    Row("arrow-read-ipc", arrow_read_ipc, "pyarrow.ipc:open_file", "", "reference"),
]
ROWS: list[Row] = [
    *(ARROW_ROWS if pa is not None else []),
    Row("sparse-values-short", sparse_values_short, _SPARSE, "1 values for", use=_sparse_garbage, control="garbage"),
    Row("sparse-block-negative", sparse_block_negative, _SPARSE, "-1 points", use=_sparse_use),
    Row("sparse-block-alone", sparse_block_alone, "pandas._libs.sparse:BlockIndex", "not ordered", use=repr),
    Row("sparse-block-overlap", sparse_block_overlap, "", "overlaps", error="CallFailedError[ValueError]"),
    Row("sparse-index-unsorted", sparse_index_unsorted, "", "strictly increasing", error="CallFailedError[ValueError]"),
    Row("sparse-dtype-mismatch", sparse_dtype_mismatch, _SPARSE, "not a valid SparseDtype", use=_sparse_use),
    Row("sparse-tuple-state", sparse_tuple_state, _SPARSE, "", "state", use=_sparse_use),
    Row("sparse-extra-key", sparse_extra_key, _SPARSE, "", "state", use=_sparse_use),
    Row(
        "sparse-dtype-structured",
        sparse_dtype_structured,
        "pandas.core.dtypes.dtypes:SparseDtype",
        "not a plain numpy dtype",
    ),
    Row(
        "dateoffset-method-key", dateoffset_method_key, "pandas._libs.tslibs.offsets:DateOffset", "", "state", use=_use
    ),
    Row(
        "dateoffset-offset-str", dateoffset_offset_str, "pandas._libs.tslibs.offsets:DateOffset", "", "state", use=_use
    ),
    Row("tzfile-from-path", tzfile_from_path, _TZFILE, "", _TZFILE_REFUSED),
    *(
        [
            Row(
                "tzfile-unpickle-other-class",
                tzfile_unpickle_other_class,
                "dateutil.tz._tzfile:_unpickle",
                "",
                "arguments",
            )
        ]
        if _tzfile is not None
        else []
    ),
    Row("relativedelta-extra-key", relativedelta_extra_key, "dateutil.relativedelta:relativedelta", "", "state"),
    Row("nat-with-argument", nat_with_argument, "pandas._libs.tslibs.nattype:_nat_unpickle", "", "arguments"),
    Row(
        "business-hour-long-tuple",
        business_hour_long_tuple,
        "pandas._libs.tslibs.offsets:BusinessHour",
        "",
        "arguments",
    ),
]


_outcomes, test_forged_state_is_refused_naming_the_class, test_control_plain_pickle_really_breaks = row_tests(MODULE)


# -- what pandas writes loads the same


def _frames() -> dict[str, Any]:
    return {
        "strings": pd.DataFrame({"name": ["a", "b", None], "n": [1, 2, 3]}),
        "sparse": pd.DataFrame({"s": pd.arrays.SparseArray([0.0, 0.0, 2.0])}, index=pd.Index(["x", "y", "z"])),
        "offsets": pd.Series([pd.offsets.BusinessHour(), pd.DateOffset(months=1), pd.offsets.Easter()], dtype=object),
        "dateutil": pd.DataFrame({"t": pd.date_range("2024-01-01", periods=2, tz=tz.gettz("Europe/Paris"))}),
    }


@pytest.mark.parametrize("name", sorted(_frames()))
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_to_pickle_output_loads_like_read_pickle(name: str, compression: str | None, tmp_path: Any) -> None:
    """``DataFrame.to_pickle`` writes protocol 5 (compressed if asked): opened the same
    way, picklefence reads what ``pd.read_pickle`` reads."""
    import gzip

    path = tmp_path / "frame.pkl"
    _frames()[name].to_pickle(path, compression=compression)
    opener = gzip.open if compression == "gzip" else open
    with opener(path, "rb") as file:
        got = picklefence.load(file, policy=POLICY)
    expected = pd.read_pickle(path, compression=compression)
    (pd.testing.assert_frame_equal if isinstance(expected, pd.DataFrame) else pd.testing.assert_series_equal)(
        got, expected
    )


def test_a_dateutil_zone_loads_without_reading_a_file() -> None:
    """dateutil pickles a ``gettz`` zone by value; loading it reads the transitions from
    the pickle, never the file named in it."""
    from unittest import mock

    zone = tz.gettz("America/Sao_Paulo")
    data = pickle.dumps([zone, pd.Timestamp("2024-01-01", tz=zone)], 5)
    with mock.patch("builtins.open", side_effect=AssertionError("a file was opened")):
        got = picklefence.loads(data, policy=POLICY)
    assert got[0] == zone and got[1] == pd.Timestamp("2024-01-01", tz=zone)


def test_sparse_index_validator_states_pandas_invariants() -> None:
    from picklefence._validators import _pandas

    assert _pandas.sparse_index(IntIndex(5, np.array([1, 3], dtype=np.int32))) is None
    assert (
        _pandas.sparse_index(BlockIndex(9, np.array([1, 5], dtype=np.int32), np.array([2, 4], dtype=np.int32))) is None
    )
    negative = BlockIndex(5, np.array([0], dtype=np.int32), np.array([-1], dtype=np.int32))
    assert "points" in (_pandas.sparse_index(negative) or "")
    assert _pandas.sparse_array(pd.arrays.SparseArray([0, 1, 0, 2])) is None
    assert _pandas.sparse_array(pd.arrays.SparseArray([0.0, 1.0], kind="block")) is None


@pytest.mark.skipif(pa is None, reason="needs pyarrow")
def test_every_array_the_allowed_types_make_is_validated() -> None:
    """Each pyarrow type the policy lets a pickle build rebuilds as an array class whose
    rule validates it with Arrow's full validation."""
    from picklefence import Policy

    policy = Policy.named(POLICY)
    alias_rule = policy.rule("pyarrow.lib", "type_for_alias")
    assert alias_rule is not None
    aliases = [alias for signature in alias_rule.signatures for alias in signature.args[0].values or ()]
    types = [pyarrow.lib.type_for_alias(alias) for alias in aliases] + [
        pa.timestamp("ns", "UTC"),
        pa.dictionary(pa.int8(), pa.string()),
        pa.list_(pa.int64()),
        pa.list_(pa.int64(), 2),
        pa.large_list(pa.string()),
        pa.map_(pa.string(), pa.int64()),
        pa.struct([("a", pa.int64())]),
        pa.decimal128(9, 2),
    ]
    assert len(aliases) > 30
    for kind in types:
        for cls in (type(pa.array([], kind)), pa.ChunkedArray):
            rule = policy.rule(cls.__module__, cls.__qualname__)
            assert rule is not None and rule.validator == "pyarrow_array", cls


@pytest.mark.skipif(pa is None, reason="needs pyarrow")
def test_arrow_validator_refuses_what_basic_validation_lets_through() -> None:
    """An array with decreasing offsets passes Arrow's cheap validation (``from_buffers``
    runs it) but not the full one the validator runs."""
    from picklefence._validators import _pandas

    offsets = pa.py_buffer(struct.pack("<4i", 0, 4, 2, 6))
    forged = pa.Array.from_buffers(pa.string(), 3, [None, offsets, pa.py_buffer(b"abcdef")])
    assert "validation refuses" in (_pandas.pyarrow_array(forged) or "")
    assert _pandas.pyarrow_array(pa.array(["ab", None])) is None
    assert _pandas.arrow_extension_array(pd.array(["a", None], dtype="string[pyarrow]")) is None
    assert _pandas.arrow_extension_array(pd.array([1, None], dtype="int64[pyarrow]")) is None


def test_the_pandas_corpus_dumps_under_the_policy_as_pickle_does() -> None:
    """The policy also covers writing: picklefence's pickler with ``policy="pandas"``
    writes every pandas corpus object byte for byte as ``pickle`` does."""
    from .corpus import made
    from .corpus import pandas as corpus

    differ = []
    for artifact in corpus.artifacts():
        if any(importlib.util.find_spec(name) is None for name in artifact.requires):
            continue
        obj = made(artifact)
        for protocol in (2, 5):
            if picklefence.dumps(obj, protocol, policy=POLICY) != pickle.dumps(obj, protocol):
                differ.append(f"{artifact.name} at protocol {protocol}")
    assert not differ, differ
