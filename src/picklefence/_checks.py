"""Argument checks shipped with picklefence, named from TOML as ``check = "name"``.

They cover calls whose safety depends on *which globals* are passed, which the
declarative ``Arg`` constraints cannot express.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ._rules import Call, Check
from ._validators import merged
from ._validators._sklearn import binary_tree_problem, predictor_problem

# Bases copyreg._reconstructor may instantiate through, with the exact state type
# each accepts (``None`` for ``object``): never an int for bytes/bytearray, which
# would allocate that many bytes.
_RECONSTRUCTOR_BASES: Mapping[type, type] = {
    object: type(None),
    int: int,
    float: float,
    complex: complex,
    str: str,
    bytes: bytes,
    tuple: tuple,
    list: list,
    dict: dict,
    set: set,
    frozenset: frozenset,
}


def copyreg_reconstructor(call: Call) -> bool:
    """``copyreg._reconstructor(cls, base, state)``: protocol 0-1 object creation.

    It runs ``base.__new__(cls, state)``, so ``cls`` must be a class the policy lets be
    constructed, ``base`` one of its builtin bases, and ``state`` of ``base``'s type.
    """
    if len(call.args) != 3 or call.kwargs:
        return False
    cls, base, state = call.args
    if not isinstance(cls, type) or not call.allows(cls, "construct"):
        return False
    if call.global_name(base) is None:
        return False
    try:
        state_type = _RECONSTRUCTOR_BASES.get(base)
    except TypeError:  # an unhashable global
        return False
    return state_type is not None and issubclass(cls, base) and type(state) is state_type


_MAX_INT_BITS = 16_384  # about 4,900 digits: past Python's own int/str conversion limit


def bounded_ints(call: Call) -> bool:
    """Every argument an int of at most 16,384 bits: binary LONG opcodes spell ints of
    any size, and arithmetic on them (a Fraction's gcd) is quadratic in their length."""
    return not call.kwargs and _bounded_int_args(call.args)


def _bounded_int_args(args: tuple[Any, ...]) -> bool:
    return all(type(a) is int and a.bit_length() <= _MAX_INT_BITS for a in args)


# -- numpy ----------------------------------------------------------------------------
# These run only after a numpy global was allowed and resolved, so numpy is imported.

_ARRAY_TYPES = frozenset(
    {"numpy:ndarray", "numpy.ma:MaskedArray", "numpy.ma.core:MaskedArray", "numpy.rec:recarray", "numpy:recarray"}
)
_MAX_DIMS = 64


def _size(shape: object) -> int | None:
    """Elements in an array of ``shape``, or None if it is not a shape."""
    if type(shape) is not tuple or len(shape) > _MAX_DIMS:
        return None
    size = 1
    for dim in shape:
        if type(dim) is not int or dim < 0:
            return None
        size *= dim
    return size


def _dtype(obj: object) -> Any:
    numpy = sys.modules.get("numpy")
    return obj if numpy is not None and isinstance(obj, numpy.dtype) else None


def _data_matches(data: object, size: int, dtype: Any) -> bool:
    """Whether ``data`` holds exactly ``size`` elements of ``dtype``: a list of objects
    for object arrays, else bytes (latin-1 text from Python 2) of the exact length.
    An itemsize of 0 (a ``V0`` dtype) with elements would claim memory from nothing."""
    if dtype.hasobject:
        return type(data) is list and len(data) == size
    if dtype.itemsize == 0:
        return size == 0
    if type(data) not in (bytes, bytearray, str):
        return False
    return bool(len(data) == size * dtype.itemsize)  # type: ignore[arg-type]


def numpy_reconstruct(call: Call) -> bool:
    """``_reconstruct(subtype, (0,), b"b")``: an empty array that BUILD then fills;
    any other shape would allocate it (``(2**30,)`` is a GiB in a millisecond)."""
    if len(call.args) != 3 or call.kwargs:
        return False
    subtype, shape, code = call.args
    return call.global_name(subtype) in _ARRAY_TYPES and type(shape) is tuple and shape == (0,) and code in (b"b", "b")


def _array_state(state: object, call: Call) -> bool:
    """An ndarray's state, whose memory is charged to the load's budget: the bytes of
    a numeric array are in the pickle (but one bytes object can be the data of many
    arrays), while an object array's list can name one object for millions of slots
    (a dtype ``"(10**9,)O"`` makes each element a billion pointers)."""
    if type(state) is not tuple:
        return False
    if len(state) == 5:
        if type(state[0]) is not int:
            return False
        state = state[1:]
    if len(state) != 4:
        return False
    shape, dtype, fortran, data = state
    size = _size(shape)
    dtype = _dtype(dtype)
    if size is None or dtype is None or type(fortran) is not bool or not _data_matches(data, size, dtype):
        return False
    call.spend(size * dtype.itemsize)
    return True


def numpy_ndarray_state(call: Call) -> bool:
    """``ndarray.__setstate__((version, shape, dtype, fortran, data))``: the data must
    hold exactly the elements the shape and dtype claim."""
    return len(call.args) == 2 and _array_state(call.args[1], call)


def numpy_masked_state(call: Call) -> bool:
    """``MaskedArray.__setstate__`` adds a mask (one bool per field per element) and a
    fill value to the ndarray state."""
    if len(call.args) != 2 or type(call.args[1]) is not tuple or len(call.args[1]) != 7:
        return False
    version, shape, dtype, fortran, data, mask, _fill = call.args[1]
    if not _array_state((version, shape, dtype, fortran, data), call):
        return False
    size = _size(shape)
    mask_dtype = sys.modules["numpy"].ma.make_mask_descr(dtype)
    if size is None or not _data_matches(mask, size, mask_dtype):
        return False
    call.spend(size * mask_dtype.itemsize)
    return True


_BYTE_ORDERS = frozenset({"<", ">", "|", "="})
_ALIGNED_STRUCT = 0x80  # numpy's NPY_ALIGNED_STRUCT flag


def numpy_dtype_state(call: Call) -> bool:
    """``dtype.__setstate__``: numpy takes the layout (fields, offsets, sizes, flags) as
    given, so a crafted state makes a dtype that reads and writes outside its items or
    forgets to count the references of its object fields.  The state must be exactly
    the one numpy writes for the dtype built from it through the public constructors,
    which check the layout.  It may not add object fields to a dtype without them
    (``V8`` made ``[("o", "O")]``): arrays made with the dtype before the BUILD would
    read their bytes as pointers, so structured dtypes with object fields are refused —
    whatever ``dtype`` is, so the pickler (which shows the original dtype) refuses what
    the loader (which shows a fresh ``V`` dtype) would refuse."""
    if len(call.args) != 2 or call.kwargs:
        return False
    dtype, state = call.args
    if _dtype(dtype) is None or type(state) is not tuple:
        return False
    try:
        rebuilt = _rebuild_dtype(dtype, state)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError):
        return False
    if rebuilt is None or (rebuilt.hasobject and (rebuilt.kind == "V" or not dtype.hasobject)):
        return False
    reduced = rebuilt.__reduce__()
    if len(reduced) < 3:  # a dtype numpy pickles without state (StringDType): no BUILD
        return False
    return bool(reduced[1] == dtype.__reduce__()[1] and _same(reduced[2], state))


def _rebuild_dtype(dtype: Any, state: tuple[Any, ...]) -> Any:
    """The dtype ``state`` describes for a fresh ``dtype``, built by the public API."""
    numpy = sys.modules["numpy"]
    if len(state) not in (8, 9) or state[1] not in _BYTE_ORDERS or type(state[7]) is not int:
        return None
    _version, order, subarray, names, fields, size, _alignment, flags = state[:8]
    metadata = state[8] if len(state) == 9 else None
    if names is not None:
        if type(names) is not tuple or type(fields) is not dict or type(size) is not int:
            return None
        entries = [fields[name] for name in names]
        if not all(type(e) is tuple and len(e) in (2, 3) and _dtype(e[0]) is not None for e in entries):
            return None
        spec = {
            "names": list(names),
            "formats": [e[0] for e in entries],
            "offsets": [e[1] for e in entries],
            "titles": [e[2] if len(e) == 3 else None for e in entries],
            "itemsize": size,
        }
        built = numpy.dtype(spec, align=bool(flags & _ALIGNED_STRUCT))
    elif subarray is not None:
        if type(subarray) is not tuple or len(subarray) != 2 or _dtype(subarray[0]) is None:
            return None
        built = numpy.dtype(subarray)
    elif dtype.kind in "mM" and type(metadata) is tuple:  # the unit: (metadata, (unit, count, 1, 1))
        if len(metadata) != 2 or type(metadata[1]) is not tuple or len(metadata[1]) != 4:
            return None
        unit, count = metadata[1][:2]
        if type(unit) is not bytes or type(count) is not int:
            return None
        built = numpy.dtype(f"{dtype.char}8[{count if count != 1 else ''}{unit.decode('ascii')}]")
        metadata = metadata[0]
    else:
        built = dtype  # fresh from dtype(code, align, copy): the state numpy writes for it is canonical
    if dtype.type is numpy.record and built is not dtype:  # a record array's dtype
        built = numpy.dtype((numpy.record, built))
    if order in "<>" and built.byteorder != "|":
        built = built.newbyteorder(order)
    if metadata is not None:
        if type(metadata) is not dict:
            return None
        built = numpy.dtype(built, metadata=metadata)
    return built


def _same(left: Any, right: Any) -> bool:
    """Equal and of the same types all the way down (``dtype("f8") == "f8"`` is true)."""
    if type(left) is not type(right):
        return False
    if type(left) is tuple:
        return len(left) == len(right) and all(map(_same, left, right))
    if type(left) is dict:
        return len(left) == len(right) and all(
            _same(key, other) and _same(left[key], right[other]) for key, other in zip(left, right, strict=True)
        )
    if _dtype(left) is not None:
        return bool(left == right) and _same(left.__reduce__()[2], right.__reduce__()[2])
    return bool(left == right)


def numpy_frombuffer(call: Call) -> bool:
    """``_frombuffer(buffer, dtype, shape, order[, axis_order])`` (protocol 5): a view of
    the buffer, whose size must be exactly what shape and dtype claim.  numpy 2.4 writes
    a transposed array as order ``"K"`` with the permutation of its axes."""
    if len(call.args) not in (4, 5) or call.kwargs:
        return False
    buffer, dtype, shape, order = call.args[:4]
    size = _size(shape)
    dtype = _dtype(dtype)
    if size is None or dtype is None or dtype.hasobject:
        return False
    if len(call.args) == 5:
        axes = call.args[4]
        if order != "K" or type(axes) is not tuple or sorted(axes) != list(range(len(shape))):
            return False
    elif order not in ("C", "F"):
        return False
    if type(buffer) in (bytes, bytearray):
        nbytes = len(buffer)
    else:
        try:
            with memoryview(buffer) as view:
                nbytes = view.nbytes
        except TypeError:
            return False
    return bool(nbytes == size * dtype.itemsize)


def numpy_scalar(call: Call) -> bool:
    """``scalar(dtype, data)``: one element, so exactly ``itemsize`` bytes of data."""
    return not call.kwargs and _scalar_args(call.args)


def _scalar_args(args: tuple[Any, ...]) -> bool:
    if len(args) != 2:
        return False
    dtype = _dtype(args[0])
    if dtype is None:
        return False
    return True if dtype.hasobject else _data_matches(args[1], 1, dtype)


# -- Cython and functools ---------------------------------------------------------------

_PYX_UNPICKLE = "__pyx_unpickle_"


def cython_unpickle(call: Call) -> bool:
    """``__pyx_unpickle_<Class>(cls, checksum, state)``: Cython's rebuilder of a class
    without ``__reduce__``.  It runs ``<Class>.__new__(cls)`` and then writes the state
    tuple's items straight into the C fields, so ``cls`` must be the very class
    ``<Class>`` of the helper's own module, one the policy lets be constructed; the
    checksum (of the field layout, which Cython compares itself) an int; a non-empty
    state only for a class the policy lets receive state, whose validator then judges
    the fields (it runs on every instance a load makes)."""
    if len(call.args) != 3 or call.kwargs:
        return False
    cls, checksum, state = call.args
    module, _, helper = call.name.partition(":")
    if not helper.startswith(_PYX_UNPICKLE) or "." in helper:
        return False
    if call.global_name(cls) != f"{module}:{helper[len(_PYX_UNPICKLE) :]}" or not call.allows(cls, "construct"):
        return False
    if type(checksum) is not int or checksum.bit_length() > 64:
        return False
    if state is None or state == ():
        return True
    return type(state) is tuple and call.allows(cls, "state")


def _plain(value: object, call: Call, depth: int = 0) -> bool:
    """Plain data: literals, containers of them, and globals this load let be values."""
    if value is None or type(value) in (bool, int, float, complex, str, bytes):
        return True
    if depth > 8:
        return False
    if type(value) in (tuple, list, set, frozenset):
        return all(_plain(item, call, depth + 1) for item in value)  # type: ignore[attr-defined]
    if type(value) is dict:
        return all(_plain(k, call, depth + 1) and _plain(v, call, depth + 1) for k, v in value.items())
    return call.global_name(value) is not None


def functools_partial(call: Call) -> bool:
    """``partial(func)``: the first half of how a partial pickles; ``func`` a global the
    policy lets be a value (the value-use rule refuses one it may only call), so a
    pure function of the policy's choosing, which the library calls later."""
    return len(call.args) == 1 and not call.kwargs and call.global_name(call.args[0]) is not None


def functools_partial_state(call: Call) -> bool:
    """``partial.__setstate__((func, args, keywords, dict))``: the same ``func`` the
    partial was made with (BUILD never swaps the function for one no check saw), plain
    data for its arguments, no attribute dict."""
    if len(call.args) != 2:
        return False
    partial, state = call.args
    if type(partial) is not functools.partial or type(state) is not tuple or len(state) != 4:
        return False
    func, args, keywords, attributes = state
    if func is not partial.func:
        return False
    if type(args) is not tuple or not (keywords is None or type(keywords) is dict) or attributes not in (None, {}):
        return False
    return _plain(args, call) and (keywords is None or all(type(k) is str for k in keywords)) and _plain(keywords, call)


# -- scikit-learn -------------------------------------------------------------------------


def sklearn_tree_state(call: Call) -> bool:
    """``Tree.__setstate__``: the Cython prediction code follows child indices and reads
    features without bounds checks, so every node must point forward to a node that
    exists (or be a leaf, -1 on both sides) and split on a feature the tree has."""
    if len(call.args) != 2:
        return False
    tree, state = call.args
    numpy = sys.modules.get("numpy")
    if numpy is None or type(state) is not dict:
        return False
    nodes, values, count = state.get("nodes"), state.get("values"), state.get("node_count")
    if type(count) is not int or not isinstance(nodes, numpy.ndarray) or not isinstance(values, numpy.ndarray):
        return False
    if nodes.ndim != 1 or len(nodes) != count or values.shape[:1] != (count,):
        return False
    names = nodes.dtype.names or ()
    if not {"left_child", "right_child", "feature"} <= set(names):
        return False
    n_features = getattr(tree, "n_features", None)
    if type(n_features) is not int:
        return False
    left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
    # A leaf has -1 on both sides; an inner node's children come after it and exist,
    # and its feature is the tree's.  (As few numpy calls as can say it: trees are
    # small and a forest has hundreds.)
    low, high = numpy.minimum(left, right), numpy.maximum(left, right)
    leaf = high == -1
    inner = (low > numpy.arange(count)) & (high < count) & (feature >= 0) & (feature < n_features)
    return int(numpy.count_nonzero(leaf & (low == -1) | inner)) == count


def sklearn_binary_tree_state(call: Call) -> bool:
    """``KDTree``/``BallTree.__setstate__``: the state the tree's validator requires
    (``binary_tree_problem``), checked before BUILD too."""
    return len(call.args) == 2 and binary_tree_problem(call.args[1]) is None


def sklearn_tree_predictor_state(call: Call) -> bool:
    """``TreePredictor`` (histogram gradient boosting): the nodes and bitsets its
    validator requires (``predictor_problem``), checked before BUILD too.  Feature
    indices are checked against the estimator's ``n_features_in_`` by its validator."""
    if len(call.args) != 2 or type(call.args[1]) is not dict:
        return False
    state = call.args[1]
    return predictor_problem(state.get("nodes"), state.get("raw_left_cat_bitsets")) is None


#: Argument positions where a check takes a global it judges itself (a class to build
#: an instance of), which may be one the pickle may only call.
TAKES_GLOBALS: Mapping[str, frozenset[int]] = MappingProxyType(
    {
        "copyreg_reconstructor": frozenset({0, 1}),
        "cython_unpickle": frozenset({0}),
        "numpy_reconstruct": frozenset({0}),
        "numpy_mareconstruct": frozenset({0, 1}),
        "stdlib_array_reconstructor": frozenset({0}),
    }
)

#: Checks that can judge the audit's stand-ins (a symbol for each global, literals);
#: every other check needs the real objects and is decided at load.
JUDGES_SYMBOLS: frozenset[str] = frozenset(
    {"numpy_reconstruct", "numpy_mareconstruct", "bounded_ints", "cython_unpickle"}
)

#: Checks that judge nothing but a call's positional arguments once it has no keyword
#: arguments, as tests of those: a global whose signatures need nothing more gets a call
#: plan (Gate.plain_call), so 100k numpy scalars are not 100k trips through the engine.
POSITIONAL_CHECKS: Mapping[str, Callable[[tuple[Any, ...]], bool]] = MappingProxyType(
    {"bounded_ints": _bounded_int_args, "numpy_scalar": _scalar_args}
)

_SHIPPED: dict[str, Check] = {
    "copyreg_reconstructor": copyreg_reconstructor,
    "bounded_ints": bounded_ints,
    "cython_unpickle": cython_unpickle,
    "functools_partial": functools_partial,
    "functools_partial_state": functools_partial_state,
    "numpy_reconstruct": numpy_reconstruct,
    "numpy_ndarray_state": numpy_ndarray_state,
    "numpy_masked_state": numpy_masked_state,
    "numpy_frombuffer": numpy_frombuffer,
    "numpy_dtype_state": numpy_dtype_state,
    "numpy_scalar": numpy_scalar,
    "sklearn_tree_state": sklearn_tree_state,
    "sklearn_binary_tree_state": sklearn_binary_tree_state,
    "sklearn_tree_predictor_state": sklearn_tree_predictor_state,
}


CHECKS: Mapping[str, Check] = merged("CHECKS", _SHIPPED)
