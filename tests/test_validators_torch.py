"""torch checks and validators (G8), through ``picklefence.torch.load``: a tensor whose
view reaches past its storage (torch would grow the storage: uninitialised memory),
negative or oversized shapes, and backward hooks or tensor properties installed by the
pickle are refused before the call that would make them; finished tensors are validated.

Forged checkpoints are real ``torch.save`` archives whose ``data.pkl`` is replaced by a
pickle written with the same persistent ids; they are loaded in a subprocess.
"""

from __future__ import annotations

import copyreg
import importlib.util
import io
import pickle
import tempfile
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

import picklefence
import picklefence.torch
from picklefence._validators import _torch

from ._state_rows import Forged, Row, row_tests, run_script

torch = pytest.importorskip("torch")

from torch._tensor import _rebuild_from_type_v2  # noqa: E402
from torch._utils import (  # noqa: E402
    _rebuild_parameter,
    _rebuild_parameter_with_state,
    _rebuild_sparse_tensor,
    _rebuild_tensor,
    _rebuild_tensor_v2,
)

MODULE = __name__  # the row children import it
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
ARGUMENT_ROWS: dict[str, tuple[Any, str, str]] = {
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


def _load_under_torch(data: bytes) -> Any:
    """The argument rows' load: ``picklefence.torch.load`` under its own policy, torch."""
    return picklefence.torch.load(io.BytesIO(data))


#: ARGUMENT_ROWS as the runner takes them (the refusal's words are not asserted).
ARGUMENT_TABLE = [
    Row(key, partial(checkpoint, obj), name, "", capability, load=_load_under_torch)
    for key, (obj, name, capability) in ARGUMENT_ROWS.items()
]


_argument_outcomes, test_forged_tensor_is_refused_naming_the_callee, _ = row_tests(MODULE, "ARGUMENT_TABLE")


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
    done = run_script(use)
    assert done.stdout.split()[-1:] == ["40"], done  # 16 bytes from the archive, 24 uninitialised


def test_control_torch_keeps_hooks_set_through_state() -> None:
    done = run_script(
        f"from {MODULE} import ARGUMENT_ROWS, CONTROL_LOAD, checkpoint\n"
        "obj = CONTROL_LOAD(checkpoint(ARGUMENT_ROWS['hooks set through the state of _rebuild_from_type_v2'][0]))\n"
        "print(dict(obj._backward_hooks))"
    )
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


def test_validator_refuses_a_sparse_tensor_with_forged_indices() -> None:
    forged = torch.sparse_coo_tensor([[0, 5]], [1.0, 2.0], (2,), check_invariants=False)
    assert "sparse validation" in str(_torch.torch_tensor(forged))
    csr = torch.sparse_csr_tensor([0, 1, 2], [0, 9], [1.0, 2.0], (2, 2), check_invariants=False)
    assert "sparse validation" in str(_torch.torch_tensor(csr))


def test_validator_accepts_valid_sparse_tensors() -> None:
    assert _torch.torch_tensor(torch.eye(2).to_sparse()) is None
    assert _torch.torch_tensor(torch.eye(4).to_sparse_bsc((2, 2))) is None


def test_validator_refuses_other_layouts() -> None:
    nested = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)], layout=torch.jagged)
    assert _torch.torch_tensor(nested) is not None


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


# -- hostile state of the newer tensor kinds, modules and configs (tests/_state_rows.py) ----
# Each row is a real torch.save archive of a real object whose state, or whose rebuild
# arguments (as torch's own reducer gives them), were edited; loaded in a child process
# under torch_modules (the torch policy and more), then used.

POLICY = "torch_modules"


def LOAD(data: bytes) -> Any:  # the runner's hook
    return picklefence.torch.load(io.BytesIO(data), policy=POLICY)


def CONTROL_LOAD(data: bytes) -> Any:  # the runner's hook
    return torch.load(io.BytesIO(data), weights_only=False)


def _saved(obj: Any) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(obj, buffer)
    return buffer.getvalue()


def _rebuilt(make: Callable[[], Any], edit: Callable[[list[Any]], Any]) -> Callable[[], bytes]:
    """A real tensor saved through its own reducer, with the rebuild arguments edited."""

    def forge() -> bytes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            func, args = make()._reduce_ex_internal(2)
        args = list(args)
        edit(args)
        return _saved(Forged(func, tuple(args)))

    return forge


def _set(index: int, value: Any) -> Callable[[list[Any]], None]:
    return lambda args: args.__setitem__(index, value)


def _coo(
    indices: list[list[int]], size: tuple[int, ...] = (2, 2), coalesced: bool | None = None
) -> Callable[[], bytes]:
    def forge() -> bytes:
        values = torch.ones(len(indices[0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forged = torch.sparse_coo_tensor(torch.tensor(indices), values, size, check_invariants=False)
        data = (forged._indices(), forged._values(), forged.size(), coalesced if coalesced is not None else False)
        return _saved(Forged(_rebuild_sparse_tensor, (torch.sparse_coo, data)))

    return forge


def _compressed(layout: Any, compressed: list[int], plain: list[int], blocks: bool = False) -> Callable[[], bytes]:
    def forge() -> bytes:
        values = torch.ones(len(plain), 1, 1) if blocks else torch.ones(len(plain))
        data = (torch.tensor(compressed), torch.tensor(plain), values, torch.Size((2, 2)))
        return _saved(Forged(_rebuild_sparse_tensor, (layout, data)))

    return forge


def _quantized() -> Any:
    return torch.quantize_per_tensor(torch.linspace(0, 1, 4), 0.1, 2, torch.quint8)


def _per_channel() -> Any:
    scales = torch.tensor([0.1, 0.2], dtype=torch.float64)
    return torch.quantize_per_channel(torch.ones(2, 3), scales, torch.tensor([0, 1]), 0, torch.qint8)


def _module_edited(make: Callable[[], Any], edit: Callable[[Any], None]) -> Callable[[], bytes]:
    def forge() -> bytes:
        torch.manual_seed(0)
        module = make()
        edit(module)
        return _saved(module)

    return forge


def _config_edited(edit: Callable[[Any], None]) -> Callable[[], bytes]:
    def forge() -> bytes:
        from omegaconf import OmegaConf

        cfg = OmegaConf.create({"a": {"b": 1}, "c": [1, 2]})
        edit(cfg)
        return _saved({"hparams": cfg})

    return forge


class UserModule(torch.nn.Module):
    """Any module class of the user's own: its forward is code the policy never saw."""

    def forward(self, x: Any) -> Any:
        return x


def _lstm_forward(obj: Any) -> object:
    return obj(torch.randn(2, 1, 3))


def _transformer_forward(obj: Any) -> object:
    with torch.no_grad():
        return obj.eval()(torch.randn(2, 3, 8))


def _coalesce(obj: Any) -> object:
    return obj.coalesce().to_dense()


def _matmul(obj: Any) -> object:
    return obj @ torch.ones(2, 3)


def _resolve(obj: Any) -> object:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(obj["hparams"], resolve=True)


SPARSE, QTENSOR, V3 = (
    "torch._utils:_rebuild_sparse_tensor",
    "torch._utils:_rebuild_qtensor",
    "torch._utils:_rebuild_tensor_v3",
)
LSTM, DICT_CONFIG = "torch.nn.modules.rnn:LSTM", "omegaconf.dictconfig:DictConfig"
_ARGS = "arguments"
_FLOAT8 = lambda: torch.zeros(4, dtype=torch.float8_e4m3fn)  # noqa: E731

ROWS = [
    Row("COO index past its size", _coo([[0, 10**8], [0, 1]]), SPARSE, "", _ARGS, _coalesce, "crash"),
    Row("COO negative index", _coo([[0, -(10**8)], [0, 1]]), SPARSE, "", _ARGS, _coalesce, "crash"),
    Row("COO claims coalesced with duplicates", _coo([[1, 1], [0, 0]], coalesced=True), SPARSE, "", _ARGS, _coalesce),
    Row(
        "COO with float indices",
        _rebuilt(lambda: torch.eye(2).to_sparse(), lambda a: a.__setitem__(1, (a[1][0].double(), *a[1][1:]))),
        SPARSE,
        "",
        _ARGS,
        _coalesce,
    ),
    Row(
        "CSR column past its width",
        _compressed(torch.sparse_csr, [0, 1, 2], [0, 10**8]),
        SPARSE,
        "",
        _ARGS,
        _matmul,
        "crash",
    ),
    Row(
        "CSR rows ending past the values",
        _compressed(torch.sparse_csr, [0, 1, 10**8], [0, 1]),
        SPARSE,
        "",
        _ARGS,
        _matmul,
        "crash",
    ),
    Row("CSR rows going backwards", _compressed(torch.sparse_csr, [0, 2, 1], [0, 1]), SPARSE, "", _ARGS, _matmul),
    Row("CSC row past its height", _compressed(torch.sparse_csc, [0, 1, 2], [10**6, 0]), SPARSE, "", _ARGS, repr),
    Row(
        "BSR block column past its width",
        _compressed(torch.sparse_bsr, [0, 1, 2], [0, 7], True),
        SPARSE,
        "",
        _ARGS,
        repr,
    ),
    Row(
        "quantized view past its storage",
        _rebuilt(_quantized, _set(2, (100,))),
        QTENSOR,
        "",
        _ARGS,
        lambda q: q.dequantize(),
    ),
    Row("quantized zero scale", _rebuilt(_quantized, _set(4, (torch.per_tensor_affine, 0.0, 2))), QTENSOR, "", _ARGS),
    Row(
        "quantized NaN scale",
        _rebuilt(_quantized, _set(4, (torch.per_tensor_affine, float("nan"), 2))),
        QTENSOR,
        "",
        _ARGS,
    ),
    Row(
        "quantized zero point outside quint8",
        _rebuilt(_quantized, _set(4, (torch.per_tensor_affine, 0.1, 999))),
        QTENSOR,
        "",
        _ARGS,
    ),
    Row(
        "per-channel axis past the dimensions",
        _rebuilt(_per_channel, lambda a: a.__setitem__(4, (*a[4][:3], 5))),
        QTENSOR,
        "",
        _ARGS,
    ),
    Row(
        "per-channel scales for fewer channels",
        _rebuilt(_per_channel, lambda a: a.__setitem__(4, (a[4][0], a[4][1][:1], a[4][2][:1], 0))),
        QTENSOR,
        "",
        _ARGS,
    ),
    Row(
        "per-channel negative scale",
        _rebuilt(_per_channel, lambda a: a.__setitem__(4, (a[4][0], -a[4][1], a[4][2], 0))),
        QTENSOR,
        "",
        _ARGS,
    ),
    Row("float8 view past its bytes", _rebuilt(_FLOAT8, _set(2, (64,))), V3, "", _ARGS, lambda t: t.float().sum()),
    Row("v3 with a quantized dtype", _rebuilt(_FLOAT8, _set(6, torch.quint8)), V3, "", _ARGS),
    Row("v3 with backward hooks", _rebuilt(_FLOAT8, _set(5, HOOKS)), V3, "", _ARGS),
    Row(
        "LSTM hidden size past its weights",
        _module_edited(lambda: torch.nn.LSTM(3, 4), lambda m: setattr(m, "hidden_size", 4096)),
        LSTM,
        "weight_ih_l0",
        use=_lstm_forward,
        control="crash",
    ),
    Row(
        "LSTM with one layer's weights claiming three",
        _module_edited(lambda: torch.nn.LSTM(3, 4), lambda m: setattr(m, "num_layers", 3)),
        LSTM,
        "_parameters",
        use=_lstm_forward,
    ),
    Row(
        "LSTM flat weights that are not its parameters",
        _module_edited(lambda: torch.nn.LSTM(3, 4), lambda m: m._flat_weights.reverse()),
        LSTM,
        "flat weights",
        use=_lstm_forward,
    ),
    Row(
        "forward hook",
        _module_edited(
            lambda: torch.nn.Linear(3, 1), lambda m: m._forward_hooks.__setitem__(0, torch.nn.functional.relu)
        ),
        "torch.nn.modules.linear:Linear",
        "_forward_hooks",
    ),
    Row(
        "state dict hook",
        _module_edited(
            lambda: torch.nn.Linear(3, 1), lambda m: m._state_dict_hooks.__setitem__(0, torch.nn.functional.relu)
        ),
        "torch.nn.modules.linear:Linear",
        "_state_dict_hooks",
    ),
    Row(
        "forward replaced by an attribute",
        _module_edited(
            lambda: torch.nn.Linear(3, 1), lambda m: m.__dict__.__setitem__("forward", torch.nn.functional.relu)
        ),
        "torch.nn.modules.linear:Linear",
        "hides",
    ),
    Row(
        "linear weight of another shape",
        _module_edited(lambda: torch.nn.Linear(3, 1), lambda m: setattr(m, "in_features", 30)),
        "torch.nn.modules.linear:Linear",
        "weight",
    ),
    Row(
        "transformer layer of two widths",
        _module_edited(
            lambda: torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
            lambda m: setattr(m, "linear1", torch.nn.Linear(4, 16)),
        ),
        "torch.nn.modules.transformer:TransformerEncoderLayer",
        "widths",
        use=_transformer_forward,
    ),
    Row(
        "attention heads that do not divide the width",
        _module_edited(lambda: torch.nn.MultiheadAttention(8, 2), lambda m: setattr(m, "num_heads", 3)),
        "torch.nn.modules.activation:MultiheadAttention",
        "constructor",
    ),
    Row("user module class", lambda: _saved(UserModule()), f"{__name__}:UserModule", "not allowed", "reference"),
]

if importlib.util.find_spec("omegaconf") is not None:
    ROWS += [
        Row(
            "config object type the pickle chose",
            _config_edited(lambda c: setattr(c._metadata, "object_type", OrderedDict)),
            DICT_CONFIG,
            "object type",
            use=_resolve,
        ),
        Row(
            "config element type the pickle chose",
            _config_edited(lambda c: setattr(c._metadata, "element_type", OrderedDict)),
            DICT_CONFIG,
            "plain value type",
            use=_resolve,
        ),
        Row(
            "config flags that are not flags",
            _config_edited(lambda c: c._metadata.flags.__setitem__("readonly", [1])),
            DICT_CONFIG,
            "flags",
            use=_resolve,
        ),
        Row(
            "config parents in a cycle",
            _config_edited(lambda c: c.__dict__.__setitem__("_parent", c._get_node("a"))),
            DICT_CONFIG,
            "cycle",
        ),
        Row(
            "config child that is not a node",
            _config_edited(lambda c: c.__dict__["_content"].__setitem__("x", 5)),
            DICT_CONFIG,
            "not a config node",
            use=_resolve,
        ),
    ]

if importlib.util.find_spec("transformers") is not None and importlib.util.find_spec("accelerate") is not None:

    def _partial_state() -> bytes:
        """The PartialState a real TrainingArguments holds (set up by its own __post_init__)."""
        from transformers import TrainingArguments

        with tempfile.TemporaryDirectory() as root:
            return _saved(TrainingArguments(output_dir=root, report_to=[]).distributed_state)

    ROWS.append(
        Row(
            "accelerate's process-wide PartialState",
            _partial_state,
            "accelerate.state:PartialState",
            "not allowed",
            "reference",
        )
    )

_outcomes, test_forged_state_is_refused_before_use, test_control_torch_load_breaks_on_the_forged_state = row_tests(
    MODULE
)


def test_modules_need_the_opt_in_policy() -> None:
    data = _saved(torch.nn.Linear(2, 2))
    with pytest.raises(picklefence.PolicyViolation) as info:
        picklefence.torch.load(io.BytesIO(data))  # policy="torch"
    assert info.value.name == "torch.nn.modules.linear:Linear"
    assert type(picklefence.torch.load(io.BytesIO(data), policy="torch_modules")) is torch.nn.Linear


def test_sparse_loads_leave_torchs_validation_queue_as_it_was() -> None:
    queue = torch._utils._sparse_tensors_to_validate
    before = list(queue)
    loaded = picklefence.torch.load(io.BytesIO(_saved([torch.eye(2).to_sparse(), torch.eye(2).to_sparse_csr()])))
    assert [t.layout for t in loaded] == [torch.sparse_coo, torch.sparse_csr]
    assert queue == before


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "uint16", "uint64", "bits16"])
def test_new_dtypes_load_as_weights_only_loads_them(dtype: str) -> None:
    tensor = torch.arange(8, dtype=torch.uint8).view(getattr(torch, dtype))[1:]
    data = _saved({"t": tensor})
    ours, theirs = picklefence.torch.load(io.BytesIO(data)), torch.load(io.BytesIO(data), weights_only=True)
    assert ours["t"].dtype == theirs["t"].dtype and ours["t"].storage_offset() == theirs["t"].storage_offset()
    assert torch.equal(ours["t"].view(torch.uint8), theirs["t"].view(torch.uint8))
