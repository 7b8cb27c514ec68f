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

The validator of finished tensors and parameters repeats the invariants that must hold
whatever built them (no hooks, a leaf, the view inside its storage).
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .._rules import Call, Check, Validator

_MAX_DIMS = 64

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


def _tensor_args(args: tuple[Any, ...]) -> bool:
    """``_rebuild_tensor(storage, offset, size, stride)`` and ``_rebuild_tensor_v2(...,
    requires_grad, backward_hooks[, metadata])``: a typed storage from the checkpoint and
    a view inside it, no hooks, metadata a dict of flags."""
    torch = sys.modules["torch"]
    if len(args) not in (4, 6, 7):
        return False
    storage, offset = args[0], args[1]
    if not isinstance(storage, torch.storage.TypedStorage) or type(offset) is not int:
        return False
    size, stride = _ints(args[2], torch), _ints(args[3], torch)
    if size is None or stride is None:
        return False
    if not view_fits(offset, size, stride, storage._untyped_storage.nbytes() // storage.element_size()):
        return False
    if len(args) == 4:
        return True
    if type(args[4]) is not bool or not _no_hooks(args[5]):
        return False
    metadata = args[6] if len(args) == 7 else None
    return metadata is None or (
        type(metadata) is dict and all(type(k) is str and type(v) is bool for k, v in metadata.items())
    )


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


def torch_rebuild_parameter(call: Call) -> bool:
    """``_rebuild_parameter``/``_rebuild_parameter_with_state``: see :func:`_parameter_args`."""
    return not call.kwargs and _parameter_args(call.args)


#: What ``_rebuild_from_type_v2`` may call, with the check of its arguments.
_INNER: dict[str, Callable[[tuple[Any, ...]], bool]] = {
    "torch._utils:_rebuild_tensor_v2": _tensor_args,
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
    """A finished ``Tensor``/``Parameter``: dense and strided, a leaf without hooks, its
    view inside its storage."""
    torch = sys.modules["torch"]
    assert isinstance(obj, torch.Tensor)
    if obj.layout is not torch.strided:
        return f"its layout is {obj.layout}, not torch.strided"
    if obj._backward_hooks:
        return "it carries backward hooks"
    if getattr(obj, "_post_accumulate_grad_hooks", None):
        return "it carries post-accumulate-grad hooks"
    if obj.grad_fn is not None:
        return "it is not a leaf tensor"
    size, stride = tuple(obj.shape), obj.stride()
    if any(s < 0 for s in stride):
        return f"it has a negative stride {stride}"
    elements = obj.untyped_storage().nbytes() // obj.element_size()
    if not view_fits(obj.storage_offset(), size, stride, elements):
        return f"its view (offset {obj.storage_offset()}, size {size}, stride {stride}) reaches past its storage"
    return None


VALIDATORS: dict[str, Validator] = {"torch_tensor": torch_tensor}
CHECKS: dict[str, Check] = {
    "torch_rebuild_tensor": torch_rebuild_tensor,
    "torch_rebuild_parameter": torch_rebuild_parameter,
    "torch_rebuild_from_type": torch_rebuild_from_type,
}
