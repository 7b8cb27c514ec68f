"""pandas under the shipped policy (G8): forged states of every native-backed class are
refused at load, real objects load and behave as pickle's do.

The hostile rows run in subprocesses (tests/_state_rows.py); each is forged from a real
pandas object whose state is edited.  Labels are integers, so that the rows do not
depend on how strings are stored (Arrow-backed strings: test_validators_pandas_more.py)."""

from __future__ import annotations

import copyreg
import pickle
import time
from typing import Any

import pytest

import picklefence

from ._state_rows import Forged, Row, dumps, row_tests

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

from pandas._libs.arrays import __pyx_unpickle_NDArrayBacked  # noqa: E402
from pandas._libs.internals import BlockPlacement  # noqa: E402
from pandas.core.arrays import (  # noqa: E402
    DatetimeArray,
    IntervalArray,
    NumpyExtensionArray,
    PeriodArray,
    StringArray,
    TimedeltaArray,
)
from pandas.core.internals.managers import BlockManager, SingleBlockManager  # noqa: E402

POLICY = "pandas"
MODULE = __name__
_NEWOBJ = copyreg.__newobj__  # type: ignore[attr-defined]


def _frame() -> pd.DataFrame:
    """Two blocks (int64 columns 0 and 1, float64 column 2), integer labels."""
    return pd.DataFrame({0: [1, 2, 3], 1: [4, 5, 6], 2: [1.5, 2.5, 3.5]})


def _use(obj: Any) -> object:
    """The ordinary use: reprs, reductions, column access, arrays."""
    if isinstance(obj, BlockManager | SingleBlockManager):
        obj = (pd.DataFrame if isinstance(obj, BlockManager) else pd.Series)._from_mgr(obj, axes=obj.axes)
    if isinstance(obj, pd.DataFrame):
        return [
            repr(obj),
            obj.sum(numeric_only=True),
            [obj.iloc[:, i].to_numpy() for i in range(obj.shape[1])],
            obj.copy(),
        ]
    if isinstance(obj, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        return [repr(obj), np.asarray(obj), obj[::-1], obj.copy()]
    return [repr(obj), str(obj), hash(obj)]


# -- extension arrays backed by one ndarray (__pyx_unpickle_NDArrayBacked)


def _backed(cls: type, dtype: Any, values: Any) -> bytes:
    checksum = pd.Categorical([1]).__reduce__()[1][1]
    return dumps(Forged(__pyx_unpickle_NDArrayBacked, (cls, checksum, None), (dtype, values)))


def _unbacked(cls: type) -> bytes:
    checksum = pd.Categorical([1]).__reduce__()[1][1]
    return dumps(Forged(__pyx_unpickle_NDArrayBacked, (cls, checksum, None)))


def _categorical(codes: Any) -> bytes:
    real = pd.Categorical([10, 20, 10])
    return _backed(pd.Categorical, real.dtype, codes)


def _category_garbage(obj: pd.Categorical) -> str:
    """A Categorical's values take its categories with its codes, unchecked."""
    values = np.asarray(obj)
    return "GARBAGE" if not set(values[~pd.isna(values)]) <= set(obj.categories) else "clean"


def cat_codes_past() -> bytes:
    return _categorical(np.array([0, 10**6, 1], dtype=np.int32))


def cat_codes_negative() -> bytes:
    return _categorical(np.array([0, -(10**6), 1], dtype=np.int32))


def cat_codes_float() -> bytes:
    return _categorical(np.array([0.0, 1.0, 0.0]))


def cat_codes_2d() -> bytes:
    return _categorical(np.zeros((2, 2), dtype=np.int8))


def cat_no_backing() -> bytes:
    return _unbacked(pd.Categorical)


def cat_dtype_not_categorical() -> bytes:
    return _backed(pd.Categorical, np.dtype("int8"), np.array([0, 1], dtype=np.int8))


def dta_int_values() -> bytes:
    return _backed(DatetimeArray, np.dtype("M8[ns]"), np.arange(3))


def dta_day_unit() -> bytes:
    return _backed(DatetimeArray, np.dtype("M8[D]"), np.arange(3).astype("M8[D]"))


def dta_tz_unit_mismatch() -> bytes:
    return _backed(DatetimeArray, pd.DatetimeTZDtype("ns", "UTC"), np.arange(3).astype("M8[s]"))


def dta_no_backing() -> bytes:
    return _unbacked(DatetimeArray)


def tda_float_values() -> bytes:
    return _backed(TimedeltaArray, np.dtype("m8[ns]"), np.arange(3.0))


def pa_float_ordinals() -> bytes:
    return _backed(PeriodArray, pd.PeriodDtype("M"), np.arange(3.0))


def pa_wrong_dtype() -> bytes:
    return _backed(PeriodArray, np.dtype("int64"), np.arange(3))


def sa_int_values() -> bytes:
    return _backed(StringArray, pd.StringDtype("python"), np.arange(3) * 8)


def sa_non_strings() -> bytes:
    return _backed(StringArray, pd.StringDtype("python"), np.array([1, 2.5, b"x"], dtype=object))


def npa_no_backing() -> bytes:
    """pandas 3 names the class by its public module, which the alias table does not map
    yet; pandas 2 wrote the internal name, the one the rule has."""
    checksum = pd.Categorical([1]).__reduce__()[1][1]
    data = pickle.dumps(Forged(__pyx_unpickle_NDArrayBacked, (NumpyExtensionArray, checksum, None)), 2)
    public = b"cpandas.arrays\nNumpyExtensionArray\n"
    assert public in data
    return data.replace(public, b"cpandas.core.arrays.numpy_\nNumpyExtensionArray\n")


# -- masked arrays (NEWOBJ then BUILD with _data and _mask)


def _masked(real: Any, **state: Any) -> bytes:
    func, args, original = real.__reduce_ex__(4)[:3]
    return dumps(Forged(func, args, {**original, **state}))


def int_short_mask() -> bytes:
    return _masked(pd.array([1, None, 3]), _mask=np.array([False]))


def int_float_data() -> bytes:
    return _masked(pd.array([1, None, 3]), _data=np.arange(3.0))


def int_int_mask() -> bytes:
    return _masked(pd.array([1, None, 3]), _mask=np.zeros(3, dtype=np.int64))


def int_no_state() -> bytes:
    return dumps(Forged(_NEWOBJ, (pd.arrays.IntegerArray,)))


def int_cached_dtype() -> bytes:
    """``dtype`` is a cached property: the state can hold the cache."""
    return _masked(pd.array([1, None, 3], dtype="Int8"), _cache={"dtype": pd.Int64Dtype()})


def float_int_data() -> bytes:
    return _masked(pd.array([1.5, None]), _data=np.arange(2))


def bool_int_data() -> bytes:
    return _masked(pd.array([True, None]), _data=np.arange(2, dtype=np.int8))


def interval_unequal_ends() -> bytes:
    real = IntervalArray.from_breaks([0, 1, 2, 3])
    state = {"_left": real.left.to_numpy(), "_right": real.right.to_numpy()[:1], "_dtype": real.dtype}
    return dumps(Forged(_NEWOBJ, (IntervalArray,), state))


def interval_object_end() -> bytes:
    real = IntervalArray.from_breaks([0, 1, 2])
    state = {"_left": real.left.to_numpy(), "_right": [1, 2], "_dtype": real.dtype}
    return dumps(Forged(_NEWOBJ, (IntervalArray,), state))


# -- MultiIndex (_new_Index rebuilds it with verify_integrity=False)


def _multi(edit: Any) -> bytes:
    func, (cls, attrs), _none = pd.MultiIndex.from_arrays([[1, 2, 3], [4, 5, 6]]).__reduce__()
    return dumps(Forged(func, (cls, edit(dict(attrs)))))


def _level_garbage(obj: pd.MultiIndex) -> str:
    """The tuples of a MultiIndex take each level with its codes, unchecked: a code past
    the level reads whatever lies beyond it."""
    level = set(obj.levels[1])
    return "GARBAGE" if any(value not in level for _, value in obj.values) else "clean"


def mi_codes_past() -> bytes:
    return _multi(lambda d: {**d, "codes": [d["codes"][0], np.array([0, 1, 100], dtype=np.int8)]})


def mi_codes_negative() -> bytes:
    return _multi(lambda d: {**d, "codes": [d["codes"][0], np.array([0, 1, -100], dtype=np.int8)]})


def mi_codes_unequal() -> bytes:
    return _multi(lambda d: {**d, "codes": [d["codes"][0], d["codes"][1][:2]]})


def mi_level_dupes() -> bytes:
    return _multi(lambda d: {**d, "levels": [d["levels"][0], pd.Index([4, 4, 6])]})


# -- frames and block managers


def bm_placement_past_reduce() -> bytes:
    """pandas 3's form: BlockManager(blocks, axes), each block _unpickle_block(values, locs, 2)."""
    frame = _frame()
    frame._mgr.blocks[0].mgr_locs = BlockPlacement(np.array([0, 10**7]))
    return dumps(frame)


def bm_placement_negative_reduce() -> bytes:
    frame = _frame()
    frame._mgr.blocks[0].mgr_locs = BlockPlacement(np.array([0, -(10**7)]))
    return dumps(frame)


def bm_placement_twice_reduce() -> bytes:
    frame = _frame()
    frame._mgr.blocks[1].mgr_locs = BlockPlacement(np.array([0]))
    frame._mgr.blocks[0].mgr_locs = BlockPlacement(np.array([1, 2]))
    frame._mgr.blocks[0].mgr_locs = BlockPlacement(np.array([1, 1]))
    return dumps(frame)


def _bm_state(edit: Any) -> bytes:
    """The NEWOBJ then BUILD form, whose Cython __setstate__ rebuilds the block-number
    tables from the placements before it returns."""
    mgr = _frame()._mgr
    blocks = [{"values": b.values, "mgr_locs": b.mgr_locs.indexer} for b in mgr.blocks]
    inner = edit({"axes": list(mgr.axes), "blocks": blocks})
    return dumps(Forged(_NEWOBJ, (BlockManager,), (None, None, None, {"0.14.1": inner})))


def _block(number: int, **values: Any) -> Any:
    def edit(inner: dict[str, Any]) -> dict[str, Any]:
        inner["blocks"][number].update(values)
        return inner

    return edit


def bm_state_placement_past() -> bytes:
    return _bm_state(_block(0, mgr_locs=np.array([0, 10**9])))


def bm_state_placement_negative() -> bytes:
    return _bm_state(_block(0, mgr_locs=np.array([0, -(10**9)])))


def bm_state_slice_past() -> bytes:
    return _bm_state(_block(0, mgr_locs=slice(0, 10**15, 1)))


def bm_state_rows_short() -> bytes:
    return _bm_state(_block(0, values=np.zeros((2, 1), dtype=np.int64)))


def bm_state_rows_long() -> bytes:
    return _bm_state(_block(0, values=np.zeros((2, 10**5), dtype=np.int64)))


def bm_state_reversed_slice() -> bytes:
    """A slice that counts down past the first item."""
    return _bm_state(_block(1, mgr_locs=slice(2, -3, -1)))


def bm_state_values_3d() -> bytes:
    return _bm_state(_block(0, values=np.zeros((2, 3, 1))))


def bm_state_values_list() -> bytes:
    return _bm_state(_block(0, values=[1, 2, 3]))


def bm_state_axes_3() -> bytes:
    return _bm_state(lambda inner: {**inner, "axes": [*inner["axes"], inner["axes"][1]]})


def bm_no_state() -> bytes:
    return dumps(Forged(_NEWOBJ, (BlockManager,)))


def _sbm_state(**values: Any) -> bytes:
    func, args, state = pd.Series([1.0, 2.0, 3.0])._mgr.__reduce_ex__(4)[:3]
    state[3]["0.14.1"]["blocks"][0].update(values)
    return dumps(Forged(func, args, state))


def sbm_values_long() -> bytes:
    return _sbm_state(values=np.zeros(10**5))


def sbm_placement_past() -> bytes:
    return _sbm_state(mgr_locs=slice(0, 10**6, 1))


def frame_no_state() -> bytes:
    return dumps(Forged(_NEWOBJ, (pd.DataFrame,)))


def frame_series_manager() -> bytes:
    series = pd.Series([1.0, 2.0])
    return dumps(Forged(_NEWOBJ, (pd.DataFrame,), {"_mgr": series._mgr, "_typ": "dataframe"}))


def series_no_state() -> bytes:
    return dumps(Forged(_NEWOBJ, (pd.Series,)))


# -- dtypes


def _dtype_state(cls: type, state: dict[str, Any]) -> bytes:
    return dumps(Forged(_NEWOBJ, (cls,), state))


def catdtype_dupes() -> bytes:
    return _dtype_state(pd.CategoricalDtype, {"categories": pd.Index([1, 1]), "ordered": False})


def catdtype_list() -> bytes:
    return _dtype_state(pd.CategoricalDtype, {"categories": [1, 2], "ordered": False})


def catdtype_no_state() -> bytes:
    return dumps(Forged(_NEWOBJ, (pd.CategoricalDtype,)))


def tzdtype_day_unit() -> bytes:
    return _dtype_state(pd.DatetimeTZDtype, {"unit": "D", "tz": pd.Timestamp(0, tz="UTC").tzinfo})


def tzdtype_string_tz() -> bytes:
    return _dtype_state(pd.DatetimeTZDtype, {"unit": "ns", "tz": "UTC"})


def perioddtype_freq_swapped() -> bytes:
    return dumps(Forged(pd.PeriodDtype, ("period[M]",), {"_freq": pd.offsets.Day(3)}))


def intervaldtype_closed() -> bytes:
    return _dtype_state(pd.IntervalDtype, {"subtype": np.dtype("int64"), "closed": "up"})


def intervaldtype_long_string() -> bytes:
    return dumps(Forged(pd.IntervalDtype, ("interval[" + "int64, " * 10**4 + "]",)))


def stringdtype_storage() -> bytes:
    return dumps(Forged(pd.StringDtype, ("numpy", pd.NA)))


def timestamp_unit() -> bytes:
    func, args = pd.Timestamp("2020-01-01").__reduce__()
    return dumps(Forged(func, (*args[:3], 5)))


def timedelta_unit() -> bytes:
    func, args = pd.Timedelta(5).__reduce__()
    return dumps(Forged(func, (args[0], 14)))


def week_weekday() -> bytes:
    func, args = pd.offsets.Week(weekday=2).__reduce__()
    return dumps(Forged(func, (*args[:2], 99)))


def period_long_freq() -> bytes:
    return dumps(Forged(pd.Period, (None, "1" * 10**5, 0)))


_CAT = "pandas.core.arrays.categorical:Categorical"
_MI = "pandas.core.indexes.multi:MultiIndex"
_BM = "pandas.core.internals.managers:BlockManager"
_SBM = "pandas.core.internals.managers:SingleBlockManager"
_DTA = "pandas.core.arrays.datetimes:DatetimeArray"
_INT = "pandas.core.arrays.integer:IntegerArray"
_TDA = "pandas.core.arrays.timedeltas:TimedeltaArray"

ROWS: list[Row] = [
    Row("categorical-codes-past", cat_codes_past, _CAT, "outside [-1, 2)", use=_category_garbage, control="garbage"),
    Row(
        "categorical-codes-negative",
        cat_codes_negative,
        _CAT,
        "from -1000000",
        use=_category_garbage,
        control="garbage",
    ),
    Row("categorical-codes-float", cat_codes_float, _CAT, "not signed integers", use=_use),
    Row("categorical-codes-2d", cat_codes_2d, _CAT, "2 dimensions", use=_use),
    Row("categorical-no-backing", cat_no_backing, _CAT, "never received its state", use=_use),
    Row("categorical-wrong-dtype", cat_dtype_not_categorical, _CAT, "not a valid CategoricalDtype", use=_use),
    Row("datetimearray-int-values", dta_int_values, _DTA, "not datetime64", use=_use, control="crash"),
    Row("datetimearray-day-unit", dta_day_unit, _DTA, "not datetime64 in s", use=_use),
    Row("datetimearray-tz-unit", dta_tz_unit_mismatch, _DTA, "disagrees", use=_use),
    Row("datetimearray-no-backing", dta_no_backing, _DTA, "never received its state", use=_use, control="crash"),
    Row("timedeltaarray-float", tda_float_values, _TDA, "not timedelta64", use=_use, control="crash"),
    Row("periodarray-float", pa_float_ordinals, "pandas.core.arrays.period:PeriodArray", "not int64", use=_use),
    Row("periodarray-dtype", pa_wrong_dtype, "pandas.core.arrays.period:PeriodArray", "not a valid Period", use=_use),
    Row("stringarray-ints", sa_int_values, "pandas.core.arrays.string_:StringArray", "not objects", use=_use),
    Row("stringarray-non-str", sa_non_strings, "pandas.core.arrays.string_:StringArray", "neither strings", use=_use),
    Row("numpyea-no-backing", npa_no_backing, "pandas.core.arrays.numpy_:NumpyExtensionArray", "never received"),
    Row("integerarray-short-mask", int_short_mask, _INT, "disagree in shape", use=_use),
    Row("integerarray-float-data", int_float_data, _INT, "not of kind 'iu'", use=_use),
    Row("integerarray-int-mask", int_int_mask, _INT, "not bool", use=_use),
    Row("integerarray-no-state", int_no_state, _INT, "never received its state", use=_use),
    Row("integerarray-cached-dtype", int_cached_dtype, _INT, "disagrees with its data int8", use=_use),
    Row("floatingarray-int", float_int_data, "pandas.core.arrays.floating:FloatingArray", "kind 'f'", use=_use),
    Row("booleanarray-int8", bool_int_data, "pandas.core.arrays.boolean:BooleanArray", "kind 'b'", use=_use),
    # pandas 3 cannot make an IntervalArray by NEWOBJ (its __new__ needs the data), the
    # form the rule allows; the validator stands for the versions that can
    Row("intervalarray-ends", interval_unequal_ends, "", "missing 1 required", error="CallFailedError[TypeError]"),
    Row("intervalarray-list", interval_object_end, "", "missing 1 required", error="CallFailedError[TypeError]"),
    Row("multiindex-codes-past", mi_codes_past, _MI, "outside [-1, 3)", use=_level_garbage, control="garbage"),
    Row("multiindex-codes-negative", mi_codes_negative, _MI, "from -100", use=_level_garbage, control="garbage"),
    Row("multiindex-codes-unequal", mi_codes_unequal, _MI, "Unequal code lengths", use=_use),
    Row("multiindex-level-dupes", mi_level_dupes, _MI, "must be unique", use=_use),
    Row("blockmanager-placement-past", bm_placement_past_reduce, _BM, "placed outside", use=_use, control="crash"),
    Row(
        "blockmanager-placement-negative",
        bm_placement_negative_reduce,
        _BM,
        "placed outside",
        use=_use,
        control="crash",
    ),
    Row("blockmanager-placement-twice", bm_placement_twice_reduce, _BM, "exactly once", use=_use),
    Row("blockmanager-state-past", bm_state_placement_past, _BM, "", "state", use=_use, control="crash"),
    Row("blockmanager-state-negative", bm_state_placement_negative, _BM, "", "state", use=_use, control="crash"),
    Row("blockmanager-state-slice", bm_state_slice_past, _BM, "", "state", use=_use, control="crash"),
    Row("blockmanager-state-reversed", bm_state_reversed_slice, _BM, "", "state", use=_use),
    Row("blockmanager-state-rows-short", bm_state_rows_short, _BM, "", "state", use=_use),
    Row("blockmanager-state-rows-long", bm_state_rows_long, _BM, "", "state", use=_use),
    Row("blockmanager-state-3d", bm_state_values_3d, _BM, "", "state", use=_use),
    Row("blockmanager-state-list", bm_state_values_list, _BM, "", "state", use=_use),
    Row("blockmanager-state-axes", bm_state_axes_3, _BM, "", "state", use=_use),
    Row("blockmanager-no-state", bm_no_state, _BM, "never received its state", use=_use),
    Row("singleblockmanager-long", sbm_values_long, _SBM, "", "state", use=_use),
    Row("singleblockmanager-past", sbm_placement_past, _SBM, "", "state", use=_use),
    Row("dataframe-no-state", frame_no_state, "pandas.core.frame:DataFrame", "never received its state", use=_use),
    Row("dataframe-series-mgr", frame_series_manager, "pandas.core.frame:DataFrame", "not a BlockManager", use=_use),
    Row("series-no-state", series_no_state, "pandas.core.series:Series", "never received its state", use=_use),
    Row("categoricaldtype-dupes", catdtype_dupes, "pandas.core.dtypes.dtypes:CategoricalDtype", "unique"),
    Row("categoricaldtype-list", catdtype_list, "pandas.core.dtypes.dtypes:CategoricalDtype", "not an Index"),
    Row("categoricaldtype-no-state", catdtype_no_state, "pandas.core.dtypes.dtypes:CategoricalDtype", "never"),
    Row("datetimetzdtype-unit", tzdtype_day_unit, "pandas.core.dtypes.dtypes:DatetimeTZDtype", "unit 'D'"),
    Row("datetimetzdtype-tz", tzdtype_string_tz, "pandas.core.dtypes.dtypes:DatetimeTZDtype", "not a tzinfo"),
    Row("perioddtype-freq", perioddtype_freq_swapped, "", "no default __reduce__", error="CallFailedError[TypeError]"),
    Row("intervaldtype-closed", intervaldtype_closed, "pandas.core.dtypes.dtypes:IntervalDtype", "closed 'up'"),
    Row("intervaldtype-string", intervaldtype_long_string, "pandas:IntervalDtype", "", "arguments"),
    Row("stringdtype-storage", stringdtype_storage, "pandas:StringDtype", "", "arguments"),
    # scalars and offsets: their constructors check the fields their C code uses
    Row("timestamp-unit", timestamp_unit, "", "Only resolutions", error="CallFailedError"),
    Row("timedelta-unit", timedelta_unit, "", "Only resolutions", error="CallFailedError"),
    Row("week-weekday", week_weekday, "", "Day must be", error="CallFailedError[ValueError]"),
    Row("period-freq-string", period_long_freq, "pandas:Period", "", "arguments"),
]


_outcomes, test_forged_state_is_refused_naming_the_class, test_control_plain_pickle_really_breaks = row_tests(MODULE)


# -- real objects: identical behaviour ------------------------------------------------------


def _real() -> dict[str, Any]:
    return {
        "frame": pd.DataFrame(
            {
                0: [1, 2, 3],
                1: [1.5, 2.5, np.nan],
                2: pd.Categorical([10, 20, 10]),
                3: pd.date_range("2020", periods=3, tz="UTC"),
                4: pd.array([1, None, 3]),
                5: pd.array([True, None, False]),
                6: pd.array([1.5, None, 2.0]),
                7: pd.timedelta_range(0, periods=3),
                8: pd.period_range("2020", periods=3, freq="M"),
                9: pd.array(["a", None, "c"], dtype=pd.StringDtype("python")),
                10: pd.date_range("2021", periods=3),
            },
            index=pd.MultiIndex.from_arrays([[1, 1, 2], [7, 8, 9]]),
        ),
        "wide": pd.DataFrame(np.arange(40.0).reshape(4, 10)),
        "reordered": pd.DataFrame({0: [1], 1: [2.5], 2: [3], 3: [4.5]})[[3, 2, 1, 0]].iloc[:, ::-1],
        "series": pd.Series([1.0, 2.0, 3.0], index=pd.Index([5, 6, 7])),
        "categorical": pd.Categorical([3, 1, 3, 2], categories=[3, 2, 1], ordered=True),
        "multiindex": pd.MultiIndex.from_arrays([[1, 2, 2], [4.5, np.nan, 6.5]]),
        "categorical-index": pd.CategoricalIndex([1, 2, 1]),
        "period-index": pd.period_range("2020Q1", periods=3, freq="Q"),
        "timedelta-index": pd.timedelta_range(0, periods=3),
        "datetime-tz": pd.array(pd.date_range("2020", periods=2, tz="UTC")),
        "string-array": pd.array(["x", None], dtype=pd.StringDtype("python")),
        "integer-array": pd.array([1, None], dtype="Int8"),
        "dtypes": [pd.CategoricalDtype([1, 2]), pd.DatetimeTZDtype("ns", "UTC"), pd.PeriodDtype("D")],
        "more-dtypes": [pd.IntervalDtype("int64", "left"), pd.StringDtype("python")],
        "scalars": [pd.Period("2020-01", "M"), pd.Period("2020Q3", "Q"), pd.Interval(0, 1, "both")],
    }


def _same(ours: Any, theirs: Any) -> None:
    if isinstance(ours, pd.DataFrame | pd.Series):
        assert type(ours) is type(theirs)
        (pd.testing.assert_frame_equal if isinstance(ours, pd.DataFrame) else pd.testing.assert_series_equal)(
            ours, theirs
        )
        _use(ours)
    elif isinstance(ours, pd.Index):
        pd.testing.assert_index_equal(ours, theirs)
    elif isinstance(ours, pd.api.extensions.ExtensionArray):
        pd.testing.assert_extension_array_equal(ours, theirs)
    else:
        assert ours == theirs


@pytest.mark.parametrize("proto", [2, 4, 5])
@pytest.mark.parametrize("name", sorted(_real()))
def test_real_objects_load_like_pickle(name: str, proto: int) -> None:
    data = pickle.dumps(_real()[name], proto)
    _same(picklefence.loads(data, policy=POLICY), pickle.loads(data))


@pytest.mark.parametrize("forge", [period_long_freq, intervaldtype_long_string])
def test_strings_that_reach_parsers_are_refused_before_parsing(forge: Any) -> None:
    """pandas' frequency and interval parsers are superlinear (a 100 000-character
    frequency takes minutes under plain pickle): the signatures bound the strings."""
    data = forge()
    start = time.perf_counter()
    with pytest.raises(picklefence.PolicyViolation) as info:
        picklefence.loads(data, policy=POLICY)
    assert info.value.capability == "arguments"
    assert time.perf_counter() - start < 2.0


def test_array_indexes_validate_the_array_they_hold() -> None:
    """``_new_DatetimeIndex`` and friends wrap a pickled ndarray after an ``assert`` on its
    dtype, which ``python -O`` removes: the index's own validator checks the array."""
    from picklefence._validators import _pandas

    forged = {
        pd.DatetimeIndex: (dta_int_values, "not datetime64"),
        pd.TimedeltaIndex: (tda_float_values, "not timedelta64"),
        pd.PeriodIndex: (pa_float_ordinals, "not int64"),
        pd.CategoricalIndex: (cat_codes_past, "outside [-1, 2)"),
    }
    for cls, (forge, words) in forged.items():
        index = cls._simple_new(pickle.loads(forge()))
        assert words in (_pandas.array_index(index) or ""), cls
    values = pd.date_range("2020", periods=4).to_numpy().reshape(2, 2)
    two_d = pd.DatetimeIndex._simple_new(DatetimeArray._simple_new(values, dtype=values.dtype))
    assert "2-dimensional" in (_pandas.array_index(two_d) or "")
    for real in [_real()[name] for name in ("period-index", "timedelta-index", "categorical-index")]:
        assert _pandas.array_index(real) is None
    assert _pandas.array_index(pd.IntervalIndex.from_breaks([0, 1, 2])) is None
    assert _pandas.array_index(pd.date_range("2020", periods=2, tz="UTC")) is None
