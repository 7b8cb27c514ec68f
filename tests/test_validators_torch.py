"""torch checks and validators (G8), through ``picklefence.torch.load``: a tensor whose
view reaches past its storage (torch would grow the storage: uninitialised memory),
negative or oversized shapes, and backward hooks or tensor properties installed by the
pickle are refused before the call that would make them; finished tensors are validated.

Forged checkpoints are real ``torch.save`` archives whose ``data.pkl`` is replaced by a
pickle written with the same persistent ids; they are loaded in a subprocess.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import zipfile
from collections import OrderedDict
from typing import Any

import pytest

import picklefence
import picklefence.torch
from picklefence._validators import _torch

from .forged import control, outcomes

torch = pytest.importorskip("torch")

from torch._tensor import _rebuild_from_type_v2  # noqa: E402
from torch._utils import (  # noqa: E402
    _rebuild_parameter,
    _rebuild_parameter_with_state,
    _rebuild_tensor,
    _rebuild_tensor_v2,
)

NUMEL = 4  # the checkpoint's one storage: four float32 values


class Storage:
    """The checkpoint's storage, as ``torch.save`` names it in a persistent id."""

    def __init__(self, numel: int = NUMEL) -> None:
        self.numel = numel


class Reduce:
    def __init__(self, *value: Any) -> None:
        self.value = value

    def __reduce__(self) -> Any:
        return self.value


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", obj.numel)
        return None


def checkpoint(obj: Any) -> bytes:
    """A real ``torch.save`` archive of a 4-float tensor, with ``obj`` as its data.pkl."""
    real = io.BytesIO()
    torch.save({"w": torch.arange(float(NUMEL))}, real)
    data = io.BytesIO()
    _Pickler(data, 2).dump(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(real) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, data.getvalue() if info.filename.endswith("/data.pkl") else source.read(info))
    return out.getvalue()


def tensor(offset: int = 0, size: Any = (NUMEL,), stride: Any = (1,), hooks: Any = None, *more: Any) -> Reduce:
    args = (Storage(), offset, size, stride, False, OrderedDict() if hooks is None else hooks, *more)
    return Reduce(_rebuild_tensor_v2, args)


HOOKS = OrderedDict({0: OrderedDict})  # an allowed callable as the hook: backward() would call it


def _from_type(func: Any, cls: Any, args: tuple[Any, ...], state: Any = None) -> Reduce:
    return Reduce(_rebuild_from_type_v2, (func, cls, args, state))


def _plain_args(**changes: Any) -> tuple[Any, ...]:
    return tensor(**changes).value[1]  # type: ignore[no-any-return]


class _BuiltTensor:
    """A tensor rebuilt, then BUILT with ``state`` (``Tensor.__setstate__``)."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def __reduce__(self) -> Any:
        return (_rebuild_tensor_v2, tensor().value[1], self.state)


V2, PARAMETER, FROM_TYPE = (
    "torch._utils:_rebuild_tensor_v2",
    "torch._utils:_rebuild_parameter",
    "torch._tensor:_rebuild_from_type_v2",
)

# id -> (data.pkl object, refused name, capability)
ROWS: dict[str, tuple[Any, str, str]] = {
    "view longer than its storage": (tensor(size=(10,)), V2, "arguments"),
    "offset past the storage's end": (tensor(offset=3, size=(2,)), V2, "arguments"),
    "stride reaches past the storage": (tensor(size=(2, 2), stride=(3, 1)), V2, "arguments"),
    "huge stride on a short view": (tensor(size=(2,), stride=(2**40,)), V2, "arguments"),
    "negative stride": (tensor(size=(2,), stride=(-1,)), V2, "arguments"),
    "negative size": (tensor(size=(-1,)), V2, "arguments"),
    "sizes and strides of different lengths": (tensor(size=(2, 2), stride=(1,)), V2, "arguments"),
    "65 dimensions": (tensor(size=(1,) * 65, stride=(1,) * 65), V2, "arguments"),
    "float size": (tensor(size=(2.0,)), V2, "arguments"),
    "storage that is not a storage": (
        Reduce(_rebuild_tensor_v2, (5, 0, (1,), (1,), False, OrderedDict())),
        V2,
        "arguments",
    ),
    "old rebuild, view past the storage": (
        Reduce(_rebuild_tensor, (Storage(), 0, (9,), (1,))),
        "torch._utils:_rebuild_tensor",
        "arguments",
    ),
    "backward hooks": (tensor(hooks=HOOKS), V2, "arguments"),
    "metadata that is not flags": (tensor(0, (NUMEL,), (1,), None, {"conj": OrderedDict}), V2, "arguments"),
    "hooks inside _rebuild_from_type_v2's args": (
        _from_type(_rebuild_tensor_v2, torch.Tensor, _plain_args(hooks=HOOKS)),
        FROM_TYPE,
        "arguments",
    ),
    "view past the storage inside _rebuild_from_type_v2's args": (
        _from_type(_rebuild_tensor_v2, torch.Tensor, _plain_args(size=(100,))),
        FROM_TYPE,
        "arguments",
    ),
    "hooks set through the state of _rebuild_from_type_v2": (
        _from_type(_rebuild_tensor_v2, torch.Tensor, _plain_args(), {"_backward_hooks": HOOKS}),
        FROM_TYPE,
        "arguments",
    ),
    "tensor property set through state": (
        _from_type(_rebuild_tensor_v2, torch.Tensor, _plain_args(), {"requires_grad": True}),
        FROM_TYPE,
        "arguments",
    ),
    "dunder set through state": (
        _from_type(_rebuild_tensor_v2, torch.Tensor, _plain_args(), {"__torch_function__": OrderedDict}),
        FROM_TYPE,
        "arguments",
    ),
    "hooks in slot state": (
        _from_type(_rebuild_tensor_v2, torch.Tensor, _plain_args(), (None, {"_backward_hooks": HOOKS})),
        FROM_TYPE,
        "arguments",
    ),
    "parameter with backward hooks": (Reduce(_rebuild_parameter, (tensor(), True, HOOKS)), PARAMETER, "arguments"),
    "parameter hooks set through its state": (
        Reduce(_rebuild_parameter_with_state, (tensor(), True, OrderedDict(), {"_backward_hooks": HOOKS})),
        "torch._utils:_rebuild_parameter_with_state",
        "arguments",
    ),
    "parameter hooks inside _rebuild_from_type_v2": (
        _from_type(_rebuild_parameter, torch.nn.Parameter, (tensor(), True, HOOKS)),
        FROM_TYPE,
        "arguments",
    ),
    "tensor BUILT with set_ arguments": (_BuiltTensor((Storage(), 0, (10,), (1,))), "torch:Tensor", "state"),
    "tensor BUILT with hooks": (_BuiltTensor((False, None, HOOKS)), "torch:Tensor", "state"),
}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    return outcomes({key: (checkpoint(obj), "torch checkpoint") for key, (obj, *_rest) in ROWS.items()})


@pytest.mark.parametrize("row", list(ROWS))
def test_forged_tensor_is_refused_naming_the_callee(row: str, results: dict[str, dict[str, Any]]) -> None:
    _obj, name, capability = ROWS[row]
    result = results[row]
    assert result["outcome"] == "refused", result
    assert (result["name"], result["capability"]) == (name, capability), result


def test_control_torch_grows_the_storage_for_a_view_past_it() -> None:
    # torch.load's own storages cannot be resized, so it refuses; picklefence.torch.load
    # makes its storages from the archive's bytes, and those set_ grows instead
    use = (
        "import torch; from torch._utils import _rebuild_tensor_v2; from collections import OrderedDict\n"
        "storage = torch.UntypedStorage.from_buffer(bytes(16), dtype=torch.uint8)\n"
        "typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.float32, _internal=True)\n"
        "t = _rebuild_tensor_v2(typed, 0, (10,), (1,), False, OrderedDict())\n"
        "print(t.untyped_storage().nbytes())"
    )
    done = control(pickle.dumps(None), "pickle", use)
    assert done.stdout.split()[-1:] == ["40"], done  # 16 bytes from the archive, 24 uninitialised


def test_control_torch_keeps_hooks_set_through_state() -> None:
    use = "print(dict(obj._backward_hooks))"
    done = control(checkpoint(ROWS["hooks set through the state of _rebuild_from_type_v2"][0]), "torch checkpoint", use)
    assert "OrderedDict" in done.stdout, done  # backward() would call it


# -- real checkpoints load like torch.load ------------------------------------------------


def _real(obj: Any, use: str = "") -> tuple[Any, Any]:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return picklefence.torch.load(io.BytesIO(buffer.getvalue())), torch.load(
        io.BytesIO(buffer.getvalue()), weights_only=True
    )


@pytest.mark.parametrize(
    "obj",
    [
        torch.arange(12.0).reshape(3, 4),
        torch.arange(12.0).reshape(3, 4).t(),  # strided view
        torch.arange(12.0)[3:7],  # offset view
        torch.zeros(0, 5),
        torch.tensor(2.5),  # 0-d
        torch.arange(6).expand(2, 6),  # a zero stride
        torch.nn.Parameter(torch.ones(3)),
    ],
    ids=["matrix", "transposed", "offset", "empty", "scalar", "expanded", "parameter"],
)
def test_real_tensors_load_identically(obj: Any) -> None:
    ours, theirs = _real(obj)
    assert type(ours) is type(theirs)
    assert (ours.shape, ours.stride(), ours.storage_offset()) == (
        theirs.shape,
        theirs.stride(),
        theirs.storage_offset(),
    )
    assert torch.equal(ours, theirs)


def test_real_parameter_with_attributes_loads_identically() -> None:
    parameter = torch.nn.Parameter(torch.ones(3))
    parameter.note = "kept"  # type: ignore[attr-defined]
    ours, theirs = _real(parameter)
    assert type(ours) is torch.nn.Parameter and ours.note == theirs.note == "kept"


def test_real_model_trains_identically_after_loading() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    ours, theirs = _real(model.state_dict())
    grads = []
    for state in (ours, theirs):
        copy = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
        copy.load_state_dict(state)
        copy(torch.ones(2, 4)).sum().backward()
        grads.append([p.grad for p in copy.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


# -- the validator of finished tensors -----------------------------------------------------


def test_validator_refuses_a_tensor_with_hooks() -> None:
    t = torch.ones(2, requires_grad=True)
    t.register_hook(lambda grad: grad)
    assert _torch.torch_tensor(t) == "it carries backward hooks"


def test_validator_refuses_a_non_leaf() -> None:
    assert _torch.torch_tensor(torch.ones(2, requires_grad=True) * 2) == "it is not a leaf tensor"


def test_validator_refuses_a_sparse_tensor() -> None:
    assert "layout" in str(_torch.torch_tensor(torch.eye(2).to_sparse()))


def test_validator_accepts_real_tensors() -> None:
    assert _torch.torch_tensor(torch.arange(6.0).reshape(2, 3).t()) is None
    assert _torch.torch_tensor(torch.nn.Parameter(torch.ones(1))) is None


@pytest.mark.parametrize(
    ("offset", "size", "stride", "elements", "fits"),
    [
        (0, (4,), (1,), 4, True),
        (0, (5,), (1,), 4, False),
        (3, (1,), (1,), 4, True),
        (4, (0,), (1,), 4, True),  # empty at the end
        (5, (0,), (1,), 4, False),
        (0, (2, 2), (2, 1), 4, True),
        (0, (2, 2), (3, 1), 4, False),
        (0, (3,), (0,), 1, True),  # broadcast
        (0, (), (), 1, True),  # 0-d
        (0, (), (), 0, False),
    ],
)
def test_view_fits(offset: int, size: tuple[int, ...], stride: tuple[int, ...], elements: int, fits: bool) -> None:
    assert _torch.view_fits(offset, size, stride, elements) is fits


class _NewTensor(Reduce):
    """NEWOBJ of ``Tensor`` (pickle checks that the class is the object's)."""

    def __init__(self) -> None:
        super().__init__(copyreg.__newobj__, (torch.Tensor,))

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return torch.Tensor  # type: ignore[no-any-return]


def test_never_built_tensor_is_not_constructible() -> None:
    data = checkpoint(_NewTensor())
    with pytest.raises(picklefence.PolicyViolation) as info:
        picklefence.torch.load(io.BytesIO(data))
    assert info.value.name == "torch:Tensor"
