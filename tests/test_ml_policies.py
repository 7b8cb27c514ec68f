"""The numpy, pandas and scikit-learn policies on artifacts made by those libraries:
each loads like ``pickle.loads`` at protocols 2-5, dumps to pickle's bytes, and the
gadgets and bombs that hide inside the same libraries are refused without effects."""

from __future__ import annotations

import copy
import importlib
import pickle
import sys
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import picklefence
from picklefence import LimitExceededError, PolicyViolation, UnpicklingError

from .hostile import allowed_modules, call, g, i, stop, t, u

np = pytest.importorskip("numpy")

PROTOCOLS = (2, 3, 4, 5)


def _numpy_artifacts() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "float64 2-d": rng.random((3, 4)),
        "fortran order": np.asfortranarray(rng.random((3, 4))),
        "int32": np.arange(10, dtype=np.int32),
        "uint8": np.arange(5, dtype=np.uint8),
        "float16": np.array([1.0, -2.5], dtype=np.float16),
        "bool": np.array([True, False]),
        "complex128": np.array([1 + 2j, 3 - 4j]),
        "object": np.array([1, "a", None], dtype=object),
        "structured": np.array([(1, 2.0, b"ab")], dtype=[("a", "i4"), ("b", "f8"), ("c", "S2")]),
        "datetime64": np.array(["2020-01-01", "2021-06-30"], dtype="datetime64[D]"),
        "timedelta64": np.array([1, 2], dtype="timedelta64[s]"),
        "unicode": np.array(["abc", "de"]),
        "bytes": np.array([b"abc", b"d"]),
        "0-d": np.array(3.5),
        "empty": np.zeros((0, 3)),
        "float64 scalar": np.float64(1.5),
        "int64 scalar": np.int64(7),
        "bool scalar": np.bool_(True),
        "dtype": np.dtype("f4"),
        "structured dtype": np.dtype([("x", "<i2"), ("y", "f8")]),
        "masked array": np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]),
        "Generator": np.random.default_rng(1),
        "RandomState": np.random.RandomState(1),
        "record array": np.rec.array([(1, 2.0, b"ab")], dtype=[("x", "i4"), ("y", "f8"), ("z", "S2")]),
        "record": np.rec.array([(1, 2.0)], dtype=[("x", "i4"), ("y", "f8")])[0],
        **(
            {
                "variable-width strings": np.array(["a", "bcd"], dtype=np.dtypes.StringDType()),
                "variable-width strings with NA": np.array(["a", None], dtype=np.dtypes.StringDType(na_object=None)),
            }
            if hasattr(np.dtypes, "StringDType")
            else {}
        ),
    }


def _same_numpy(ours: Any, expected: Any) -> None:
    assert type(ours) is type(expected)
    if isinstance(expected, np.ndarray):
        assert ours.dtype == expected.dtype
        assert ours.shape == expected.shape
        assert ours.flags.f_contiguous == expected.flags.f_contiguous
        assert ours.flags.c_contiguous == expected.flags.c_contiguous
        if isinstance(expected, np.ma.MaskedArray):
            assert np.array_equal(ours.mask, expected.mask)
        assert np.array_equal(ours, expected, equal_nan=expected.dtype.kind in "fc")
    elif isinstance(expected, (np.random.Generator, np.random.RandomState)):
        assert str(ours.bit_generator.state if hasattr(ours, "bit_generator") else ours.get_state()) == str(
            expected.bit_generator.state if hasattr(expected, "bit_generator") else expected.get_state()
        )
    else:
        assert ours == expected


NUMPY = _numpy_artifacts()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", sorted(NUMPY))
def test_numpy_artifact_loads_like_pickle(name: str, protocol: int) -> None:
    obj = NUMPY[name]
    data = pickle.dumps(obj, protocol)
    _same_numpy(picklefence.loads(data, policy="numpy"), pickle.loads(data))
    assert picklefence.dumps(obj, protocol, policy="numpy") == data


@pytest.mark.parametrize("name", [n for n, v in NUMPY.items() if isinstance(v, np.ndarray) and v.dtype != object])
def test_numpy_out_of_band_buffers(name: str) -> None:
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(NUMPY[name], 5, buffer_callback=buffers.append)
    _same_numpy(picklefence.loads(data, policy="numpy", buffers=buffers), pickle.loads(data, buffers=buffers))


def _pandas_artifacts() -> dict[str, Any]:
    pd = pytest.importorskip("pandas")
    return {
        "DataFrame": pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [1.5, 2.5]}),
        "Series": pd.Series([1, 2, 3], name="s"),
        "RangeIndex": pd.RangeIndex(5),
        "Index": pd.Index(["a", "b"]),
        "MultiIndex": pd.MultiIndex.from_tuples([(1, "a"), (2, "b")]),
        "DatetimeIndex tz": pd.date_range("2020-01-01", periods=3, tz="UTC"),
        "DatetimeIndex": pd.date_range("2020-01-01", periods=3),
        "TimedeltaIndex": pd.timedelta_range("1D", periods=2),
        "PeriodIndex": pd.period_range("2020-01", periods=2, freq="M"),
        "IntervalIndex": pd.interval_range(0, 3),
        "CategoricalIndex": pd.CategoricalIndex(["a", "b", "a"]),
        "Categorical": pd.Categorical(["a", "b", "a"]),
        "Int64 array": pd.array([1, None], dtype="Int64"),
        "boolean array": pd.array([True, None], dtype="boolean"),
        "string array": pd.array(["a", None], dtype="string"),
        "Float64 array": pd.array([1.5, None], dtype="Float64"),
        "Timestamp tz": pd.Timestamp("2020-01-01", tz="Europe/Paris"),
        "Timestamp": pd.Timestamp("2020-01-01"),
        "Timedelta": pd.Timedelta("1D"),
        "Period": pd.Period("2020-01", freq="M"),
        "Interval": pd.Interval(0, 1),
        "DataFrame tz": pd.DataFrame({"t": pd.date_range("2020", periods=2, tz="US/Eastern")}),
        "DataFrame categorical": pd.DataFrame({"c": pd.Categorical(["a", "b"])}),
        "DataFrame extension": pd.DataFrame(
            {"i": pd.array([1, None], dtype="Int64"), "p": pd.period_range("2020-01", periods=2, freq="M")}
        ),
        "DataFrame MultiIndex": pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples([(1, "a"), (2, "b")])),
    }


def _same_pandas(ours: Any, expected: Any) -> None:
    pd = sys.modules["pandas"]
    assert type(ours) is type(expected)
    if isinstance(expected, (pd.DataFrame, pd.Series)):
        assert ours.equals(expected)
        if isinstance(expected, pd.DataFrame):
            assert list(ours.dtypes) == list(expected.dtypes)
        else:
            assert ours.dtype == expected.dtype
        assert ours.index.equals(expected.index)
    elif isinstance(expected, pd.Index):
        assert ours.equals(expected) and ours.dtype == expected.dtype
    elif hasattr(expected, "dtype") and not isinstance(expected, (pd.Timestamp, pd.Timedelta)):
        assert ours.dtype == expected.dtype
        assert list(ours.astype(object)) == list(expected.astype(object))
    else:
        assert ours == expected


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pandas_artifacts_load_like_pickle(protocol: int) -> None:
    for name, obj in _pandas_artifacts().items():
        data = pickle.dumps(obj, protocol)
        try:
            _same_pandas(picklefence.loads(data, policy="pandas"), pickle.loads(data))
            assert picklefence.dumps(obj, protocol, policy="pandas") == data
        except Exception as exc:
            raise AssertionError(f"{name} at protocol {protocol}: {exc!r}") from exc


def _sklearn_models() -> dict[str, tuple[Any, Any]]:
    """Fitted models with the data to predict on."""
    pytest.importorskip("sklearn")
    pd = pytest.importorskip("pandas")
    warnings.filterwarnings("ignore")
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_classification, make_regression
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
    from sklearn.svm import SVC, SVR
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    Xr, yr = make_regression(n_samples=60, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=list("abcde"))
    frame["cat"] = ["u", "v", "w"] * 20
    column_pipe = Pipeline(
        [
            ("ct", ColumnTransformer([("num", StandardScaler(), list("abcde")), ("cat", OneHotEncoder(), ["cat"])])),
            ("clf", LogisticRegression()),
        ]
    )
    return {
        "LogisticRegression": (LogisticRegression().fit(X, y), X),
        "LinearRegression": (LinearRegression().fit(Xr, yr), Xr),
        "Ridge": (Ridge().fit(Xr, yr), Xr),
        "SGDClassifier": (SGDClassifier(random_state=0).fit(X, y), X),
        "DecisionTreeClassifier": (DecisionTreeClassifier(random_state=0).fit(X, y), X),
        "DecisionTreeRegressor": (DecisionTreeRegressor(random_state=0).fit(Xr, yr), Xr),
        "RandomForestClassifier": (RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y), X),
        "RandomForestRegressor": (RandomForestRegressor(n_estimators=3, random_state=0).fit(Xr, yr), Xr),
        "GradientBoostingClassifier": (GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y), X),
        "GradientBoostingRegressor": (GradientBoostingRegressor(n_estimators=3, random_state=0).fit(Xr, yr), Xr),
        "HistGradientBoostingClassifier": (HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, y), X),
        "SVC": (SVC().fit(X, y), X),
        "SVR": (SVR().fit(Xr, yr), Xr),
        "KMeans": (KMeans(n_clusters=2, n_init=1, random_state=0).fit(X), X),
        "KNeighborsClassifier": (KNeighborsClassifier().fit(X, y), X),
        "StandardScaler": (StandardScaler().fit(X), X),
        "MinMaxScaler": (MinMaxScaler().fit(X), X),
        "OneHotEncoder": (OneHotEncoder().fit(frame[["cat"]]), frame[["cat"]]),
        "OrdinalEncoder": (OrdinalEncoder().fit(frame[["cat"]]), frame[["cat"]]),
        "PCA": (PCA(2).fit(X), X),
        "Pipeline": (make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X),
        "ColumnTransformer pipeline": (column_pipe.fit(frame, y), frame),
    }


def _outputs(model: Any, X: Any) -> Any:
    for method in ("predict", "transform"):
        if hasattr(model, method):
            out = getattr(model, method)(X)
            return out.toarray() if hasattr(out, "toarray") else out
    raise AssertionError(f"{model!r} neither predicts nor transforms")


@pytest.mark.parametrize("protocol", (2, 5))
def test_sklearn_models_predict_identically(protocol: int) -> None:
    for name, (model, X) in _sklearn_models().items():
        data = pickle.dumps(model, protocol)
        ours = picklefence.loads(data, policy="sklearn")
        assert type(ours) is type(model), name
        assert np.array_equal(_outputs(ours, X), _outputs(pickle.loads(data), X)), name
        assert picklefence.dumps(model, protocol, policy="sklearn") == data, name


def test_at_least_thirty_distinct_artifacts() -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    assert len(NUMPY) + len(_pandas_artifacts()) + len(_sklearn_models()) >= 30


# -- hostile inputs inside the libraries' own globals -------------------------------


def _np_global(name: str) -> bytes:
    module, qualname = name.split(":")
    return g(module, qualname)


HOSTILE: list[tuple[str, bytes, str, type[UnpicklingError]]] = [
    ("numpy.load", stop(call(g("numpy", "load"), u("/etc/passwd"))), "sklearn", PolicyViolation),
    ("numpy.fromfile", stop(call(g("numpy", "fromfile"), u("/etc/passwd"))), "sklearn", PolicyViolation),
    (
        "numpy runstring",
        stop(call(g("numpy.testing._private.utils", "runstring"), u("1"), b"}")),
        "sklearn",
        PolicyViolation,
    ),
    ("pandas.read_csv", stop(call(g("pandas", "read_csv"), u("/etc/passwd"))), "sklearn", PolicyViolation),
    ("pandas.read_pickle", stop(call(g("pandas", "read_pickle"), u("/tmp/x.pkl"))), "sklearn", PolicyViolation),
    ("pandas.eval", stop(call(g("pandas", "eval"), u("1+1"))), "sklearn", PolicyViolation),
    ("joblib.load", stop(call(g("joblib", "load"), u("/tmp/x.pkl"))), "sklearn", PolicyViolation),
    ("torch.load", stop(call(g("torch", "load"), u("/tmp/x.pt"))), "sklearn", PolicyViolation),
    ("pydoc.locate", stop(call(g("pydoc", "locate"), u("os.system"))), "sklearn", PolicyViolation),
    ("importlib", stop(call(g("importlib", "import_module"), u("os"))), "sklearn", PolicyViolation),
    (
        "getattr walk",
        stop(call(g("builtins", "getattr"), g("numpy", "ndarray"), u("tofile"))),
        "sklearn",
        PolicyViolation,
    ),
    ("attrgetter", stop(call(g("operator", "attrgetter"), u("x"))), "sklearn", PolicyViolation),
    ("functools.partial", stop(call(g("functools", "partial"), g("numpy", "load"))), "sklearn", PolicyViolation),
    (
        "sklearn utils exec",
        stop(call(g("sklearn.utils._testing", "assert_run_python_script_without_output"), u("1"))),
        "sklearn",
        PolicyViolation,
    ),
    (
        "_reconstruct with a GiB shape",
        stop(call(g("numpy._core.multiarray", "_reconstruct"), g("numpy", "ndarray"), t(i(1 << 30)), b"C\x01b")),
        "numpy",
        PolicyViolation,
    ),
    (
        "_reconstruct of another subtype",
        stop(call(g("numpy._core.multiarray", "_reconstruct"), g("numpy", "dtype"), t(i(0)), b"C\x01b")),
        "numpy",
        PolicyViolation,
    ),
    (
        "ndarray claiming 2**40 elements with 3 bytes",
        stop(
            call(g("numpy._core.multiarray", "_reconstruct"), g("numpy", "ndarray"), t(i(0)), b"C\x01b")
            + t(i(1), t(i(1 << 40)), call(g("numpy", "dtype"), u("u1"), b"\x89\x88"), b"\x89", b"C\x03abc")
            + b"b",
            2,
        ),
        "numpy",
        PolicyViolation,
    ),
    (
        "V0 dtype claiming 10**15 elements",
        stop(
            call(g("numpy._core.multiarray", "_reconstruct"), g("numpy", "ndarray"), t(i(0)), b"C\x01b")
            + t(i(1), t(i(10**15)), call(g("numpy", "dtype"), u("V0"), b"\x89\x88"), b"\x89", b"C\x00")
            + b"b",
            2,
        ),
        "numpy",
        PolicyViolation,
    ),
    (
        "_frombuffer claiming more than the buffer",
        stop(
            call(
                g("numpy._core.numeric", "_frombuffer"),
                b"C\x03abc",
                call(g("numpy", "dtype"), u("f8"), b"\x89\x88"),
                t(i(1 << 30)),
                u("C"),
            ),
            5,
        ),
        "numpy",
        PolicyViolation,
    ),
    (
        "scalar with short data",
        stop(
            call(g("numpy._core.multiarray", "scalar"), call(g("numpy", "dtype"), u("f8"), b"\x89\x88"), b"C\x01a"), 2
        ),
        "numpy",
        PolicyViolation,
    ),
    (
        "RandomState ctor calling something else",
        stop(call(g("numpy.random._pickle", "__randomstate_ctor"), u("MT19937"), g("builtins", "range")), 2),
        "numpy",
        PolicyViolation,
    ),
    (
        "bit generator ctor of a non-generator class",
        stop(call(g("numpy.random._pickle", "__bit_generator_ctor"), g("numpy", "ndarray")), 2),
        "numpy",
        PolicyViolation,
    ),
    (
        "_new_Index with a non-Index class",
        stop(call(g("pandas.core.indexes.base", "_new_Index"), g("numpy", "ndarray"), b"}"), 2),
        "pandas",
        PolicyViolation,
    ),
    (
        "Cython unpickler constructing another class",
        stop(call(g("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"), g("numpy", "ndarray"), i(0), b"N"), 2),
        "pandas",
        PolicyViolation,
    ),
    (
        "newObj of a non-tree class",
        stop(call(g("sklearn.neighbors._kd_tree", "newObj"), g("numpy", "ndarray")), 2),
        "sklearn",
        PolicyViolation,
    ),
    (
        "BUILD on the ndarray class",
        stop(g("numpy", "ndarray") + b"}" + u("x") + i(1) + b"sb", 2),
        "numpy",
        PolicyViolation,
    ),
    ("huge length prefix", stop(b"\x8e" + (1 << 40).to_bytes(8, "little") + b"abc", 4), "numpy", LimitExceededError),
]


# Why each non-gadget case is refused (gadgets are refused at lookup: "reference").
CAPABILITY = {
    "getattr walk": "arguments",
    "_reconstruct with a GiB shape": "arguments",
    "_reconstruct of another subtype": "arguments",
    "_frombuffer claiming more than the buffer": "arguments",
    "scalar with short data": "arguments",
    "RandomState ctor calling something else": "arguments",
    "bit generator ctor of a non-generator class": "arguments",
    "_new_Index with a non-Index class": "arguments",
    "Cython unpickler constructing another class": "arguments",
    "newObj of a non-tree class": "arguments",
    "ndarray claiming 2**40 elements with 3 bytes": "state",
    "V0 dtype claiming 10**15 elements": "state",
    "BUILD on the ndarray class": "state",
}


_LIBRARIES = ("numpy", "pandas", "sklearn", "scipy")


@pytest.mark.parametrize(("name", "data", "policy", "error"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_inputs_inside_ml_libraries_are_refused(
    name: str, data: bytes, policy: str, error: type[UnpicklingError]
) -> None:
    for module in allowed_modules(data, policy):  # the load may import these, with what they import
        importlib.import_module(module)
    modules = set(sys.modules)
    with pytest.raises(error) as info:
        picklefence.loads(data, policy=policy)
    if isinstance(info.value, PolicyViolation):
        assert info.value.capability == CAPABILITY.get(name, "reference"), info.value
    new = {m for m in set(sys.modules) - modules if not m.startswith(_LIBRARIES)}
    assert not new, f"imported {new}"


def _tree_with(mutate: Callable[[Any], None]) -> bytes:
    pytest.importorskip("sklearn")
    from sklearn.tree import DecisionTreeClassifier

    X = np.random.default_rng(0).random((40, 3))
    tree = DecisionTreeClassifier(random_state=0).fit(X, [0, 1] * 20).tree_
    func, args, state = tree.__reduce__()
    state = dict(state)
    state["nodes"] = state["nodes"].copy()
    mutate(state["nodes"])
    return pickle.dumps(_Reduced(func, args, state), 4)


class _Reduced:
    def __init__(self, func: Any, args: Any, state: Any) -> None:
        self.rv = (func, args, state)

    def __reduce__(self) -> Any:
        return self.rv


@pytest.mark.parametrize(
    "mutation",
    [
        lambda nodes: nodes.__setitem__("left_child", np.where(nodes["left_child"] > 0, 10**6, -1)),
        lambda nodes: nodes.__setitem__("right_child", np.where(nodes["right_child"] > 0, 0, -1)),
        lambda nodes: nodes.__setitem__("feature", np.where(nodes["left_child"] > 0, 99, -2)),
        lambda nodes: nodes["right_child"].__setitem__(0, -1),
        lambda nodes: nodes["left_child"].__setitem__(0, 0),
        lambda nodes: nodes.__setitem__("left_child", np.where(nodes["left_child"] > 0, nodes["left_child"], -5)),
    ],
    ids=[
        "child index past the end",
        "child pointing back (a cycle)",
        "feature out of range",
        "one child only",
        "child is the node itself",
        "leaf marked -5",
    ],
)
def test_sklearn_tree_with_bad_node_indices_is_refused(mutation: Callable[[Any], None]) -> None:
    data = _tree_with(mutation)
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy="sklearn")
    assert info.value.capability == "state"


def test_sklearn_tree_untouched_loads() -> None:
    data = _tree_with(lambda nodes: None)
    assert picklefence.loads(data, policy="sklearn").node_count > 1


def _binary_tree(kind: str, mutate: Callable[[list[Any]], None]) -> bytes:
    pytest.importorskip("sklearn")
    from sklearn.neighbors import BallTree, KDTree

    tree = (KDTree if kind == "kd" else BallTree)(np.random.default_rng(0).random((40, 3)), leaf_size=4)
    func, args, state = tree.__reduce__()
    state = [x.copy() if isinstance(x, np.ndarray) else x for x in state]
    mutate(state)
    return pickle.dumps(_Reduced(func, args, tuple(state)), 4)


@pytest.mark.parametrize("kind", ["kd", "ball"])
@pytest.mark.parametrize(
    "mutation",
    [
        lambda s: s[1].__setitem__(0, 10**6),  # an index past the data
        lambda s: s[2].__setitem__((0,), (0, 10**6, 0, 1.0)),  # a node range past the data
        lambda s: s.__setitem__(6, s[6] + 100),  # more nodes claimed than stored
        lambda s: s[2]["is_leaf"].__setitem__(slice(None), 0),  # leaves turned inner: children past the end
    ],
    ids=["index past the data", "node range past the data", "node count", "missing children"],
)
def test_neighbour_tree_with_bad_indices_is_refused(kind: str, mutation: Callable[[list[Any]], None]) -> None:
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(_binary_tree(kind, mutation), policy="sklearn")
    assert info.value.capability == "state"


@pytest.mark.parametrize("kind", ["kd", "ball"])
def test_neighbour_tree_untouched_loads(kind: str) -> None:
    tree = picklefence.loads(_binary_tree(kind, lambda s: None), policy="sklearn")
    assert tree.query(np.zeros((1, 3)), k=2)[0].shape == (1, 2)


def test_hist_gradient_boosting_predictor_with_bad_children_is_refused() -> None:
    pytest.importorskip("sklearn")
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=2, random_state=0).fit(
        np.random.default_rng(0).random((60, 3)), [0, 1] * 30
    )
    predictor = model._predictors[0][0]
    assert len(picklefence.loads(pickle.dumps(predictor, 4), policy="sklearn").nodes) == len(predictor.nodes)
    bad = copy.copy(predictor)
    bad.nodes = predictor.nodes.copy()
    bad.nodes["left"] = np.where(bad.nodes["is_leaf"] == 0, 10**6, bad.nodes["left"])
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(pickle.dumps(bad, 4), policy="sklearn")
    assert info.value.capability == "state"


# dtype states numpy's __setstate__ takes without checking them, each a memory-safety
# bug: a field past the item (out-of-bounds reads and writes), names without fields,
# an object field without the flag that makes numpy count its references, a subarray
# larger than the item, a fixed-size type with another size, object fields on a dtype
# arrays may already use.
_BAD_DTYPE_STATES = {
    "field offset past the item": ("V8", (3, "|", None, ("x",), {"x": (np.dtype("f8"), 100_000)}, 8, 1, 16)),
    "names without fields": ("V8", (3, "|", None, ("x", "y"), {"x": (np.dtype("f4"), 0)}, 8, 1, 16)),
    "object field without its flags": ("V8", (3, "|", None, ("o",), {"o": (np.dtype("O"), 0)}, 8, 1, 16)),
    "subarray larger than the item": ("V8", (3, "|", (np.dtype("i4"), (1000,)), None, None, 8, 4, 0)),
    "float64 claiming 16 bytes": ("f8", (3, "<", None, None, None, 16, 8, 0)),
    "str field name as bytes": ("V4", (3, "|", None, ("x",), {b"x": (np.dtype("f4"), 0)}, 4, 1, 16)),
    "format given as text": ("V4", (3, "|", None, ("x",), {"x": ("f4", 0)}, 4, 1, 16)),
    # canonical, but an array made with the V8 dtype first would read its bytes as pointers
    "object field added to a void dtype": ("V8", (3, "|", None, ("o",), {"o": (np.dtype("O"), 0)}, 8, 1, 63)),
}


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize("name", list(_BAD_DTYPE_STATES))
def test_inconsistent_dtype_state_is_refused(name: str, protocol: int) -> None:
    code, state = _BAD_DTYPE_STATES[name]
    data = pickle.dumps(_Reduced(np.dtype, (code, False, True), state), protocol)
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy="numpy")
    assert info.value.capability == "state"


@pytest.mark.parametrize(
    "dtype",
    [
        np.dtype("f8"),
        np.dtype(">i4"),
        np.dtype("U5"),
        np.dtype("S3"),
        np.dtype("V7"),
        np.dtype("O"),
        np.dtype("M8[ns]"),
        np.dtype(">m8[25s]"),
        np.dtype("?"),
        np.dtype("c16"),
        np.dtype([("x", "f4"), ("y", "i2", (2,))]),
        np.dtype([("x", "f4"), ("y", ">i2")], align=True),
        np.dtype((np.int32, (2, 3))),
        np.dtype({"names": ["a"], "formats": ["i4"], "offsets": [4], "itemsize": 12}),
        np.dtype([(("title", "x"), "f4")]),
        np.dtype("f8", metadata={"unit": "m"}),
        np.dtype([("i", "i8"), ("n", [("a", "u1"), ("b", "U2")])]),
    ],
    ids=str,
)
def test_every_kind_of_dtype_loads_like_pickle(dtype: Any) -> None:
    for protocol in (2, 5):
        data = pickle.dumps(dtype, protocol)
        ours = picklefence.loads(data, policy="numpy")
        assert ours == dtype and ours.__reduce__() == dtype.__reduce__()


def test_a_dtype_cannot_gain_object_fields_after_an_array_uses_it() -> None:
    # _frombuffer(b"AAAAAAAA", V8) first, then BUILD makes the dtype [("o", "O")]:
    # the array's bytes would become a pointer
    dtype = _np_global("numpy:dtype")
    data = stop(
        b"]"
        + call(dtype, u("V8"), b"\x89\x88")
        + b"q\x010"
        + call(g("numpy._core.numeric", "_frombuffer"), b"C\x08AAAAAAAA", b"h\x01", t(i(1)), u("C"))
        + b"a"
        + b"h\x01"
        + t(
            i(3),
            u("|"),
            b"N",
            t(u("o")),
            b"}" + u("o") + t(call(dtype, u("O8"), b"\x89\x88"), i(0)) + b"s",
            i(8),
            i(1),
            i(63),
        )
        + b"b0",
        2,
    )
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy="numpy")
    assert info.value.capability == "state"


@pytest.mark.skipif(not hasattr(np.dtypes, "StringDType"), reason="numpy < 2")
def test_build_on_a_dtype_numpy_pickles_without_state_is_refused() -> None:
    from numpy._core._internal import _convert_to_stringdtype_kwargs

    state = (3, "|", None, None, None, 16, 8, 0)
    data = pickle.dumps(_Reduced(_convert_to_stringdtype_kwargs, (1,), state), 5)
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data, policy="numpy")
    assert info.value.capability == "state"
