"""scipy under the shipped policy (G8): forged states of the classes whose compiled code
trusts them are refused at load, naming the class.

The hostile rows run in subprocesses (tests/_state_rows.py); each is forged from a real
scipy object whose pickled state is edited, and names the rule the refusal must name.
Controls show where plain ``pickle`` plus the ordinary use crashes."""

from __future__ import annotations

from collections.abc import Callable
from copyreg import _reconstructor  # type: ignore[attr-defined]
from typing import Any

import pytest

import picklefence

from ._state_rows import Forged, Row, dumps, params, row_tests

np = pytest.importorskip("numpy")
sp = pytest.importorskip("scipy.sparse")

POLICY = "scipy"
MODULE = __name__


# -- sparse matrices and arrays ----------------------------------------------------------


def _sparse(fmt: str, kind: str = "matrix") -> Any:
    dense = np.array([[1.0, 0, 2, 0], [0, 0, 3, 0], [4, 5, 0, 0], [0, 0, 0, 6]])
    return getattr(sp, f"{fmt}_{kind}")(dense)


def _edited(obj: Any, edit: Callable[[dict[str, Any]], object]) -> bytes:
    """A real sparse container pickled with its BUILD state edited."""
    func, args, state, *rest = obj.__reduce_ex__(4)
    state = dict(state)
    edit(state)
    return dumps(Forged(func, args, state, *rest))


def _set(**changes: Any) -> Callable[[dict[str, Any]], object]:
    return lambda state: state.update(changes)


def _toarray(obj: Any) -> object:
    return obj.toarray()


def _via_csr(obj: Any) -> object:
    """What most uses of a LIL matrix do first (arithmetic, products, slicing)."""
    return obj.tocsr().toarray()


def _matvec(obj: Any) -> object:
    return obj @ np.ones(obj.shape[1])


def _first_row_of_one(obj: Any) -> object:
    """The stored data is the single value 1.0 and the vector is all ones, so a first row
    that sums to anything else was read from memory outside ``data`` (where that memory
    is mapped, the read returns the heap's neighbours instead of faulting)."""
    value = float(_matvec(obj)[0])  # type: ignore[index]
    return value if value == 1.0 else f"GARBAGE {value}"


def csr_index_past_shape() -> bytes:
    return _edited(_sparse("csr"), _set(indices=np.array([0, 2, 2, 0, 1, 10**8], dtype=np.int32)))


def csr_negative_index() -> bytes:
    return _edited(_sparse("csr"), _set(indices=np.array([0, 2, 2, 0, 1, -(10**8)], dtype=np.int32)))


def csr_array_index_past_shape() -> bytes:
    return _edited(_sparse("csr", "array"), _set(indices=np.array([0, 2, 2, 0, 10**8, 3], dtype=np.int32)))


def csr_indptr_past_indices() -> bytes:
    return _edited(_sparse("csr"), _set(indptr=np.array([0, 2, 3, 5, 10**7], dtype=np.int32)))


def csr_indptr_short() -> bytes:
    """Four rows of entries, a million rows claimed: the kernels read indptr past its end."""
    return _edited(_sparse("csr"), _set(_shape=(10**6, 4)))


def csr_indptr_decreasing() -> bytes:
    return _edited(_sparse("csr"), _set(indptr=np.array([0, 4, 3, 5, 6], dtype=np.int32)))


def csr_indptr_not_zero() -> bytes:
    return _edited(_sparse("csr"), _set(indptr=np.array([1, 2, 3, 5, 6], dtype=np.int32)))


def csr_data_short() -> bytes:
    """Two million entries in one row, one value: every entry reads past ``data``."""
    n = 2 * 10**6
    return _edited(
        _sparse("csr"),
        _set(
            indices=np.zeros(n, dtype=np.int32),
            indptr=np.array([0, n, n, n, n], dtype=np.int32),
            data=np.ones(1),
        ),
    )


def csr_float_indices() -> bytes:
    return _edited(_sparse("csr"), lambda s: s.update(indices=s["indices"].astype(np.float64)))


def csr_uint64_indptr() -> bytes:
    return _edited(_sparse("csr"), lambda s: s.update(indptr=s["indptr"].astype(np.uint64)))


def csr_2d_indices() -> bytes:
    return _edited(_sparse("csr"), lambda s: s.update(indices=s["indices"].reshape(2, 3)))


def csr_object_data() -> bytes:
    return _edited(_sparse("csr"), lambda s: s.update(data=s["data"].astype(object)))


def csr_list_data() -> bytes:
    return _edited(_sparse("csr"), lambda s: s.update(data=s["data"].tolist()))


def csr_float_shape() -> bytes:
    return _edited(_sparse("csr"), _set(_shape=(4.0, 4)))


def csr_negative_shape() -> bytes:
    return _edited(_sparse("csr"), _set(_shape=(4, -4)))


def csr_3d_shape() -> bytes:
    return _edited(_sparse("csr", "array"), _set(_shape=(4, 4, 1)))


def csr_wide_shape_int32() -> bytes:
    """A width past int32 with int32 indices: sparsetools takes the width as an int32."""
    return _edited(_sparse("csr"), _set(_shape=(4, 2**33)))


def csr_sorted_flag_lie() -> bytes:
    return _edited(
        _sparse("csr"),
        _set(indices=np.array([2, 0, 2, 0, 1, 3], dtype=np.int32), _has_sorted_indices=True),
    )


def csr_canonical_flag_lie() -> bytes:
    return _edited(
        _sparse("csr"),
        _set(indices=np.array([0, 0, 2, 0, 1, 3], dtype=np.int32), _has_canonical_format=True),
    )


def csr_flag_not_bool() -> bytes:
    return _edited(_sparse("csr"), _set(_has_sorted_indices=1))


def csr_no_indptr() -> bytes:
    return _edited(_sparse("csr"), lambda s: s.pop("indptr"))


def csr_extra_key() -> bytes:
    return _edited(_sparse("csr"), _set(toarray=None))


def csr_maxprint() -> bytes:
    return _edited(_sparse("csr"), _set(maxprint="50"))


def csc_index_past_shape() -> bytes:
    return _edited(_sparse("csc", "array"), _set(indices=np.array([0, 2, 2, 10**8, 0, 1], dtype=np.int32)))


def bsr_blocksize_inconsistent() -> bytes:
    """A 3x3 block in a 4x4 matrix."""
    return _edited(_sparse("bsr"), _set(data=np.ones((6, 3, 3))))


def bsr_index_past_shape() -> bytes:
    return _edited(_sparse("bsr"), _set(indices=np.array([0, 2, 2, 0, 1, 10**9], dtype=np.int32)))


def bsr_empty_block() -> bytes:
    return _edited(_sparse("bsr"), _set(data=np.ones((6, 0, 1))))


def coo_coord_past_shape() -> bytes:
    def edit(state: dict[str, Any]) -> None:
        row, col = (c.copy() for c in state["coords"])
        col[-1] = 10**8
        state["coords"] = (row, col)

    return _edited(_sparse("coo"), edit)


def coo_array_negative_coord() -> bytes:
    def edit(state: dict[str, Any]) -> None:
        row, col = (c.copy() for c in state["coords"])
        row[0] = -(10**8)
        state["coords"] = (row, col)

    return _edited(_sparse("coo", "array"), edit)


def coo_coords_short() -> bytes:
    return _edited(_sparse("coo"), lambda s: s.update(coords=(s["coords"][0], s["coords"][1][:1])))


def coo_one_coord() -> bytes:
    return _edited(_sparse("coo"), lambda s: s.update(coords=s["coords"][:1]))


def coo_canonical_lie() -> bytes:
    return _edited(
        _sparse("coo"),
        lambda s: s.update(coords=tuple(c[::-1].copy() for c in s["coords"]), has_canonical_format=True),
    )


def coo_float_coords() -> bytes:
    return _edited(_sparse("coo"), lambda s: s.update(coords=tuple(c.astype(float) for c in s["coords"])))


def dia_data_short() -> bytes:
    """Two hundred thousand offsets, one diagonal: ``dia_matvec`` reads diagonals past ``data``."""
    n = 10**6
    return _edited(
        _sparse("dia"), _set(_shape=(n, n), data=np.ones((1, n)), offsets=np.arange(200_000, dtype=np.int32))
    )


def dia_offsets_repeat() -> bytes:
    return _edited(_sparse("dia"), lambda s: s.update(offsets=np.zeros(len(s["offsets"]), dtype=np.int32)))


def dia_offset_far() -> bytes:
    def edit(state: dict[str, Any]) -> None:
        offsets = state["offsets"].copy()
        offsets[-1] = -(2**31) + 1
        state["offsets"] = offsets

    return _edited(_sparse("dia"), edit)


def dia_1d_data() -> bytes:
    return _edited(_sparse("dia"), lambda s: s.update(data=s["data"].ravel()))


def _lil(edit: Callable[[Any, Any], None], kind: str = "matrix") -> bytes:
    def edit_state(state: dict[str, Any]) -> None:
        rows, data = state["rows"].copy(), state["data"].copy()
        edit(rows, data)
        state.update(rows=rows, data=data)

    return _edited(_sparse("lil", kind), edit_state)


def lil_more_values_than_indices() -> bytes:
    """Two indices, a million values: ``lil_flatten_to_array`` writes them all into an
    array sized by the indices."""

    def edit(rows: Any, data: Any) -> None:
        data[0] = [1.0] * 10**6

    return _lil(edit)


def lil_index_past_shape() -> bytes:
    def edit(rows: Any, data: Any) -> None:
        rows[0] = [0, 10**8]

    return _lil(edit)


def lil_row_not_list() -> bytes:
    def edit(rows: Any, data: Any) -> None:
        rows[0] = tuple(rows[0])

    return _lil(edit, "array")


def lil_index_not_int() -> bytes:
    def edit(rows: Any, data: Any) -> None:
        rows[0] = [0, "2"]

    return _lil(edit)


def lil_unsorted() -> bytes:
    def edit(rows: Any, data: Any) -> None:
        rows[0] = [2, 0]

    return _lil(edit)


def lil_value_not_number() -> bytes:
    def edit(rows: Any, data: Any) -> None:
        data[0] = [1.0, [2.0]]

    return _lil(edit)


def lil_rows_short() -> bytes:
    return _edited(_sparse("lil"), lambda s: s.update(rows=s["rows"][:2], data=s["data"][:2]))


def _dok(obj: Any, store: dict[Any, Any]) -> bytes:
    _func, args, state = obj.__reduce_ex__(2)[:3]
    state = dict(state, _dict=store)
    return dumps(Forged(_reconstructor, (args[0], dict, dict(store)), state))


def dok_key_past_shape() -> bytes:
    return _dok(_sparse("dok"), {(0, 0): 1.0, (10**8, 0): 2.0})


def dok_key_negative() -> bytes:
    return _dok(_sparse("dok", "array"), {(0, -(10**8)): 2.0})


def dok_key_not_tuple() -> bytes:
    return _dok(_sparse("dok"), {5: 1.0})


def dok_value_not_number() -> bytes:
    return _dok(_sparse("dok"), {(0, 0): "one"})


def dok_bad_base_dict() -> bytes:
    """``_dict`` is sound; the dict the object itself is (filled by copyreg) is not."""
    obj = _sparse("dok")
    _func, args, state = obj.__reduce_ex__(2)[:3]
    return dumps(Forged(_reconstructor, (args[0], dict, {(10**8, 0): 1.0}), dict(state)))


def dok_dtype_object() -> bytes:
    return _edited_dok_state(dtype=np.dtype(object))


def _edited_dok_state(**changes: Any) -> bytes:
    obj = _sparse("dok")
    func, args, state = obj.__reduce_ex__(2)[:3]
    return dumps(Forged(func, args, dict(state, **changes)))


# -- interpolators, splines, trees, rotations, kernel density ----------------------------


def _reduced(obj: Any, edit: Callable[[dict[str, Any]], object]) -> bytes:
    """A real object pickled with its attributes (dict or slot state) edited."""
    return dumps(_forged(obj, edit))


def _forged(obj: Any, edit: Callable[[dict[str, Any]], object]) -> Forged:
    func, args, state, *rest = obj.__reduce_ex__(4)
    if type(state) is tuple:  # (dict or None, slot attributes): edited as one
        slots = set(state[1])
        attributes = {**(state[0] or {}), **state[1]}
        edit(attributes)
        plain = {k: v for k, v in attributes.items() if k not in slots}
        state = (plain or state[0], {k: v for k, v in attributes.items() if k in slots})
    else:
        state = dict(state)
        edit(state)
    return Forged(func, args, state, *rest)


def _line() -> tuple[Any, Any]:
    x = np.linspace(0.0, 3.0, 9)
    return x, np.sin(x)


def _ip() -> Any:
    import scipy.interpolate

    return scipy.interpolate


def _at_end(obj: Any) -> object:
    return obj(np.array([2.999]))


def ppoly_coefficients_short() -> bytes:
    """Two million breakpoints, one interval of coefficients: evaluating near the end
    reads coefficients megabytes past the array."""
    x = np.linspace(0.0, 3.0, 2 * 10**6)
    return _reduced(_ip().CubicSpline(*_line()), lambda s: s.update(_x=x, _c=np.ascontiguousarray(s["_c"][:, :1])))


def ppoly_not_monotonic() -> bytes:
    return _reduced(_ip().PchipInterpolator(*_line()), lambda s: s.update(_x=s["_x"][[0, 2, 1, 3, 4, 5, 6, 7, 8]]))


def ppoly_asarray() -> bytes:
    return _reduced(_ip().Akima1DInterpolator(*_line()), _set(_asarray=np.float64))


def ppoly_axis() -> bytes:
    return _reduced(_ip().PPoly.from_spline(_ip().splrep(*_line())), _set(axis=5))


def bpoly_coefficients_1d() -> bytes:
    return _reduced(_ip().BPoly.from_derivatives([0, 1], [[1, 2], [3, 4]]), lambda s: s.update(_c=s["_c"].ravel()))


def bspline_coefficients_short() -> bytes:
    """Two million knots, two coefficients: evaluation reads megabytes past them."""
    t = np.linspace(0.0, 3.0, 2 * 10**6)
    return _reduced(_ip().make_interp_spline(*_line()), lambda s: s.update(_t=t, _c=np.full(2, 5.0)))


def _spline_of_fives(spline: Any) -> object:
    """Every coefficient is 5 and B-splines sum to one, so any other value was read from
    memory outside the coefficients."""
    value = float(spline(2.999))
    return value if value == 5.0 else f"GARBAGE {value}"


def bspline_negative_degree() -> bytes:
    return _reduced(_ip().make_interp_spline(*_line()), _set(k=-1))


def bspline_float_degree() -> bytes:
    return _reduced(_ip().make_interp_spline(*_line()), _set(k=3.0))


def bspline_knots_decreasing() -> bytes:
    return _reduced(_ip().make_interp_spline(*_line()), lambda s: s.update(_t=s["_t"][::-1].copy()))


# scipy 1.18's form: the public object's state is its NumPy delegate (_BSpline, _PPoly,
# _BPoly, whose arrays the evaluators read) and numpy.empty(0) for the numpy namespace


def _no_edit(state: dict[str, Any]) -> None:
    pass


def _delegating(
    obj: Any,
    delegate: Callable[[dict[str, Any]], object] = _no_edit,
    outer: Callable[[dict[str, Any]], object] = _no_edit,
) -> bytes:
    """A real scipy 1.18 spline or polynomial pickled with its delegate's attributes and
    its own state (for a BSpline, its pair as ``_delegate_to`` and ``_xp``) edited."""
    func, args, state, *rest = obj.__reduce_ex__(4)
    spline = type(state) is tuple
    parts = {"_delegate_to": state[0], "_xp": state[1]} if spline else dict(state)
    parts["_delegate_to"] = _forged(parts["_delegate_to"], delegate)
    outer(parts)
    forged_state = (parts.pop("_delegate_to"), parts.pop("_xp"), *parts.values()) if spline else parts
    return dumps(Forged(func, args, forged_state, *rest))


def _spline() -> Any:
    return _ip().make_interp_spline(*_line())


def delegate_bspline_coefficients_short() -> bytes:
    """Two million knots, two coefficients: evaluation reads megabytes past them."""
    t = np.linspace(0.0, 3.0, 2 * 10**6)
    return _delegating(_spline(), lambda s: s.update(t=t, c=np.full(2, 5.0)))


def delegate_bspline_knots_unsorted() -> bytes:
    return _delegating(_spline(), lambda s: s.update(t=s["t"][::-1].copy()))


def delegate_bspline_knots_nan() -> bytes:
    def edit(state: dict[str, Any]) -> None:
        state["t"] = state["t"].copy()
        state["t"][-1] = np.nan

    return _delegating(_spline(), edit)


def delegate_bspline_degree_past_knots() -> bytes:
    return _delegating(_spline(), lambda s: s.update(k=len(s["t"]) + 5))


def delegate_bspline_int_coefficients() -> bytes:
    return _delegating(_spline(), lambda s: s.update(c=s["c"].astype(np.int64)))


def delegate_bspline_extra_key() -> bytes:
    return _delegating(_spline(), _set(_evaluate=np.float64))


def delegate_bspline_delegates_again() -> bytes:
    return _delegating(_spline(), _set(_delegate_to=_spline()._delegate_to))


def delegate_bspline_namespace_object_array() -> bytes:
    return _delegating(_spline(), outer=_set(_xp=np.empty(0, dtype=object)))


def delegate_bspline_namespace_not_array() -> bytes:
    return _delegating(_spline(), outer=_set(_xp=[]))


def delegate_bspline_swapped() -> bytes:
    """A piecewise polynomial's delegate where a B-spline's belongs."""
    return _delegating(_spline(), outer=_set(_delegate_to=_ip().CubicSpline(*_line())._delegate_to))


def delegate_bspline_third_part() -> bytes:
    return _delegating(_spline(), outer=_set(extra=1))


def delegate_bspline_legacy_state() -> bytes:
    """scipy 1.17's attribute state on a 1.18 BSpline, whose __setstate__ wants the pair."""
    spline = _spline()
    state = {"_t": spline.t, "_c": spline.c, "k": spline.k, "extrapolate": True, "axis": 0}
    return dumps(Forged(spline.__reduce_ex__(4)[0], (type(spline),), state))


def delegate_ppoly_coefficients_short() -> bytes:
    """Two million breakpoints, one interval of coefficients."""
    x = np.linspace(0.0, 3.0, 2 * 10**6)
    return _delegating(_ip().CubicSpline(*_line()), lambda s: s.update(x=x, c=np.ascontiguousarray(s["c"][:, :1])))


def delegate_ppoly_not_monotonic() -> bytes:
    return _delegating(_ip().PchipInterpolator(*_line()), lambda s: s.update(x=s["x"][[0, 2, 1, 3, 4, 5, 6, 7, 8]]))


def delegate_ppoly_axis() -> bytes:
    return _delegating(_ip().PPoly.from_spline(_ip().splrep(*_line())), _set(axis=5))


def delegate_ppoly_extra_slot() -> bytes:
    return _delegating(_ip().Akima1DInterpolator(*_line()), _set(_evaluate=np.float64))


def delegate_ppoly_extra_key() -> bytes:
    """Every key but the namespace becomes an attribute in the polynomial's __setstate__."""
    return _delegating(_ip().CubicSpline(*_line()), outer=_set(_evaluate=np.float64))


def delegate_ppoly_namespace() -> bytes:
    return _delegating(_ip().CubicHermiteSpline(*_line(), np.cos(_line()[0])), outer=_set(_xp=np.empty(1)))


def delegate_ppoly_no_namespace() -> bytes:
    return _delegating(_ip().CubicSpline(*_line()), outer=lambda s: s.pop("_xp"))


def _bpoly() -> Any:
    return _ip().BPoly.from_derivatives([0, 1, 3], [[1, 2], [3, 4], [0, 1]])


def delegate_bpoly_coefficients_1d() -> bytes:
    return _delegating(_bpoly(), lambda s: s.update(c=s["c"].ravel()))


def delegate_bpoly_swapped() -> bytes:
    """A power-basis delegate in a Bernstein polynomial."""
    return _delegating(_bpoly(), outer=_set(_delegate_to=_ip().PPoly.from_spline(_ip().splrep(*_line()))._delegate_to))


def delegate_bare_ppoly() -> bytes:
    """A delegate on its own, outside the public object that would be checked with it."""
    x = np.linspace(0.0, 3.0, 2 * 10**6)
    delegate = _ip().CubicSpline(*_line())._delegate_to
    return dumps(_forged(delegate, lambda s: s.update(x=x, c=np.ascontiguousarray(s["c"][:, :1]))))


def delegate_bare_bspline() -> bytes:
    t = np.linspace(0.0, 3.0, 2 * 10**6)
    return dumps(_forged(_spline()._delegate_to, lambda s: s.update(t=t, c=np.full(2, 5.0))))


def rgi_asarray() -> bytes:
    return _rgi(_set(_asarray=np.float64))


def interp1d_call_swapped() -> bytes:
    return _reduced(_ip().interp1d(*_line()), lambda s: s.update(_call=_ip().interp1d._call_nearest))


def interp1d_y_short() -> bytes:
    return _reduced(_ip().interp1d(*_line()), lambda s: s.update(_y=s["_y"][:3]))


def _tck_spline(edit: Callable[[dict[str, Any]], object]) -> bytes:
    return _reduced(_ip().UnivariateSpline(*_line(), s=0.01), edit)


def univariate_coefficients_short() -> bytes:
    """FITPACK's splev reads n - k - 1 coefficients for n knots: two million knots, two."""
    t = np.linspace(0.0, 3.0, 2 * 10**6)
    return _tck_spline(lambda s: s.update(_eval_args=(t, np.ones(2), 3)))


def univariate_degree() -> bytes:
    return _tck_spline(lambda s: s.update(_eval_args=(*s["_eval_args"][:2], 9)))


def univariate_data_mismatch() -> bytes:
    def edit(state: dict[str, Any]) -> None:
        data = list(state["_data"])
        data[1] = data[1][:3]
        state["_data"] = tuple(data)

    return _tck_spline(edit)


def univariate_spline_class() -> bytes:
    return _tck_spline(_set(_spline_class=np.float64))


def univariate_ext() -> bytes:
    return _tck_spline(_set(ext=7))


def bivariate_coefficients_short() -> bytes:
    """bispev reads (nx - kx - 1)(ny - ky - 1) coefficients."""
    x, y = _line()
    spline = _ip().RectBivariateSpline(x, x, np.outer(y, y))
    return _reduced(spline, lambda s: s.update(tck=(*s["tck"][:2], s["tck"][2][:4].copy())))


def _rgi(edit: Callable[[dict[str, Any]], object], method: str = "linear") -> bytes:
    x, y = _line()
    return _reduced(_ip().RegularGridInterpolator((x, x), np.outer(y, y), method=method), edit)


def _rgi_use(obj: Any) -> object:
    return obj(np.array([[2.999, 2.999]]))


def rgi_values_short() -> bytes:
    """A million grid points per axis, two values: the Cython kernel indexes far past them."""
    axis = np.linspace(0.0, 3.0, 10**6)
    return _rgi(lambda s: s.update(_grid=(axis, axis), _values=np.ones((2, 2))))


def rgi_grid_descending() -> bytes:
    return _rgi(lambda s: s.update(_grid=(s["_grid"][0][::-1].copy(), s["_grid"][1])))


def rgi_method() -> bytes:
    return _rgi(_set(method="cubic"))


def rgi_spline() -> bytes:
    return _rgi(_set(_spline=np.ones(3)))


def _tree(edit: Callable[[list[Any]], None]) -> bytes:
    import scipy.spatial

    tree = scipy.spatial.cKDTree(np.random.default_rng(0).random((200, 3)), leafsize=4)
    func, args, state, *rest = tree.__reduce_ex__(4)
    fields = list(state)
    edit(fields)
    return dumps(Forged(func, args, tuple(fields), *rest))


def _query(tree: Any) -> object:
    return tree.query(np.full((4, 3), 0.5), k=3)


def _node_field(field: int, value: int) -> Callable[[list[Any]], None]:
    def edit(fields: list[Any]) -> None:
        nodes = np.frombuffer(fields[0].tobytes(), dtype=np.int64).reshape(-1, 9).copy()
        nodes[0, field] = value
        fields[0] = np.frombuffer(nodes.tobytes(), dtype="S1").copy()

    return edit


def tree_child_link() -> bytes:
    """The root's 'less' child link: ``__setstate__`` itself walks it."""
    return _tree(_node_field(7, 10**9))


def tree_node_range() -> bytes:
    """The root's end index into ``indices``: queries read points through it."""
    return _tree(_node_field(4, 10**9))


def tree_indices() -> bytes:
    def edit(fields: list[Any]) -> None:
        fields[7] = np.full_like(fields[7], 10**9)

    return _tree(edit)


def tree_dimensions() -> bytes:
    def edit(fields: list[Any]) -> None:
        fields[3] = 10**6

    return _tree(edit)


def tree_buffer_truncated() -> bytes:
    def edit(fields: list[Any]) -> None:
        fields[0] = fields[0][:100].copy()

    return _tree(edit)


def _rotation(quat: Any, single: bool = False) -> bytes:
    from scipy.spatial.transform import Rotation

    func, args, _state, *rest = Rotation.random(5, rng=0).__reduce_ex__(4)
    return dumps(Forged(func, args, (quat, single), *rest))


def _rotate(rotation: Any) -> object:
    return rotation.apply(np.ones(3))


def rotation_three_components() -> bytes:
    return _rotation(np.ones((5, 3)))


def rotation_not_unit() -> bytes:
    return _rotation(np.full((5, 4), 3.0))


def rotation_single_many() -> bytes:
    return _rotation(np.tile([0.0, 0.0, 0.0, 1.0], (5, 1)), single=True)


def rotation_float32() -> bytes:
    return _rotation(np.tile([0.0, 0.0, 0.0, 1.0], (5, 1)).astype(np.float32))


def _kde(edit: Callable[[dict[str, Any]], object]) -> bytes:
    import scipy.stats

    return _reduced(scipy.stats.gaussian_kde(np.random.default_rng(0).normal(size=(2, 30))), edit)


def _density(kde: Any) -> object:
    return kde(np.zeros((2, 3)))


def kde_cholesky_small() -> bytes:
    return _kde(lambda s: s.update(cho_cov=np.ones((1, 1))))


def kde_dimension_lie() -> bytes:
    """A thousand dimensions claimed for two-dimensional data and factors."""
    return _kde(_set(d=1000))


def kde_weights_short() -> bytes:
    return _kde(lambda s: s.update(_weights=s["_weights"][:5]))


# -- distributions ---------------------------------------------------------------------


def _stats() -> Any:
    import scipy.stats

    return scipy.stats


def _frozen(frozen: Any, edit_dist: Callable[[dict[str, Any]], object] | None = None, **frozen_state: Any) -> bytes:
    """A real frozen distribution pickled with its own state and its distribution's
    state edited."""
    func, args, state, *rest = frozen.__reduce_ex__(4)
    state = dict(state, **frozen_state)
    if edit_dist is not None:
        dist = state["dist"]
        dist_func, dist_args, dist_state, *dist_rest = dist.__reduce_ex__(4)
        dist_state = dict(dist_state)
        edit_dist(dist_state)
        state["dist"] = Forged(dist_func, dist_args, dist_state, *dist_rest)
    return dumps(Forged(func, args, state, *rest))


#: Python source the distribution's __setstate__ hands to exec: under plain pickle it
#: runs, and here kills its own process to show it did
_EXEC = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"


def dist_template_exec() -> bytes:
    return _frozen(_stats().norm(1.0, 2.0), lambda s: s.update(_parse_arg_template=_EXEC + s["_parse_arg_template"]))


def discrete_template_exec() -> bytes:
    return _frozen(_stats().poisson(3.0), lambda s: s.update(_parse_arg_template=_EXEC + s["_parse_arg_template"]))


def dist_shapes() -> bytes:
    return _frozen(_stats().gamma(2.0), lambda s: s.update(shapes="a, b", numargs=2))


def dist_extra_key() -> bytes:
    return _frozen(_stats().norm(), lambda s: s.update(_pdf=None))


def dist_random_state() -> bytes:
    return _frozen(_stats().norm(), lambda s: s.update(_random_state="seed"))


def dist_ctor_values() -> bytes:
    return _frozen(_stats().poisson(2.0), lambda s: s["_ctor_param"].update(values=((1, 2), (0.5, 0.5))))


def dist_ctor_shapes() -> bytes:
    """The constructor arguments scipy re-runs on ``freeze`` and re-seeding."""
    return _frozen(_stats().gamma(2.0), lambda s: s.update(_ctor_param=dict(s["_ctor_param"], shapes="x, y")))


def dist_support_text() -> bytes:
    return _frozen(_stats().norm(), lambda s: s.update(a="-inf"))


def dist_tuple_state() -> bytes:
    """scipy < 1.6's (ctor_param, random_state) form: ``__setstate__`` re-runs ``__init__``."""
    frozen = _stats().norm()
    func, args, state, *rest = frozen.__reduce_ex__(4)
    dist_func, dist_args, dist_state, *dist_rest = frozen.dist.__reduce_ex__(4)
    old = Forged(dist_func, dist_args, (dist_state["_ctor_param"], None), *dist_rest)
    return dumps(Forged(func, args, dict(state, dist=old), *rest))


def frozen_not_a_distribution() -> bytes:
    return _frozen(_stats().norm(), dist=_sparse("csr"))


def frozen_discrete_of_continuous() -> bytes:
    return _frozen(_stats().poisson(3.0), dist=_stats().norm)


def frozen_text_arguments() -> bytes:
    return _frozen(_stats().norm(), args=("1.0",))


def frozen_extra_key() -> bytes:
    return _frozen(_stats().norm(), pdf=None)


def _discrete_bytes(old: bytes, new: bytes) -> bytes:
    data = dumps(_stats().poisson(3.0))
    assert data.count(old) == 1
    return data.replace(old, new)


def getattr_dunder() -> bytes:
    return _discrete_bytes(b"\x8c\x08_entropy", b"\x8c\x08__init__")


def getattr_other_method() -> bytes:
    return _discrete_bytes(b"\x8c\x08_entropy", b"\x8c\x08interval")


def getattr_on_a_matrix() -> bytes:
    return dumps([Forged(getattr, (_sparse("csr"), "toarray"))])


def _vectorize(**state: Any) -> bytes:
    import copyreg

    base = {"pyfunc": Forged(getattr, (_stats().poisson, "_entropy")), "cache": False, "signature": None, "_ufunc": {}}
    return dumps(Forged(copyreg.__newobj__, (np.vectorize,), dict(base, **state)))


def vectorize_function() -> bytes:
    return _vectorize(pyfunc=np.float64)


def vectorize_ufunc() -> bytes:
    return _vectorize(_ufunc={1: np.float64})


def _vectorized(obj: Any) -> object:
    return obj(np.arange(3.0))


_CSR = "scipy.sparse._csr:csr_matrix"
_CSR_A = "scipy.sparse._csr:csr_array"
_COO = "scipy.sparse._coo:coo_matrix"
_BSR = "scipy.sparse._bsr:bsr_matrix"
_DIA = "scipy.sparse._dia:dia_matrix"
_LIL = "scipy.sparse._lil:lil_matrix"
_DOK = "scipy.sparse._dok:dok_matrix"
_CUBIC = "scipy.interpolate._cubic:CubicSpline"
_BSPLINE = "scipy.interpolate._bsplines:BSpline"
_BSPLINE_D = "scipy.interpolate._bsplines:_BSpline"
_PPOLY_D = "scipy.interpolate._interpolate:_PPoly"
_BPOLY = "scipy.interpolate._interpolate:BPoly"
_INTERP1D = "scipy.interpolate._interpolate:interp1d"
_LSQ = "scipy.interpolate._fitpack2:LSQUnivariateSpline"
_RGI = "scipy.interpolate._rgi:RegularGridInterpolator"
_KDTREE = "scipy.spatial._ckdtree:cKDTree"
_STATE_CHECK = "does not pass the policy's state check"
_ROTATION = "scipy.spatial.transform._rotation:Rotation"
_KDE = "scipy.stats._kde:gaussian_kde"
_NORM = "scipy.stats._continuous_distns:norm_gen"
_POISSON = "scipy.stats._discrete_distns:poisson_gen"
_FROZEN = "scipy.stats._distn_infrastructure:rv_continuous_frozen"
_FROZEN_D = "scipy.stats._distn_infrastructure:rv_discrete_frozen"
_VECTORIZE = "numpy:vectorize"


def _pdf(frozen: Any) -> object:
    return frozen.pdf([0.0, 1.0])


def _pmf(frozen: Any) -> object:
    return frozen.pmf([0, 1])


ROWS: list[Row] = [
    Row("csr-index-past-shape", csr_index_past_shape, _CSR, "indices must be < 4", use=_toarray, control="crash"),
    Row("csr-index-negative", csr_negative_index, _CSR, "indices must be >= 0", use=_toarray, control="crash"),
    Row("csr-array-index-past", csr_array_index_past_shape, _CSR_A, "indices must be <", use=_toarray, control="crash"),
    Row(
        "csr-indptr-past-indices",
        csr_indptr_past_indices,
        _CSR,
        "Last value of index pointer",
        use=_toarray,
        control="crash",
    ),
    Row("csr-indptr-short", csr_indptr_short, _CSR, "index pointer size 5", use=_matvec, control="crash"),
    Row("csr-indptr-decreasing", csr_indptr_decreasing, _CSR, "non-decreasing", use=_toarray),
    Row("csr-indptr-not-zero", csr_indptr_not_zero, _CSR, "start with 0", use=_toarray),
    Row("csr-data-short", csr_data_short, _CSR, "same size", use=_first_row_of_one, control="garbage"),
    Row("csr-float-indices", csr_float_indices, _CSR, "indices has dtype float64", use=_toarray),
    Row("csr-uint64-indptr", csr_uint64_indptr, _CSR, "indptr has dtype uint64", use=_toarray),
    Row("csr-2d-indices", csr_2d_indices, _CSR, "indices is 2-D", use=_toarray),
    Row("csr-object-data", csr_object_data, _CSR, "sparse does not support", use=_toarray),
    Row("csr-list-data", csr_list_data, _CSR, "data is a list", use=_toarray),
    Row("csr-float-shape", csr_float_shape, _CSR, "not non-negative ints", use=_toarray),
    Row("csr-negative-shape", csr_negative_shape, _CSR, "not non-negative ints", use=_toarray),
    Row("csr-array-3d-shape", csr_3d_shape, _CSR_A, "is not a tuple of (1, 2) ints", use=_toarray),
    Row("csr-wide-shape-int32", csr_wide_shape_int32, _CSR, "does not fit its int32", use=_toarray),
    Row("csr-sorted-flag-lie", csr_sorted_flag_lie, _CSR, "_has_sorted_indices is True", use=_toarray),
    Row("csr-canonical-flag-lie", csr_canonical_flag_lie, _CSR, "_has_canonical_format is True", use=_toarray),
    Row("csr-flag-not-bool", csr_flag_not_bool, _CSR, "is not a bool", use=_toarray),
    Row("csr-no-indptr", csr_no_indptr, _CSR, "it has no indptr", use=_toarray),
    Row("csr-extra-key", csr_extra_key, _CSR, "'toarray' is not in the state_keys", "state", use=_toarray),
    Row("csr-maxprint", csr_maxprint, _CSR, "maxprint '50'", use=repr),
    Row(
        "csc-array-index-past",
        csc_index_past_shape,
        "scipy.sparse._csc:csc_array",
        "indices must be <",
        use=_toarray,
        control="crash",
    ),
    Row("bsr-blocksize", bsr_blocksize_inconsistent, _BSR, "not a multiple of blocksize", use=_toarray),
    Row(
        "bsr-index-past-shape",
        bsr_index_past_shape,
        _BSR,
        "column index values must be < 4",
        use=_matvec,
        control="crash",
    ),
    Row("bsr-empty-block", bsr_empty_block, _BSR, "is empty", use=_toarray),
    Row("coo-coord-past-shape", coo_coord_past_shape, _COO, "exceeds matrix dimension", use=_toarray, control="crash"),
    Row(
        "coo-array-negative",
        coo_array_negative_coord,
        "scipy.sparse._coo:coo_array",
        "negative axis 0",
        use=_toarray,
        control="crash",
    ),
    Row("coo-coords-short", coo_coords_short, _COO, "coords[1] has 1 entries", use=_toarray),
    Row("coo-one-coord", coo_one_coord, _COO, "coords are not 2 index arrays", use=_toarray),
    Row("coo-canonical-lie", coo_canonical_lie, _COO, "has_canonical_format is True", use=_toarray),
    Row("coo-float-coords", coo_float_coords, _COO, "coords[0] has dtype float64", use=_toarray),
    Row("dia-data-short", dia_data_short, _DIA, "1 diagonals for 200000 offsets", use=_matvec, control="crash"),
    Row("dia-offsets-repeat", dia_offsets_repeat, _DIA, "offsets repeat", use=_toarray),
    Row("dia-offset-far", dia_offset_far, _DIA, "further from the diagonal", use=_matvec),
    Row("dia-1d-data", dia_1d_data, _DIA, "data is 1-D", use=_toarray),
    Row(
        "lil-values-past-indices",
        lil_more_values_than_indices,
        _LIL,
        "2 indices for 1000000 values",
        use=_via_csr,
        control="crash",
    ),
    Row("lil-index-past-shape", lil_index_past_shape, _LIL, "inside 0..4", use=_via_csr, control="crash"),
    Row("lil-array-row-tuple", lil_row_not_list, "scipy.sparse._lil:lil_array", "row 0 is not two lists", use=_toarray),
    Row("lil-index-str", lil_index_not_int, _LIL, "not increasing", use=_toarray),
    Row("lil-unsorted", lil_unsorted, _LIL, "not increasing", use=_toarray),
    Row("lil-value-list", lil_value_not_number, _LIL, "not a number", use=_toarray),
    Row("lil-rows-short", lil_rows_short, _LIL, "one list per row of 4", use=_toarray),
    Row("dok-key-past-shape", dok_key_past_shape, _DOK, "outside shape", use=_toarray),
    Row("dok-array-key-negative", dok_key_negative, "scipy.sparse._dok:dok_array", "outside shape", use=_toarray),
    Row("dok-key-not-tuple", dok_key_not_tuple, _DOK, "not a coordinate", use=_toarray),
    Row("dok-value-str", dok_value_not_number, _DOK, "not a number", use=_toarray),
    Row("dok-base-dict", dok_bad_base_dict, _DOK, "outside shape", use=_toarray),
    Row("dok-dtype-object", dok_dtype_object, _DOK, "sparse does not support", use=_toarray),
    Row(
        "ppoly-coefficients-short",
        ppoly_coefficients_short,
        _CUBIC,
        "number of coefficients",
        use=_at_end,
    ),
    Row(
        "ppoly-not-monotonic",
        ppoly_not_monotonic,
        "scipy.interpolate._cubic:PchipInterpolator",
        "increasing or decreasing",
        use=_at_end,
    ),
    Row(
        "ppoly-asarray",
        ppoly_asarray,
        "scipy.interpolate._cubic:Akima1DInterpolator",
        "_asarray is not scipy's",
        use=_at_end,
    ),
    Row("ppoly-axis", ppoly_axis, "scipy.interpolate._interpolate:PPoly", "axis 5", use=_at_end),
    Row(
        "bpoly-coefficients-1d",
        bpoly_coefficients_1d,
        _BPOLY,
        "not a 2-D float",
        use=_at_end,
    ),
    Row(
        "bspline-coefficients-short",
        bspline_coefficients_short,
        _BSPLINE,
        "inconsistent",
        use=_spline_of_fives,
        control="garbage",
    ),
    Row("bspline-negative-degree", bspline_negative_degree, _BSPLINE, "degree -1", use=_at_end),
    Row("bspline-float-degree", bspline_float_degree, _BSPLINE, "degree 3.0", use=_at_end),
    Row("bspline-knots-decreasing", bspline_knots_decreasing, _BSPLINE, "non-decreasing", use=_at_end),
    Row(
        "delegate-bspline-coefficients-short",
        delegate_bspline_coefficients_short,
        _BSPLINE,
        "inconsistent",
        use=_spline_of_fives,
        control="garbage",
    ),
    Row("delegate-bspline-knots-unsorted", delegate_bspline_knots_unsorted, _BSPLINE, "non-decreasing", use=_at_end),
    Row("delegate-bspline-knots-nan", delegate_bspline_knots_nan, _BSPLINE, "nans or infs", use=_at_end),
    Row(
        "delegate-bspline-degree-past-knots",
        delegate_bspline_degree_past_knots,
        _BSPLINE,
        "is not an int the knots allow",
        use=_at_end,
    ),
    Row(
        "delegate-bspline-int-coefficients",
        delegate_bspline_int_coefficients,
        _BSPLINE,
        "not a float array",
        use=_at_end,
    ),
    Row(
        "delegate-bspline-extra-key",
        delegate_bspline_extra_key,
        _BSPLINE_D,
        "'_evaluate' is not in the state_keys",
        "state",
        use=_at_end,
    ),
    Row(
        "delegate-bspline-delegates-again",
        delegate_bspline_delegates_again,
        _BSPLINE,
        "delegates again",
        use=_at_end,
    ),
    Row(
        "delegate-bspline-namespace-object-array",
        delegate_bspline_namespace_object_array,
        _BSPLINE,
        _STATE_CHECK,
        "state",
        use=_at_end,
    ),
    Row(
        "delegate-bspline-namespace-not-array",
        delegate_bspline_namespace_not_array,
        _BSPLINE,
        _STATE_CHECK,
        "state",
        use=_at_end,
    ),
    Row("delegate-bspline-swapped", delegate_bspline_swapped, _BSPLINE, _STATE_CHECK, "state", use=_at_end),
    Row("delegate-bspline-third-part", delegate_bspline_third_part, _BSPLINE, _STATE_CHECK, "state", use=_at_end),
    Row("delegate-bspline-legacy-state", delegate_bspline_legacy_state, _BSPLINE, _STATE_CHECK, "state", use=_at_end),
    Row(
        "delegate-ppoly-coefficients-short",
        delegate_ppoly_coefficients_short,
        _CUBIC,
        "number of coefficients",
        use=_at_end,
    ),
    Row(
        "delegate-ppoly-not-monotonic",
        delegate_ppoly_not_monotonic,
        "scipy.interpolate._cubic:PchipInterpolator",
        "increasing or decreasing",
        use=_at_end,
    ),
    Row("delegate-ppoly-axis", delegate_ppoly_axis, "scipy.interpolate._interpolate:PPoly", "axis 5", use=_at_end),
    Row(
        "delegate-ppoly-extra-slot",
        delegate_ppoly_extra_slot,
        _PPOLY_D,
        "'_evaluate' is not in the state_keys",
        "state",
        use=_at_end,
    ),
    Row("delegate-bare-ppoly", delegate_bare_ppoly, _PPOLY_D, "number of coefficients", use=_at_end),
    Row(
        "delegate-bare-bspline",
        delegate_bare_bspline,
        _BSPLINE_D,
        "inconsistent",
        use=_spline_of_fives,
        control="garbage",
    ),
    Row("delegate-ppoly-extra-key", delegate_ppoly_extra_key, _CUBIC, _STATE_CHECK, "state", use=_at_end),
    Row(
        "delegate-ppoly-namespace",
        delegate_ppoly_namespace,
        "scipy.interpolate._cubic:CubicHermiteSpline",
        _STATE_CHECK,
        "state",
        use=_at_end,
    ),
    Row("delegate-ppoly-no-namespace", delegate_ppoly_no_namespace, _CUBIC, _STATE_CHECK, "state", use=_at_end),
    Row("delegate-bpoly-coefficients-1d", delegate_bpoly_coefficients_1d, _BPOLY, "not a 2-D float", use=_at_end),
    Row("delegate-bpoly-swapped", delegate_bpoly_swapped, _BPOLY, _STATE_CHECK, "state", use=_at_end),
    Row("interp1d-call-swapped", interp1d_call_swapped, _INTERP1D, "not interp1d's own for kind 'linear'", use=_at_end),
    Row("interp1d-y-short", interp1d_y_short, _INTERP1D, "3 rows of y for 9 points", use=_at_end),
    Row(
        "univariate-coefficients-short", univariate_coefficients_short, _LSQ, "2 coefficients are too few", use=_at_end
    ),
    Row("univariate-degree", univariate_degree, _LSQ, "degree 9", use=_at_end),
    Row("univariate-data-mismatch", univariate_data_mismatch, _LSQ, "y is not as long as x", use=_at_end),
    Row("univariate-spline-class", univariate_spline_class, _LSQ, "_spline_class", use=_at_end),
    Row("univariate-ext", univariate_ext, _LSQ, "ext 7", use=_at_end),
    Row(
        "bivariate-coefficients-short",
        bivariate_coefficients_short,
        "scipy.interpolate._fitpack2:RectBivariateSpline",
        "4 coefficients",
        use=lambda s: s(2.9, 2.9),
    ),
    Row(
        "rgi-values-short",
        rgi_values_short,
        _RGI,
        "There are 1000000 points and 2 values",
        use=_rgi_use,
        control="crash",
    ),
    Row("rgi-grid-descending", rgi_grid_descending, _RGI, "not strictly ascending", use=_rgi_use),
    Row("rgi-method", rgi_method, _RGI, "method 'cubic' is not validated", use=_rgi_use),
    Row("rgi-spline", rgi_spline, _RGI, "holds a spline", use=_rgi_use),
    Row("rgi-asarray", rgi_asarray, _RGI, "_asarray is not scipy's", use=_rgi_use),
    Row("kdtree-child-link", tree_child_link, _KDTREE, _STATE_CHECK, "state", use=_query, control="crash"),
    Row("kdtree-node-range", tree_node_range, _KDTREE, _STATE_CHECK, "state", use=_query),
    Row("kdtree-indices", tree_indices, _KDTREE, _STATE_CHECK, "state", use=_query, control="crash"),
    Row("kdtree-dimensions", tree_dimensions, _KDTREE, _STATE_CHECK, "state", use=_query),
    Row("kdtree-buffer-truncated", tree_buffer_truncated, _KDTREE, _STATE_CHECK, "state", use=_query),
    Row("rotation-three-components", rotation_three_components, _ROTATION, "shape (5, 3)", use=_rotate),
    Row("rotation-not-unit", rotation_not_unit, _ROTATION, "not unit", use=_rotate),
    Row("rotation-single-many", rotation_single_many, _ROTATION, "more than one quaternion", use=_rotate),
    Row("rotation-float32", rotation_float32, _ROTATION, "not a float64 array", use=_rotate),
    Row("kde-cholesky-small", kde_cholesky_small, _KDE, "cho_cov is not 2 by 2", use=_density),
    Row("kde-dimension-lie", kde_dimension_lie, _KDE, "the dataset is not 1000 by 30", use=_density),
    Row("kde-weights-short", kde_weights_short, _KDE, "not one weight per point", use=_density),
    Row("dist-template-exec", dist_template_exec, _NORM, _STATE_CHECK, "state", use=_pdf, control="crash"),
    Row("discrete-template-exec", discrete_template_exec, _POISSON, _STATE_CHECK, "state", use=_pmf, control="crash"),
    Row("dist-shapes", dist_shapes, "scipy.stats._continuous_distns:gamma_gen", _STATE_CHECK, "state", use=_pdf),
    Row("dist-extra-key", dist_extra_key, _NORM, _STATE_CHECK, "state", use=_pdf),
    Row("dist-random-state", dist_random_state, _NORM, _STATE_CHECK, "state", use=_pdf),
    Row("dist-ctor-values", dist_ctor_values, _POISSON, _STATE_CHECK, "state", use=_pmf),
    Row(
        "dist-ctor-shapes",
        dist_ctor_shapes,
        "scipy.stats._continuous_distns:gamma_gen",
        _STATE_CHECK,
        "state",
        use=_pdf,
    ),
    Row("dist-support-text", dist_support_text, _NORM, _STATE_CHECK, "state", use=_pdf),
    Row("dist-tuple-state", dist_tuple_state, _NORM, _STATE_CHECK, "state", use=_pdf),
    Row("frozen-not-a-distribution", frozen_not_a_distribution, _FROZEN, "not one of scipy's rv_continuous", use=_pdf),
    Row(
        "frozen-discrete-of-continuous",
        frozen_discrete_of_continuous,
        _FROZEN_D,
        "not one of scipy's rv_discrete",
        use=_pmf,
    ),
    Row("frozen-text-arguments", frozen_text_arguments, _FROZEN, "arguments are not numbers", use=_pdf),
    Row("frozen-extra-key", frozen_extra_key, _FROZEN, "'pdf' is not in the state_keys", "state", use=_pdf),
    Row("getattr-dunder", getattr_dunder, "builtins:getattr", "does not match", "arguments", use=_pmf),
    Row("getattr-other-method", getattr_other_method, "builtins:getattr", "does not match", "arguments", use=_pmf),
    Row("getattr-on-a-matrix", getattr_on_a_matrix, "builtins:getattr", "does not match", "arguments", use=repr),
    Row("vectorize-function", vectorize_function, _VECTORIZE, "not a scipy distribution's own method", use=_vectorized),
    Row("vectorize-ufunc", vectorize_ufunc, _VECTORIZE, "cached ufunc", use=_vectorized),
]


#: Splines and piecewise polynomials are forged in the form the installed scipy writes:
#: 1.17 pickles their arrays on the object, 1.18 (Python 3.12+) through a NumPy delegate.
DELEGATES = hasattr(_ip()._bsplines, "_BSpline")
_ATTRIBUTE_FORM = {
    "ppoly-coefficients-short",
    "ppoly-not-monotonic",
    "ppoly-asarray",
    "ppoly-axis",
    "bpoly-coefficients-1d",
    "bspline-coefficients-short",
    "bspline-negative-degree",
    "bspline-float-degree",
    "bspline-knots-decreasing",
}


def _other_form(row: Row) -> str | None:
    """Why ``row`` does not run under the installed scipy, if it does not."""
    if DELEGATES and row.id in _ATTRIBUTE_FORM:
        return "scipy 1.18 pickles splines through a NumPy delegate: the delegate-* rows forge that form"
    if not DELEGATES and row.id.startswith("delegate-"):
        return (
            "scipy before 1.18 pickles splines with their arrays on the object: the rows without delegate- forge that"
        )
    return None


_outcomes, test_forged_state_is_refused_naming_the_class, test_control_plain_pickle_really_breaks = row_tests(
    MODULE, skip=_other_form
)


@pytest.mark.skipif(not DELEGATES, reason="scipy before 1.18 keeps no array namespace on its splines")
@pytest.mark.parametrize("attribute", ["_xp", "_xp_internal"])
@pytest.mark.parametrize(("make", "validator"), [(_spline, "scipy_bspline"), (_bpoly, "scipy_ppoly")])
def test_a_delegating_spline_may_hold_only_scipys_numpy_namespace(
    make: Callable[[], Any], validator: str, attribute: str
) -> None:
    """Its ``__setstate__`` derives both namespaces from a checked array, so no pickle
    reaches them and no row can forge another: the validator, which would name the
    class, is shown on a real object instead."""
    from types import SimpleNamespace

    from picklefence._validators import VALIDATORS

    obj = make()
    assert VALIDATORS[validator](obj) is None
    setattr(obj, attribute, SimpleNamespace(asarray=print))
    assert VALIDATORS[validator](obj) == f"its {attribute} is not scipy's numpy namespace"


# -- one verdict: scan and audit agree with the loader ----------------------------------


def _corpus() -> list[Any]:
    from .corpus import scipy as corpus

    return [(artifact, fmt) for artifact in corpus.artifacts() for fmt in artifact.formats]


CORPUS = _corpus()


@pytest.mark.parametrize(("artifact", "fmt"), CORPUS, ids=[f"{a.name}-{f}" for a, f in CORPUS])
def test_scan_agrees_with_the_loader_on_the_scipy_corpus(artifact: Any, fmt: str, tmp_path: Any) -> None:
    """G9: every pickle scan finds in what scipy's objects are written as is safe where
    the loader loads it, and refused where it refuses it."""
    from .corpus import dumped

    path = tmp_path / f"artifact.{fmt}"
    path.write_bytes(dumped(artifact, fmt))
    report = picklefence.scan_path(path, policy=POLICY)
    verdicts = {record["verdict"] for record in report["pickles"]}
    assert not report["errors"] and verdicts, report
    assert verdicts == ({"refused"} if artifact.refused else {"safe"}), report


@pytest.mark.parametrize("row", params([row for row in ROWS if row.capability != "validation"], _other_form))
def test_audit_refuses_or_defers_what_the_loader_refuses(row: Row) -> None:
    """A refusal the loader makes without a validator is one the audit reports: refused,
    or decided at load where only real objects can tell."""
    report = picklefence.audit(row.forge(), policy=POLICY)
    deferred = {(use.name, capability) for use in report.globals for capability in use.at_load}
    assert not report.safe or (row.name, row.capability) in deferred, report


@pytest.mark.parametrize(
    ("artifact", "fmt"), [c for c in CORPUS if c[1] in ("p2", "p5")], ids=lambda v: getattr(v, "name", v)
)
def test_the_pickler_writes_what_pickle_writes_where_the_loader_loads_it(artifact: Any, fmt: str) -> None:
    """The pickler asks the same gate: what it writes under the policy is pickle's own
    bytes, and what the loader refuses it refuses to write."""
    import pickle

    from .corpus import made

    obj, protocol = made(artifact), int(fmt[1])
    if artifact.refused:
        with pytest.raises(picklefence.PicklingError):
            picklefence.dumps(obj, protocol, policy=POLICY)
    else:
        assert picklefence.dumps(obj, protocol, policy=POLICY) == pickle.dumps(obj, protocol)
