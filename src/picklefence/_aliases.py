"""Known renames: one name of a global in a pickle written by another version of a
library (or of Python) for the same object.  A rule written for the canonical name
also matches its aliases, so a rename never silently breaks loading; resolution still
uses the name the pickle gives, which must exist in the installed version.

This table is trusted data: an alias must name the very same object.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: Module renames: a module of the pickle -> the canonical module of the rule.
MODULES: Mapping[str, str] = MappingProxyType(
    {
        # numpy 1.x -> 2.x (numpy 2.x keeps numpy.core as a shim, numpy 1.26 has numpy._core)
        "numpy.core": "numpy._core",
        "numpy.core.multiarray": "numpy._core.multiarray",
        "numpy.core.numeric": "numpy._core.numeric",
        "numpy.core._multiarray_umath": "numpy._core._multiarray_umath",
        # Python 3.13 moved the concrete path classes
        "pathlib._local": "pathlib",
    }
)

#: Exact renames: "module:qualname" of the pickle -> canonical "module:qualname".
NAMES: Mapping[str, str] = MappingProxyType(
    {
        # pandas 3.x writes public names where pandas 2.x wrote internal ones
        "pandas:DataFrame": "pandas.core.frame:DataFrame",
        "pandas:Series": "pandas.core.series:Series",
        "pandas:Index": "pandas.core.indexes.base:Index",
        "pandas:RangeIndex": "pandas.core.indexes.range:RangeIndex",
        "pandas:MultiIndex": "pandas.core.indexes.multi:MultiIndex",
        "pandas:DatetimeIndex": "pandas.core.indexes.datetimes:DatetimeIndex",
        "pandas:TimedeltaIndex": "pandas.core.indexes.timedeltas:TimedeltaIndex",
        "pandas:PeriodIndex": "pandas.core.indexes.period:PeriodIndex",
        "pandas:IntervalIndex": "pandas.core.indexes.interval:IntervalIndex",
        "pandas:CategoricalIndex": "pandas.core.indexes.category:CategoricalIndex",
        "pandas:Categorical": "pandas.core.arrays.categorical:Categorical",
        "pandas:CategoricalDtype": "pandas.core.dtypes.dtypes:CategoricalDtype",
        "pandas:DatetimeTZDtype": "pandas.core.dtypes.dtypes:DatetimeTZDtype",
        "pandas:PeriodDtype": "pandas.core.dtypes.dtypes:PeriodDtype",
        "pandas:IntervalDtype": "pandas.core.dtypes.dtypes:IntervalDtype",
        "pandas:SparseDtype": "pandas.core.dtypes.dtypes:SparseDtype",
        "pandas:StringDtype": "pandas.core.arrays.string_:StringDtype",
        "pandas:BooleanDtype": "pandas.core.arrays.boolean:BooleanDtype",
        "pandas:Int8Dtype": "pandas.core.arrays.integer:Int8Dtype",
        "pandas:Int16Dtype": "pandas.core.arrays.integer:Int16Dtype",
        "pandas:Int32Dtype": "pandas.core.arrays.integer:Int32Dtype",
        "pandas:Int64Dtype": "pandas.core.arrays.integer:Int64Dtype",
        "pandas:UInt8Dtype": "pandas.core.arrays.integer:UInt8Dtype",
        "pandas:UInt16Dtype": "pandas.core.arrays.integer:UInt16Dtype",
        "pandas:UInt32Dtype": "pandas.core.arrays.integer:UInt32Dtype",
        "pandas:UInt64Dtype": "pandas.core.arrays.integer:UInt64Dtype",
        "pandas:Float32Dtype": "pandas.core.arrays.floating:Float32Dtype",
        "pandas:Float64Dtype": "pandas.core.arrays.floating:Float64Dtype",
        "pandas:Timestamp": "pandas._libs.tslibs.timestamps:Timestamp",
        "pandas:Timedelta": "pandas._libs.tslibs.timedeltas:Timedelta",
        "pandas:Period": "pandas._libs.tslibs.period:Period",
        "pandas:Interval": "pandas._libs.interval:Interval",
        "pandas:NA": "pandas._libs.missing:NA",
        "pandas.arrays:IntegerArray": "pandas.core.arrays.integer:IntegerArray",
        "pandas.arrays:FloatingArray": "pandas.core.arrays.floating:FloatingArray",
        "pandas.arrays:BooleanArray": "pandas.core.arrays.boolean:BooleanArray",
        "pandas.arrays:StringArray": "pandas.core.arrays.string_:StringArray",
        "pandas.arrays:ArrowStringArray": "pandas.core.arrays.string_arrow:ArrowStringArray",
        "pandas.arrays:DatetimeArray": "pandas.core.arrays.datetimes:DatetimeArray",
        "pandas.arrays:TimedeltaArray": "pandas.core.arrays.timedeltas:TimedeltaArray",
        "pandas.arrays:PeriodArray": "pandas.core.arrays.period:PeriodArray",
        "pandas.arrays:IntervalArray": "pandas.core.arrays.interval:IntervalArray",
        "pandas.arrays:SparseArray": "pandas.core.arrays.sparse.array:SparseArray",
        "pandas.arrays:ArrowExtensionArray": "pandas.core.arrays.arrow.array:ArrowExtensionArray",
        "pandas:ArrowDtype": "pandas.core.dtypes.dtypes:ArrowDtype",
        "pandas:DateOffset": "pandas._libs.tslibs.offsets:DateOffset",
        # scipy 1.18 moved its vendored array namespace from scipy._lib to scipy._external
        "scipy._lib.array_api_compat.numpy._aliases:asarray": "scipy._external.array_api_compat.numpy._aliases:asarray",
    }
)


def canonical(module: str, qualname: str) -> tuple[str, str] | None:
    """The canonical name of an alias, or None if the name is not an alias."""
    name = NAMES.get(f"{module}:{qualname}")
    if name is not None:
        canon_module, _, canon_qualname = name.partition(":")
        return canon_module, canon_qualname
    renamed = MODULES.get(module)
    return (renamed, qualname) if renamed is not None else None
