"""pandas objects, under ``policy="pandas"``.

Every object is made twice: with the strings pandas 3 infers when pyarrow is installed
(``ArrowStringArray``, column labels too) and with Python-backed strings (object arrays
under ``future.infer_string = False``, and ``StringDtype("python")`` where a maker asks
for a string dtype), so both storages are covered with and without pyarrow installed.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from . import Artifact, assert_same

FORMATS = ("p2", "p5", "joblib")


def _frames(pd: Any, np: Any) -> dict[str, Callable[[], Any]]:
    dates = pd.date_range("2024-01-01", periods=4, freq="D")
    return {
        "frame/mixed": lambda: pd.DataFrame(
            {
                "i": [1, 2, 3, 4],
                "f": [0.5, np.nan, 2.0, 3.5],
                "s": ["a", "b", None, "d"],
                "b": [True, False, True, True],
            }
        ),
        "frame/string-index": lambda: pd.DataFrame(
            {"x": [1.0, 2.0, 3.0]}, index=pd.Index(["r1", "r2", "r3"], name="row")
        ),
        "frame/datetime-tz": lambda: pd.DataFrame({"when": dates.tz_localize("Europe/Paris"), "label": list("wxyz")}),
        "frame/categorical": lambda: pd.DataFrame({"c": pd.Categorical(["lo", "hi", "lo", None]), "v": range(4)}),
        "frame/nullable": lambda: pd.DataFrame(
            {
                "i": pd.array([1, None, 3], dtype="Int64"),
                "f": pd.array([0.5, None, 1.5], dtype="Float64"),
                "b": pd.array([True, None, False], dtype="boolean"),
            }
        ),
        "frame/multiindex-columns": lambda: pd.DataFrame(
            np.arange(6).reshape(2, 3), columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y"), ("b", "x")])
        ),
        "frame/multiindex-rows": lambda: pd.DataFrame(
            {"v": [1, 2, 3, 4]}, index=pd.MultiIndex.from_product([["p", "q"], [1, 2]], names=["key", "n"])
        ),
        "frame/period-index": lambda: pd.DataFrame(
            {"sales": [1, 2, 3]}, index=pd.period_range("2024-01", periods=3, freq="M")
        ),
        "frame/interval": lambda: pd.DataFrame({"bin": pd.cut([1, 5, 9], bins=[0, 4, 8, 12]), "name": ["a", "b", "c"]}),
        "frame/sparse": lambda: pd.DataFrame({"sp": pd.arrays.SparseArray([0, 0, 3, 0]), "name": list("abcd")}),
        "frame/timedelta": lambda: pd.DataFrame({"td": pd.to_timedelta([1, 2, 3], unit="s"), "name": ["a", "b", "c"]}),
        "frame/empty": lambda: pd.DataFrame(columns=["a", "b"]),
        "frame/wide": lambda: pd.DataFrame(np.arange(40.0).reshape(4, 10), columns=[f"c{i}" for i in range(10)]),
        "frame/string-dtype": lambda: pd.DataFrame({"s": pd.array(["a", None, "c"], dtype=pd.StringDtype("python"))}),
        "frame/attrs": lambda: _with_attrs(pd.DataFrame({"a": [1, 2]}), {"source": "sensor", "version": 2}),
        "frame/datetime-index": lambda: pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0]}, index=dates),
        "frame/object-mixed": lambda: pd.DataFrame({"o": [1, "two", 3.0, None]}, dtype=object),
    }


def _with_attrs(frame: Any, attrs: dict[str, Any]) -> Any:
    frame.attrs.update(attrs)
    return frame


def _series(pd: Any, np: Any) -> dict[str, Callable[[], Any]]:
    import zoneinfo

    return {
        "series/strings": lambda: pd.Series(["spam", "eggs", None, "ham"], name="food"),
        "series/int-string-index": lambda: pd.Series([1, 2, 3], index=["a", "b", "c"]),
        "series/categorical-ordered": lambda: pd.Series(
            pd.Categorical(["s", "m", "l", "m"], categories=["s", "m", "l"], ordered=True)
        ),
        "series/datetime-zoneinfo": lambda: pd.Series(
            pd.date_range("2024-03-30", periods=3, freq="h", tz=zoneinfo.ZoneInfo("Europe/Berlin")), name="t"
        ),
        "series/datetime-utc": lambda: pd.Series(pd.date_range("2024-01-01", periods=3, tz=datetime.UTC)),
        "series/datetime-dateutil": lambda: pd.Series(
            pd.date_range("2024-01-01", periods=3, tz="dateutil/Europe/London")
        ),
        "series/datetime-naive-ms": lambda: pd.Series(pd.to_datetime(["2024-01-01", None, "2024-01-03"]).as_unit("ms")),
        "series/period": lambda: pd.Series(pd.period_range("2024Q1", periods=3, freq="Q"), name="quarter"),
        "series/interval": lambda: pd.Series(pd.interval_range(0, 3, closed="left")),
        "series/Int64": lambda: pd.Series(pd.array([1, None, 3], dtype="Int64"), index=["x", "y", "z"]),
        "series/boolean": lambda: pd.Series(pd.array([True, None], dtype="boolean")),
        "series/Float32": lambda: pd.Series(pd.array([1.5, None], dtype="Float32")),
        "series/string-python": lambda: pd.Series(["a", None], dtype=pd.StringDtype("python")),
        "series/sparse-float": lambda: pd.Series(pd.arrays.SparseArray([0.0, np.nan, 2.0], kind="block")),
        "series/timedelta": lambda: pd.Series(pd.to_timedelta(["1 days", None, "3 hours"])),
        "series/uint8": lambda: pd.Series(np.arange(5, dtype=np.uint8), name="small"),
        "series/object-strings-nan": lambda: pd.Series(["x", np.nan, "z"], dtype=object),
    }


def _indexes(pd: Any, np: Any) -> dict[str, Callable[[], Any]]:
    return {
        "index/strings": lambda: pd.Index(["a", "b", "c"], name="letters"),
        "index/range": lambda: pd.RangeIndex(2, 20, 3, name="r"),
        "index/int64": lambda: pd.Index([3, 1, 2]),
        "index/float": lambda: pd.Index([0.5, np.nan]),
        "index/bool": lambda: pd.Index([True, False]),
        "index/Int64": lambda: pd.Index(pd.array([1, None], dtype="Int64")),
        "index/multi": lambda: pd.MultiIndex.from_arrays([["a", "a", "b"], [1, 2, 1]], names=["k", "n"]),
        "index/datetime-tz": lambda: pd.date_range("2024-01-01", periods=3, freq="D", tz="US/Eastern", name="d"),
        "index/timedelta": lambda: pd.timedelta_range("1 day", periods=3),
        "index/period": lambda: pd.period_range("2024-01-01", periods=3, freq="D"),
        "index/interval": lambda: pd.IntervalIndex.from_breaks([0, 1.5, 3.0]),
        "index/categorical": lambda: pd.CategoricalIndex(["x", "y", "x"], name="cat"),
        "index/string-python": lambda: pd.Index(["p", "q"], dtype=pd.StringDtype("python")),
    }


def _scalars_and_arrays(pd: Any, np: Any) -> dict[str, Callable[[], Any]]:
    from dateutil import relativedelta, tz

    return {
        "array/categorical": lambda: pd.Categorical(["b", "a", "b"], categories=["a", "b", "c"]),
        "array/sparse-int": lambda: pd.arrays.SparseArray([0, 0, 1, 2, 0, 0, 7]),
        "array/sparse-fill": lambda: pd.arrays.SparseArray([5, 5, 1, 5], fill_value=5),
        "array/integer": lambda: pd.array([1, 2, None], dtype="UInt16"),
        "array/string-python": lambda: pd.array(["a", None], dtype=pd.StringDtype("python")),
        "array/datetime": lambda: pd.array(pd.date_range("2024-01-01", periods=2, tz="Asia/Tokyo")),
        "scalar/timestamp-tz": lambda: pd.Timestamp("2024-05-06 07:08:09", tz="Europe/Paris"),
        "scalar/timestamp-dateutil": lambda: pd.Timestamp("2024-05-06", tz=tz.gettz("America/New_York")),
        "scalar/timedelta": lambda: pd.Timedelta("1 days 02:03:04.000005"),
        "scalar/period": lambda: pd.Period("2024-03", freq="M"),
        "scalar/interval": lambda: pd.Interval(0.5, 1.5, closed="both"),
        "scalar/nat": lambda: pd.NaT,
        "scalar/na-in-list": lambda: [pd.NA, pd.NaT, 1],
        "scalar/na-in-dict": lambda: {"missing": pd.NA, "when": pd.NaT},
        "offset/business-hour": lambda: pd.offsets.BusinessHour(2, start="08:30", end="16:00"),
        "offset/custom-business-day": lambda: pd.offsets.CustomBusinessDay(
            holidays=["2024-01-01", "2024-12-25"], weekmask="Mon Tue Wed Thu"
        ),
        "offset/easter": lambda: pd.offsets.Easter(2),
        "offset/date-offset": lambda: pd.DateOffset(months=2, days=1, hours=3),
        "offset/date-offset-weekday": lambda: pd.DateOffset(weekday=relativedelta.FR(-1), month=12),
        "offset/week": lambda: pd.offsets.Week(2, weekday=4),
        "offset/month-end": lambda: pd.offsets.MonthEnd(3),
        "offset/fy5253": lambda: pd.offsets.FY5253(weekday=1, startingMonth=1, variation="last"),
        "offset/semi-month": lambda: pd.offsets.SemiMonthEnd(day_of_month=20),
        "dateutil/relativedelta": lambda: relativedelta.relativedelta(years=1, months=-2, weekday=relativedelta.MO(2)),
        "dateutil/tzutc": lambda: tz.tzutc(),
        "dateutil/tzoffset": lambda: tz.tzoffset("IST", 19800),
        "dateutil/gettz": lambda: tz.gettz("Australia/Sydney"),
        "dtype/categorical": lambda: pd.CategoricalDtype(["lo", "hi"], ordered=True),
        "dtype/datetime-tz": lambda: pd.DatetimeTZDtype("ns", "UTC"),
        "dtype/period": lambda: pd.PeriodDtype("M"),
        "dtype/interval": lambda: pd.IntervalDtype("int64", "right"),
        "dtype/sparse": lambda: pd.SparseDtype("float64", np.nan),
        "dtype/string-python": lambda: pd.StringDtype("python"),
        "dict/of-frames": lambda: {
            "train": pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}),
            "meta": pd.Series({"rows": 2}),
        },
    }


def _arrow(pd: Any) -> dict[str, Callable[[], Any]]:
    """ArrowDtype columns (need pyarrow whichever strings are inferred)."""
    import decimal

    import pyarrow as pa

    def column(values: list[Any], kind: Any) -> Callable[[], Any]:
        return lambda: pd.Series(pd.array(values, dtype=pd.ArrowDtype(kind)), name="col")

    return {
        "arrow/int64": column([1, None, 3], pa.int64()),
        "arrow/float32": column([1.5, None], pa.float32()),
        "arrow/bool": column([True, None, False], pa.bool_()),
        "arrow/string": column(["a", None, "c"], pa.string()),
        "arrow/large-string": column(["a", "bb"], pa.large_string()),
        "arrow/binary": column([b"x", None], pa.binary()),
        "arrow/date32": column([datetime.date(2024, 1, 1), None], pa.date32()),
        "arrow/timestamp-tz": column([datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)], pa.timestamp("us", "UTC")),
        "arrow/duration": column([datetime.timedelta(seconds=5)], pa.duration("ms")),
        "arrow/decimal": column([decimal.Decimal("1.25"), None], pa.decimal128(7, 2)),
        "arrow/dictionary": column(["a", "b", "a", None], pa.dictionary(pa.int32(), pa.string())),
        "arrow/list": column([[1, 2], None, []], pa.list_(pa.int64())),
        "arrow/large-list": column([["x"], ["y", "z"]], pa.large_list(pa.string())),
        "arrow/struct": column([{"a": 1, "b": "x"}, None], pa.struct([("a", pa.int64()), ("b", pa.string())])),
        "arrow/map": column([[("k", 1)], None], pa.map_(pa.string(), pa.int64())),
        "arrow/frame": lambda: pd.DataFrame({"n": [1, 2]}).convert_dtypes(dtype_backend="pyarrow"),
        "arrow/string-dtype": lambda: pd.Series(["a", None], dtype=pd.StringDtype("pyarrow")),
        "arrow/index": lambda: pd.Index(pd.array([1, 2, 3], dtype="int64[pyarrow]")),
        "dtype/arrow": lambda: pd.ArrowDtype(pa.timestamp("ns", "Asia/Tokyo")),
        "pyarrow/chunked-array": lambda: {"chunks": pa.chunked_array([pa.array(["a", None]), pa.array(["b"])])},
    }


def _same_singletons(expected: Any, got: Any) -> None:
    """``NaT`` and ``NA`` equal nothing, themselves included; they are singletons, so a
    loaded copy must be the very object (elsewhere, :func:`assert_same`)."""
    if isinstance(expected, dict):
        assert list(expected) == list(got), list(got)
        pairs = [(expected[key], got[key]) for key in expected]
    elif isinstance(expected, list):
        assert len(expected) == len(got), got
        pairs = list(zip(expected, got, strict=True))
    else:
        pairs = [(expected, got)]
    for want, have in pairs:
        if type(want).__name__ in ("NaTType", "NAType"):
            assert have is want, f"{have!r} is not the {want!r} singleton"
        else:
            assert_same(want, have)


#: artifacts holding NaT or NA, compared by identity
_SINGLETONS = frozenset({"scalar/nat", "scalar/na-in-list", "scalar/na-in-dict"})


def _python_strings(make: Callable[[], Any]) -> Callable[[], Any]:
    """``make`` with the strings pandas infers as Python objects (no ArrowStringArray)."""

    def made() -> Any:
        import pandas as pd

        with warnings.catch_warnings():  # pandas 3 deprecates the option (it is how to get object strings)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            with pd.option_context("future.infer_string", False):
                return make()

    return made


def artifacts() -> Iterator[Artifact]:
    try:
        import numpy as np
        import pandas as pd
    except ImportError:
        return
    makers = {**_frames(pd, np), **_series(pd, np), **_indexes(pd, np), **_scalars_and_arrays(pd, np)}
    for name, make in makers.items():
        same = _same_singletons if name in _SINGLETONS else None
        yield Artifact(f"pandas/{name}", _python_strings(make), "pandas", FORMATS, same)
        yield Artifact(f"pandas/arrow-strings/{name}", make, "pandas", FORMATS, same, requires=("pyarrow",))
    try:
        arrow = _arrow(pd)
    except ImportError:  # no pyarrow: the objects above still run, with Python strings
        return
    for name, make in arrow.items():
        yield Artifact(f"pandas/{name}", make, "pandas", FORMATS, requires=("pyarrow",))
        yield Artifact(f"pandas/python-strings/{name}", _python_strings(make), "pandas", FORMATS, requires=("pyarrow",))
