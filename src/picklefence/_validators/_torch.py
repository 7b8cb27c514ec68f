"""Validators and checks for torch objects (see the package docstring).

What torch's own rebuild functions trust, and so what is checked here:

- ``Tensor.set_(storage, offset, size, stride)`` (inside ``_rebuild_tensor``) does not
  refuse a view that reaches past its storage: it *grows* the storage, so the tensor
  reads uninitialised memory.  The bounds are checked before the call, while the
  storage still has the size the checkpoint gave it.
- ``_rebuild_tensor_v2`` and ``_rebuild_parameter*`` assign their ``backward_hooks``
  argument, and a state dict is applied with ``setattr``: either can install a hook
  (``backward()`` then calls whatever the pickle put there) or overwrite any tensor
  property.  Hooks must be empty; state may only add plain Python attributes.
- ``_rebuild_from_type_v2(func, type, args, state)`` calls ``func(*args)`` itself, so
  the inner call gets exactly the check the same function gets when called directly.

- ``_rebuild_sparse_tensor`` builds COO and compressed tensors with
  ``check_invariants=False`` and leaves their validation to ``torch.load``, which skips it
  unless ``check_sparse_tensor_invariants`` is enabled: forged indices write and read
  outside the values (``coalesce``, ``to_sparse_csr``, a matrix product crash).  torch's
  own validation runs on the parts before the call.
- ``_rebuild_qtensor`` trusts its quantizer parameters; ``_rebuild_tensor_v3`` views the
  checkpoint's bytes as any dtype.
- ``torch.nn`` modules (the opt-in ``torch_modules`` policy) hand their attributes to C++
  as hyper-parameters (an LSTM's ``hidden_size`` sizes the buffers its weights are read
  into), so a module must be what its constructor makes from them.

The validator of finished tensors and parameters repeats the invariants that must hold
whatever built them (no hooks, a leaf, the view inside its storage, valid sparse parts).
"""

from __future__ import annotations

import inspect
import math
import sys
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from .._rules import Call, Check, Validator

_MAX_DIMS = 64
_COMPRESSED_NAMES = ("sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc")

# -- argument checks --------------------------------------------------------------------


def _no_hooks(hooks: Any) -> bool:
    """An empty ``OrderedDict``/``dict``: what ``torch.save`` writes (hooks are never saved)."""
    return type(hooks) in (dict, OrderedDict) and not hooks


def _ints(values: Any, torch: Any) -> tuple[int, ...] | None:
    """A size or stride: at most 64 non-negative ints."""
    if type(values) not in (tuple, torch.Size) or len(values) > _MAX_DIMS:
        return None
    if not all(type(v) is int and v >= 0 for v in values):
        return None
    return tuple(values)


def view_fits(offset: int, size: tuple[int, ...], stride: tuple[int, ...], elements: int) -> bool:
    """Whether the strided view ``(offset, size, stride)`` lies inside a storage of
    ``elements`` elements (sizes and strides non-negative, as torch writes them)."""
    if len(size) != len(stride) or offset < 0:
        return False
    if 0 in size:
        return offset <= elements
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    return last < elements


def _view_args(storage: Any, offset: Any, size: Any, stride: Any, itemsize: int) -> bool:
    """A typed storage from the checkpoint, and a view of ``itemsize``-byte elements
    (non-negative sizes and strides, at most 64 dimensions) inside it."""
    torch = sys.modules["torch"]
    if not isinstance(storage, torch.storage.TypedStorage) or type(offset) is not int:
        return False
    sizes, strides = _ints(size, torch), _ints(stride, torch)
    if sizes is None or strides is None:
        return False
    return view_fits(offset, sizes, strides, storage._untyped_storage.nbytes() // itemsize)


def _flags(metadata: Any) -> bool:
    """Tensor metadata: absent, or a dict of flags (``conj``, ``neg``)."""
    return metadata is None or (
        type(metadata) is dict and all(type(k) is str and type(v) is bool for k, v in metadata.items())
    )


def _tensor_args(args: tuple[Any, ...]) -> bool:
    """``_rebuild_tensor(storage, offset, size, stride)`` and ``_rebuild_tensor_v2(...,
    requires_grad, backward_hooks[, metadata])``: a typed storage from the checkpoint and
    a view inside it, no hooks, metadata a dict of flags."""
    if len(args) not in (4, 6, 7):
        return False
    storage = args[0]
    if not isinstance(storage, sys.modules["torch"].storage.TypedStorage):
        return False
    if not _view_args(args[0], args[1], args[2], args[3], storage.element_size()):
        return False
    if len(args) == 4:
        return True
    return type(args[4]) is bool and _no_hooks(args[5]) and _flags(args[6] if len(args) == 7 else None)


def _quantized(dtype: Any) -> bool:
    torch = sys.modules["torch"]
    return dtype in (torch.qint8, torch.quint8, torch.qint32, torch.quint4x2, torch.quint2x4)


def _tensor_v3_args(args: tuple[Any, ...]) -> bool:
    """``_rebuild_tensor_v3(storage, offset, size, stride, requires_grad, backward_hooks,
    dtype[, metadata])``: the dtypes without a typed storage class (float8, uint16/32/64,
    bits) come as the checkpoint's bytes and a dtype; the view is measured in elements of
    that dtype, and a quantized dtype (its own rebuild function checks its parameters)
    is refused."""
    torch = sys.modules["torch"]
    if len(args) not in (7, 8):
        return False
    dtype = args[6]
    if not isinstance(dtype, torch.dtype) or _quantized(dtype) or dtype.itemsize < 1:
        return False
    if not _view_args(args[0], args[1], args[2], args[3], dtype.itemsize):
        return False
    return type(args[4]) is bool and _no_hooks(args[5]) and _flags(args[7] if len(args) == 8 else None)


def _attributes(state: object) -> bool:
    """State for ``torch._utils._set_obj_state``: ``None``, a dict, or a (dict, slots)
    pair, whose keys may only name plain Python attributes — never a dunder nor anything
    ``Tensor`` or ``Parameter`` defines (``_backward_hooks``, ``data``, ``grad``, ...)."""
    if state is None:
        return True
    parts = state if type(state) is tuple and len(state) == 2 else (state,)
    torch = sys.modules["torch"]
    for part in parts:
        if part is None:
            continue
        if type(part) is not dict:
            return False
        for key in part:
            if type(key) is not str or not key.isidentifier() or key.startswith("__"):
                return False
            if hasattr(torch.Tensor, key) or hasattr(torch.nn.Parameter, key):
                return False
    return True


def _parameter_args(args: tuple[Any, ...]) -> bool:
    """``_rebuild_parameter(tensor, requires_grad, backward_hooks)`` and
    ``_rebuild_parameter_with_state(..., state)``."""
    if len(args) not in (3, 4):
        return False
    tensor, requires_grad, hooks = args[:3]
    if not isinstance(tensor, sys.modules["torch"].Tensor) or type(requires_grad) is not bool:
        return False
    return _no_hooks(hooks) and (len(args) == 3 or _attributes(args[3]))


def torch_rebuild_tensor(call: Call) -> bool:
    """``_rebuild_tensor``/``_rebuild_tensor_v2``: see :func:`_tensor_args`."""
    return not call.kwargs and _tensor_args(call.args)


def torch_rebuild_tensor_v3(call: Call) -> bool:
    """``_rebuild_tensor_v3``: see :func:`_tensor_v3_args`."""
    return not call.kwargs and _tensor_v3_args(call.args)


def torch_rebuild_parameter(call: Call) -> bool:
    """``_rebuild_parameter``/``_rebuild_parameter_with_state``: see :func:`_parameter_args`."""
    return not call.kwargs and _parameter_args(call.args)


#: The range of a zero point of each quantized dtype (as torch's quantize kernels clamp).
_ZERO_POINTS = {"qint8": (-(2**7), 2**7 - 1), "quint8": (0, 2**8 - 1), "qint32": (-(2**31), 2**31 - 1)}


def _scale(value: Any) -> bool:
    """A quantization scale: a finite positive float (a zero scale divides by zero)."""
    return type(value) is float and math.isfinite(value) and value > 0


def _channel_params(values: Any, dtype: Any, length: int) -> list[Any] | None:
    """Per-channel scales or zero points: a list, or a 1-D dense tensor of ``dtype``,
    of ``length`` values; as a list of Python numbers."""
    torch = sys.modules["torch"]
    if isinstance(values, torch.Tensor):
        if type(values) is not torch.Tensor or torch_tensor(values) is not None:
            return None
        if values.dtype != dtype or values.dim() != 1:
            return None
        values = values.tolist()
    if type(values) is not list or len(values) != length:
        return None
    return values


def _quantizer_params(params: Any, dtype: Any, size: tuple[int, ...]) -> bool:
    """``(per_tensor_affine, scale, zero_point)`` or ``(per_channel_affine, scales,
    zero_points, axis)`` (the symmetric and float-qparams schemes are not read): scales
    finite and positive, integer zero points inside the dtype's range, one scale and zero
    point per channel of an axis the tensor has (torch's per-channel kernels index them
    by channel)."""
    torch = sys.modules["torch"]
    if type(params) is not tuple or not params:
        return False
    low, high = _ZERO_POINTS[str(dtype).removeprefix("torch.")]
    scheme = params[0]
    if scheme is torch.per_tensor_affine and len(params) == 3:
        _, scale, zero_point = params
        return _scale(scale) and type(zero_point) is int and low <= zero_point <= high
    if scheme is torch.per_channel_affine and len(params) == 4:
        _, scales, zero_points, axis = params
        if type(axis) is not int or not 0 <= axis < len(size):
            return False
        scale_list = _channel_params(scales, torch.float64, size[axis])
        point_list = _channel_params(zero_points, torch.int64, size[axis])
        if scale_list is None or point_list is None:
            return False
        return all(_scale(v) for v in scale_list) and all(type(v) is int and low <= v <= high for v in point_list)
    return False


def _qtensor_args(args: tuple[Any, ...]) -> bool:
    """``_rebuild_qtensor(storage, offset, size, stride, quantizer_params, requires_grad,
    backward_hooks)``: a storage of 8- or 32-bit quantized elements (the packed 4- and
    2-bit dtypes are not read), a view inside it, valid quantizer parameters, no hooks."""
    torch = sys.modules["torch"]
    if len(args) != 7:
        return False
    storage, _offset, size, _stride, params, requires_grad, hooks = args
    if not isinstance(storage, torch.storage.TypedStorage):
        return False
    if str(storage.dtype).removeprefix("torch.") not in _ZERO_POINTS:
        return False
    if not _view_args(args[0], args[1], args[2], args[3], storage.element_size()):
        return False
    return _quantizer_params(params, storage.dtype, tuple(size)) and type(requires_grad) is bool and _no_hooks(hooks)


def torch_rebuild_qtensor(call: Call) -> bool:
    """``_rebuild_qtensor``: see :func:`_qtensor_args`."""
    return not call.kwargs and _qtensor_args(call.args)


def _dense(value: Any) -> bool:
    """A plain dense tensor, valid as :func:`torch_tensor` says (a sparse tensor's parts)."""
    torch = sys.modules["torch"]
    return type(value) is torch.Tensor and not value.is_quantized and torch_tensor(value) is None


def _sparse_problem(layout: Any, parts: tuple[Any, ...], size: Any, coalesced: Any) -> str | None:
    """torch's own validation of a sparse tensor's parts (``torch.load`` runs it only when
    ``check_sparse_tensor_invariants`` is enabled, which it is not by default): indices
    inside the size, compressed indices monotone and ending at the number of values, a
    coalesced flag only on coalesced indices.  ``None`` when the parts are valid."""
    torch = sys.modules["torch"]
    if not all(_dense(part) for part in parts):
        return "its indices and values are not plain dense tensors"
    if _ints(size, torch) is None:
        return f"its size {size!r} is not a size"
    try:
        if layout is torch.sparse_coo:
            if coalesced is not None and type(coalesced) is not bool:
                return f"its coalesced flag is {coalesced!r}"
            torch._validate_sparse_coo_tensor_args(*parts, size, coalesced, check_pinning=False)
        else:
            torch._validate_sparse_compressed_tensor_args(*parts, size, layout, check_pinning=False)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return f"torch's sparse validation refuses it: {str(exc).splitlines()[0]}"
    return None


def _compressed(torch: Any) -> tuple[Any, ...]:
    return tuple(getattr(torch, name) for name in _COMPRESSED_NAMES)


def _sparse_args(args: tuple[Any, ...]) -> bool:
    """``_rebuild_sparse_tensor(layout, data)``: torch builds the tensor without checking
    its invariants, so the parts are validated before the call (see :func:`_sparse_problem`):
    COO ``(indices, values, size[, is_coalesced])``; CSR, CSC, BSR and BSC
    ``(compressed_indices, plain_indices, values, size)``."""
    torch = sys.modules["torch"]
    if len(args) != 2 or type(args[1]) is not tuple:
        return False
    layout, data = args
    if layout is torch.sparse_coo and len(data) in (3, 4):
        coalesced = data[3] if len(data) == 4 else None
        return _sparse_problem(layout, data[:2], data[2], coalesced) is None
    if layout in _compressed(torch) and len(data) == 4:
        return _sparse_problem(layout, data[:3], data[3], None) is None
    return False


def torch_rebuild_sparse(call: Call) -> bool:
    """``_rebuild_sparse_tensor``: see :func:`_sparse_args`."""
    return not call.kwargs and _sparse_args(call.args)


#: What ``_rebuild_from_type_v2`` may call, with the check of its arguments.
_INNER: dict[str, Callable[[tuple[Any, ...]], bool]] = {
    "torch._utils:_rebuild_tensor_v2": _tensor_args,
    "torch._utils:_rebuild_tensor_v3": _tensor_v3_args,
    "torch._utils:_rebuild_parameter": _parameter_args,
    "torch._utils:_rebuild_parameter_with_state": _parameter_args,
}


def torch_rebuild_from_type(call: Call) -> bool:
    """``_rebuild_from_type_v2(func, type, args, state)`` runs ``func(*args)`` outside
    the engine: ``args`` must pass the check ``func`` gets when the pickle calls it."""
    if len(call.args) != 4 or call.kwargs:
        return False
    func, cls, args, state = call.args
    inner = _INNER.get(call.global_name(func) or "")
    if inner is None or type(args) is not tuple or not inner(args):
        return False
    return call.global_name(cls) in ("torch:Tensor", "torch.nn.parameter:Parameter") and _attributes(state)


# -- validators ------------------------------------------------------------------------


def torch_tensor(obj: object) -> str | None:
    """A finished ``Tensor``/``Parameter``: a leaf without hooks; dense and strided with
    its view inside its storage (and, quantized, valid quantizer parameters), or sparse
    with parts that pass torch's own sparse validation."""
    torch = sys.modules["torch"]
    assert isinstance(obj, torch.Tensor)
    if obj._backward_hooks:
        return "it carries backward hooks"
    if getattr(obj, "_post_accumulate_grad_hooks", None):
        return "it carries post-accumulate-grad hooks"
    if obj.grad_fn is not None:
        return "it is not a leaf tensor"
    if obj.layout is torch.sparse_coo:
        return _sparse_problem(obj.layout, (obj._indices(), obj._values()), obj.size(), obj.is_coalesced())
    if obj.layout in _compressed(torch):
        row_wise = obj.layout in (torch.sparse_csr, torch.sparse_bsr)
        compressed = obj.crow_indices() if row_wise else obj.ccol_indices()
        plain = obj.col_indices() if row_wise else obj.row_indices()
        return _sparse_problem(obj.layout, (compressed, plain, obj.values()), obj.size(), None)
    if obj.layout is not torch.strided:
        return f"its layout is {obj.layout}, not strided or sparse"
    size, stride = tuple(obj.shape), obj.stride()
    if any(s < 0 for s in stride):
        return f"it has a negative stride {stride}"
    elements = obj.untyped_storage().nbytes() // obj.element_size()
    if not view_fits(obj.storage_offset(), size, stride, elements):
        return f"its view (offset {obj.storage_offset()}, size {size}, stride {stride}) reaches past its storage"
    if obj.is_quantized:
        return _quantized_problem(obj)
    return None


def _quantized_problem(obj: Any) -> str | None:
    """The quantizer a finished quantized tensor carries, as :func:`_quantizer_params`."""
    torch = sys.modules["torch"]
    scheme = obj.qscheme()
    if scheme is torch.per_tensor_affine:
        params: tuple[Any, ...] = (scheme, obj.q_scale(), obj.q_zero_point())
    elif scheme is torch.per_channel_affine:
        axis = obj.q_per_channel_axis()
        params = (scheme, obj.q_per_channel_scales().tolist(), obj.q_per_channel_zero_points().tolist(), axis)
    else:
        return f"its quantization scheme is {scheme}"
    if str(obj.dtype).removeprefix("torch.") not in _ZERO_POINTS:
        return f"its quantized dtype is {obj.dtype}"
    if not _quantizer_params(params, obj.dtype, tuple(obj.shape)):
        return "its quantizer parameters are not finite positive scales and zero points of its dtype"
    return None


# -- modules (the opt-in torch_modules policy) -------------------------------------------

#: what Module.__init__ and __setstate__ give every module; all the rest is its own
_HOOKS = (
    "_backward_hooks",
    "_backward_pre_hooks",
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)
_TABLES = ("_parameters", "_buffers", "_modules")
_INTERNALS = frozenset(
    (*_HOOKS, *_TABLES, "_non_persistent_buffers_set", "_is_full_backward_hook", "training", "_flat_weight_refs")
)
#: modules built from other modules, not from hyper-parameters: checked by their parts
_COMPOSITE = frozenset(
    {
        "Sequential",
        "ModuleList",
        "ModuleDict",
        "TransformerEncoderLayer",
        "TransformerDecoderLayer",
        "TransformerEncoder",
        "TransformerDecoder",
    }
)


def torch_module(obj: object) -> str | None:
    """A ``torch.nn`` module: no hooks of any kind, parameters, buffers and submodules of
    their types, no attribute that hides a method or property of its class (``forward``),
    and — for a module made from hyper-parameters — exactly the parameters, buffers and
    attributes its own constructor makes from them (compared with one built on the meta
    device): an LSTM whose ``hidden_size`` exceeds its weights reads past them in C++."""
    torch = sys.modules["torch"]
    state = vars(obj)
    for name in _HOOKS:
        hooks = state.get(name)
        if type(hooks) not in (dict, OrderedDict) or hooks:
            return f"its {name} is not empty"
    if state.get("_is_full_backward_hook") not in (None, False, True):
        return "its _is_full_backward_hook is not a flag"
    kinds = {"_parameters": torch.nn.Parameter, "_buffers": torch.Tensor, "_modules": torch.nn.Module}
    for table, kind in kinds.items():
        entries = state.get(table)
        if not isinstance(entries, dict) or type(entries) not in (dict, OrderedDict):
            return f"its {table} is not a dict"
        if not all(type(k) is str and (v is None or isinstance(v, kind)) for k, v in entries.items()):
            return f"its {table} holds something that is not a {kind.__name__}"
    persistent = state.get("_non_persistent_buffers_set")
    if type(persistent) is not set or not all(type(k) is str for k in persistent):
        return "its _non_persistent_buffers_set is not a set of names"
    if type(state.get("training")) is not bool:
        return "its training flag is not a bool"
    for key in state:
        if key not in _INTERNALS and hasattr(type(obj), key):
            return f"its attribute {key!r} hides its class's own {key!r}"
    if type(obj).__name__ in _COMPOSITE:
        return _transformer_problem(obj) if type(obj).__name__.startswith("Transformer") else None
    return _rebuild_problem(obj, torch)


def _constructor_kwargs(obj: Any, torch: Any) -> dict[str, Any]:
    """The hyper-parameters the module's constructor takes, read back from the module."""
    state = vars(obj)
    parameters = state["_parameters"]
    kwargs: dict[str, Any] = {}
    signature: Mapping[str, inspect.Parameter] = inspect.signature(type(obj).__init__).parameters
    if isinstance(obj, torch.nn.RNNBase):  # RNN, LSTM, GRU take RNNBase's (*args, **kwargs)
        skip = {"mode"} if isinstance(obj, torch.nn.LSTM) else {"mode", "proj_size"}
        signature = {k: v for k, v in inspect.signature(torch.nn.RNNBase.__init__).parameters.items() if k not in skip}
        if isinstance(obj, torch.nn.RNN):
            kwargs["nonlinearity"] = state.get("nonlinearity")
    for name, param in signature.items():
        if name in ("self", "device", "dtype") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in state:
            kwargs[name] = state[name]
        elif name == "bias":
            key = "in_proj_bias" if isinstance(obj, torch.nn.MultiheadAttention) else "bias"
            kwargs[name] = parameters.get(key) is not None
        elif name == "add_bias_kv":
            kwargs[name] = parameters.get("bias_k", state.get("bias_k")) is not None
        elif param.default is param.empty:
            raise ValueError(f"its hyper-parameter {name!r} is missing")
    return kwargs


def _rebuild_problem(obj: Any, torch: Any) -> str | None:
    cls = type(obj)
    try:
        kwargs = _constructor_kwargs(obj, torch)
        takes_device = isinstance(obj, torch.nn.RNNBase) or "device" in inspect.signature(cls.__init__).parameters
        reference = cls(**kwargs, device="meta") if takes_device else cls(**kwargs)
    except Exception as exc:  # forged hyper-parameters its constructor refuses
        return f"its constructor refuses its hyper-parameters: {type(exc).__name__}: {exc}"
    mine, theirs = vars(obj), vars(reference)
    for table in ("_parameters", "_buffers"):
        if list(mine[table]) != list(theirs[table]):
            return f"its {table} are {list(mine[table])}, its constructor makes {list(theirs[table])}"
        for name, tensor in mine[table].items():
            expected = theirs[table][name]
            if (tensor is None) != (expected is None) or (tensor is not None and tensor.shape != expected.shape):
                return f"its {name} is not the shape its hyper-parameters make"
    if list(mine["_modules"]) != list(theirs["_modules"]):
        return f"its submodules are {list(mine['_modules'])}, its constructor makes {list(theirs['_modules'])}"
    for name, child in mine["_modules"].items():
        if type(child) is not type(theirs["_modules"][name]):
            return f"its submodule {name!r} is a {type(child).__name__}"
    if mine["_non_persistent_buffers_set"] != theirs["_non_persistent_buffers_set"]:
        return "its non-persistent buffers are not its constructor's"
    for key in set(mine) | set(theirs):
        if key in _INTERNALS or key == "_flat_weights":
            continue
        if key not in mine or key not in theirs or type(mine[key]) is not type(theirs[key]) or mine[key] != theirs[key]:
            return f"its attribute {key!r} is not what its hyper-parameters make"
    if "_flat_weights" in theirs:  # RNNs hand these to C++ as the weights of every layer
        flat = mine.get("_flat_weights")
        names = mine["_flat_weights_names"]
        if type(flat) is not list or len(flat) != len(names):
            return "its flat weights are not one per weight name"
        if not all(w is mine["_parameters"][n] for w, n in zip(flat, names, strict=True)):
            return "its flat weights are not its parameters"
    return None


#: (submodule, attribute) pairs of a transformer layer that must be the model width
_WIDTH = (("linear1", "in_features"), ("linear2", "out_features"))


def _transformer_problem(obj: Any) -> str | None:
    """A transformer layer's parts agree on the model width and feed-forward width (its
    fused C++ fast path takes them from different submodules), and its activation flag is
    its activation's."""
    torch = sys.modules["torch"]
    parts = vars(obj)["_modules"]
    if type(obj).__name__ in ("TransformerEncoder", "TransformerDecoder"):
        layers = parts.get("layers")
        if not isinstance(layers, torch.nn.ModuleList) or vars(obj).get("num_layers") != len(layers):
            return "its num_layers is not its number of layers"
        return None
    try:
        width = parts["self_attn"].embed_dim
        widths = [getattr(parts[m], a) for m, a in _WIDTH]
        widths += [parts[n].normalized_shape for n in parts if n.startswith("norm")]
        if "multihead_attn" in parts:
            widths.append(parts["multihead_attn"].embed_dim)
        hidden = (parts["linear1"].out_features, parts["linear2"].in_features)
    except (KeyError, AttributeError) as exc:
        return f"it lacks a part: {exc}"
    if any(w not in (width, (width,)) for w in widths) or hidden[0] != hidden[1]:
        return "its parts do not agree on the model and feed-forward widths"
    activation = vars(obj).get("activation")
    functional = torch.nn.functional
    flag = 1 if activation is functional.relu else 2 if activation is functional.gelu else 0
    if "activation_relu_or_gelu" in vars(obj) and vars(obj)["activation_relu_or_gelu"] != flag:
        return "its activation flag is not its activation's"
    if not (isinstance(activation, torch.nn.Module) or flag):
        return "its activation is neither a module nor relu or gelu"
    return None


VALIDATORS: dict[str, Validator] = {"torch_tensor": torch_tensor, "torch_module": torch_module}
CHECKS: dict[str, Check] = {
    "torch_rebuild_tensor": torch_rebuild_tensor,
    "torch_rebuild_parameter": torch_rebuild_parameter,
    "torch_rebuild_from_type": torch_rebuild_from_type,
    "torch_rebuild_tensor_v3": torch_rebuild_tensor_v3,
    "torch_rebuild_qtensor": torch_rebuild_qtensor,
    "torch_rebuild_sparse": torch_rebuild_sparse,
}
