"""torch files as torch 2.13 and the training frameworks write them, under ``policy="torch"``
(full ``torch.nn`` modules under the opt-in ``torch_modules``): tensors of every dtype,
views, state dicts, optimizer and scheduler states, RNG states, numpy values inside torch
files, sparse and quantized tensors, omegaconf configs and a real Lightning checkpoint."""

from __future__ import annotations

import importlib.util
import random
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import Artifact, assert_same

TORCH = ("torch",)
NUMPY_DTYPES = ("float32", "float64", "float16", "complex64", "complex128", "int8", "int16", "int32", "int64", "uint8")
NEW_DTYPES = (  # written through _rebuild_tensor_v3 with an UntypedStorage
    "uint16",
    "uint32",
    "uint64",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "bits8",
    "bits16",
)


def artifacts() -> Iterator[Artifact]:
    if importlib.util.find_spec("torch") is None:
        return
    yield from _tensors()
    yield from _training()
    yield from _sparse_and_quantized()
    yield from _configs()
    yield from _modules()


def _tensors() -> Iterator[Artifact]:
    for name in (*NUMPY_DTYPES, "bfloat16", "bool"):
        yield Artifact(f"torch/tensor-{name}", _tensor_of(name), "torch", TORCH)
    for name in (*NEW_DTYPES, "complex32"):
        yield Artifact(f"torch/tensor-{name}", _tensor_of(name), "torch", TORCH, same=_same_bytes)
    yield Artifact("torch/tensor-views", _views, "torch", TORCH, same=_same_views)
    yield Artifact("torch/parameter", _parameter, "torch", TORCH, same=_same_parameter)
    yield Artifact("torch/values", _values, "torch", ("p2", "p5", "torch"))


def _training() -> Iterator[Artifact]:
    yield Artifact("torch/state-dict-mlp", lambda: _mlp().state_dict(), "torch", TORCH)
    yield Artifact("torch/state-dict-conv-batchnorm", lambda: _convnet().state_dict(), "torch", TORCH)
    for name in ("adam", "adamw-amsgrad", "sgd-momentum", "rmsprop"):
        yield Artifact(f"torch/optimizer-{name}", _optimizer_state(name), "torch", TORCH)
    for name in ("step", "cosine", "one-cycle", "plateau", "lambda"):
        yield Artifact(f"torch/scheduler-{name}", _scheduler_state(name), "torch", TORCH)
    yield Artifact("torch/training-checkpoint", _training_checkpoint, "torch", TORCH)
    yield Artifact("torch/rng-state", _torch_rng, "torch", TORCH)
    yield Artifact("torch/hf-rng-state", _hf_rng_state, "torch", TORCH, requires=("numpy",))
    yield Artifact("torch/numpy-metrics", _numpy_metrics, "torch", TORCH, requires=("numpy",))
    yield Artifact("torch/lightning-checkpoint", _lightning_checkpoint, "torch", TORCH, requires=("lightning",))
    yield Artifact(
        "transformers/training-args",
        _training_arguments,
        "torch",
        TORCH,
        refused="holds accelerate's PartialState, whose instances share one process-wide state",
        requires=("transformers", "accelerate"),
    )


def _sparse_and_quantized() -> Iterator[Artifact]:
    for layout in ("coo", "coo-uncoalesced", "csr", "csc", "bsr", "bsc"):
        yield Artifact(f"torch/sparse-{layout}", _sparse(layout), "torch", TORCH, same=_same_sparse)
    yield Artifact("torch/sparse-state-dict", _sparse_state_dict, "torch", TORCH)
    for dtype in ("quint8", "qint8", "qint32"):
        yield Artifact(f"torch/quantized-per-tensor-{dtype}", _per_tensor(dtype), "torch", TORCH)
    yield Artifact("torch/quantized-per-channel", _per_channel, "torch", TORCH)


def _configs() -> Iterator[Artifact]:
    formats = ("p2", "p5", "torch")
    yield Artifact("omegaconf/dictconfig", _dict_config, "omegaconf", formats, requires=("omegaconf",))
    yield Artifact("omegaconf/listconfig", _list_config, "omegaconf", formats, requires=("omegaconf",))
    yield Artifact(
        "torch/omegaconf-hparams", lambda: {"hparams": _dict_config()}, "torch", TORCH, requires=("omegaconf",)
    )


def _modules() -> Iterator[Artifact]:
    for name, make in MODULES.items():
        yield Artifact(f"torch/module-{name}", _module(make), "torch_modules", TORCH, same=_same_module)


# -- tensors ---------------------------------------------------------------------------------


def _tensor_of(name: str) -> Callable[[], Any]:
    def make() -> Any:
        import torch

        dtype = getattr(torch, name)
        base = torch.arange(-3.0, 9.0).reshape(3, 4)
        if name.startswith("bits"):  # no arithmetic on bits: reinterpret bytes
            return torch.arange(24, dtype=torch.uint8).view(dtype)
        if name == "bool":
            return base > 2
        if name.startswith("uint"):
            return base.abs().to(dtype)
        return base.to(dtype)

    return make


def _same_bytes(expected: Any, got: Any) -> None:
    """Tensors without comparison kernels (float8, bits): dtype, shape and raw bytes."""
    import torch

    assert type(got) is type(expected) and got.dtype == expected.dtype and got.shape == expected.shape
    assert torch.equal(got.contiguous().view(torch.uint8), expected.contiguous().view(torch.uint8))


def _views() -> Any:
    import torch

    base = torch.arange(24.0).reshape(4, 6)
    return {
        "base": base,
        "transposed": base.t(),
        "slice": base[1:3, 2:],
        "row": base[2],
        "expanded": base[0].expand(3, 6),
    }


def _same_views(expected: Any, got: Any) -> None:
    assert_same(expected, got)
    for key, tensor in got.items():  # one storage, as torch.save wrote it
        assert tensor.untyped_storage().data_ptr() == got["base"].untyped_storage().data_ptr(), key
        assert tensor.stride() == expected[key].stride() and tensor.storage_offset() == expected[key].storage_offset()


def _parameter() -> Any:
    import torch

    return torch.nn.Parameter(torch.linspace(0, 1, 5))


def _same_parameter(expected: Any, got: Any) -> None:
    assert_same(expected, got)
    assert got.requires_grad and got.is_leaf


def _values() -> Any:
    import torch

    return {"dtype": torch.bfloat16, "device": torch.device("cpu"), "size": torch.Size([2, 3]), "names": ["a", "b"]}


# -- training state ----------------------------------------------------------------------------


def _mlp() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _convnet() -> Any:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU())
    model(torch.randn(2, 1, 6, 6))  # running statistics and num_batches_tracked move
    return model


def _trained(optimizer: Callable[[Any], Any], steps: int = 3) -> tuple[Any, Any]:
    import torch

    model = _mlp()
    opt = optimizer(model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(5, 4)).pow(2).mean().backward()
        opt.step()
    return model, opt


def _optimizer_state(name: str) -> Callable[[], Any]:
    def make() -> Any:
        import torch

        optimizers: dict[str, Callable[[Any], Any]] = {
            "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
            "adamw-amsgrad": lambda p: torch.optim.AdamW(p, lr=1e-3, amsgrad=True),
            "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
            "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, centered=True),
        }
        return _trained(optimizers[name])[1].state_dict()

    return make


def _scheduler_state(name: str) -> Callable[[], Any]:
    def make() -> Any:
        import torch

        _, opt = _trained(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
        lr = torch.optim.lr_scheduler
        schedulers: dict[str, Callable[[Any], Any]] = {
            "step": lambda o: lr.StepLR(o, step_size=2, gamma=0.5),
            "cosine": lambda o: lr.CosineAnnealingLR(o, T_max=10),
            "one-cycle": lambda o: lr.OneCycleLR(o, max_lr=0.5, total_steps=20),
            "plateau": lambda o: lr.ReduceLROnPlateau(o, patience=1),
            "lambda": lambda o: lr.LambdaLR(o, lambda epoch: 0.9**epoch),
        }
        scheduler = schedulers[name](opt)
        for _ in range(3):
            opt.step()
            scheduler.step(1.0) if name == "plateau" else scheduler.step()
        return scheduler.state_dict()

    return make


def _training_checkpoint() -> Any:
    import torch

    model, opt = _trained(lambda p: torch.optim.Adam(p, lr=1e-3))
    scheduler = torch.optim.lr_scheduler.StepLR(opt, 2)
    return {
        "epoch": 3,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": opt.state_dict(),
        "scheduler_state_dict": scheduler.state_dict(),
        "loss": 0.25,
        "rng_state": torch.get_rng_state(),
    }


def _torch_rng() -> Any:
    import torch

    generator = torch.Generator().manual_seed(7)
    torch.rand(3, generator=generator)
    return {"default": torch.get_rng_state(), "generator": generator.get_state()}


def _hf_rng_state() -> Any:
    """What transformers' Trainer writes as ``rng_state.pth`` on CPU."""
    import numpy as np
    import torch

    random.seed(3)
    np.random.seed(3)
    return {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}


def _numpy_metrics() -> Any:
    import numpy as np
    import torch

    return {
        "eval_loss": np.float64(0.125),
        "eval_accuracy": np.float32(0.75),
        "step": np.int64(40),
        "predictions": np.arange(6, dtype=np.float32).reshape(2, 3),
        "labels": np.array([1, 0, 1]),
        "mask": np.array([True, False]),
        "embedding": torch.ones(2, 2),
    }


def _lightning_checkpoint() -> Any:
    """A real ``Trainer.save_checkpoint`` after two steps, with omegaconf hyper-parameters,
    an optimizer and a scheduler; read back as the dict Lightning wrote."""
    import lightning
    import torch
    from omegaconf import OmegaConf

    class Model(lightning.LightningModule):
        def __init__(self, cfg: Any, lr: float = 0.05) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(3, 1)

        def training_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self) -> Any:
            opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
            return [opt], [torch.optim.lr_scheduler.StepLR(opt, 1)]

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(8, 3), torch.randn(8, 1))
    cfg = OmegaConf.create({"model": {"hidden": 4, "act": "relu"}, "data": [1, 2], "name": "toy"})
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = lightning.Trainer(
            max_steps=2,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
        )
        trainer.fit(Model(cfg), torch.utils.data.DataLoader(data, batch_size=4))
        path = Path(root) / "last.ckpt"
        trainer.save_checkpoint(path)
        return torch.load(path, weights_only=False)


def _training_arguments() -> Any:
    """What transformers' Trainer writes as ``training_args.bin``."""
    from transformers import TrainingArguments

    with tempfile.TemporaryDirectory() as root:
        return TrainingArguments(output_dir=root, report_to=[])


# -- sparse and quantized ----------------------------------------------------------------------


def _sparse(layout: str) -> Callable[[], Any]:
    def make() -> Any:
        import torch

        dense = torch.tensor([[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 3.0, 0.0], [4.0, 0.0, 0.0, 0.0], [0.0, 5.0, 6.0, 0.0]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if layout == "coo":
                return dense.to_sparse()
            if layout == "coo-uncoalesced":
                return torch.sparse_coo_tensor([[0, 1, 0], [2, 0, 2]], [1.0, 2.0, 3.0], (2, 3))
            if layout in ("bsr", "bsc"):
                return getattr(dense, f"to_sparse_{layout}")((2, 2))
            return getattr(dense, f"to_sparse_{layout}")()

    return make


def _same_sparse(expected: Any, got: Any) -> None:
    """Same layout, block size and parts, and the same dense values."""
    import torch

    assert type(got) is type(expected) and got.layout == expected.layout and got.shape == expected.shape
    if got.layout is torch.sparse_coo:
        assert got.is_coalesced() == expected.is_coalesced()
        parts = [(expected._indices(), got._indices()), (expected._values(), got._values())]
    else:
        parts = [(expected.values(), got.values())]
    parts.append((expected.to_dense(), got.to_dense()))
    for want, have in parts:
        assert_same(want, have)


def _sparse_state_dict() -> Any:
    import torch

    return {"weight": torch.eye(3).to_sparse(), "bias": torch.zeros(3)}


def _per_tensor(dtype: str) -> Callable[[], Any]:
    def make() -> Any:
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.quantize_per_tensor(torch.linspace(-1, 1, 8), 0.05, 3, getattr(torch, dtype))

    return make


def _per_channel() -> Any:
    import torch

    scales = torch.tensor([0.1, 0.05, 0.2], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.quantize_per_channel(torch.randn(3, 4), scales, torch.tensor([0, 1, -2]), 0, torch.qint8)


# -- omegaconf ---------------------------------------------------------------------------------


def _dict_config() -> Any:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(
        {
            "model": {"hidden": 64, "dropout": 0.1, "act": "gelu", "bias": True, "blob": b"\x00\x01"},
            "optim": {"lr": 3e-4, "betas": [0.9, 0.999]},
            "data": {"path": "???", "batch": "${model.hidden}"},
            "none": None,
        }
    )
    OmegaConf.set_readonly(cfg.model, True)
    OmegaConf.set_struct(cfg.optim, True)
    return cfg


def _list_config() -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.create([1, "two", 3.0, {"four": [5]}, None])


# -- modules ---------------------------------------------------------------------------------


def _torch_nn() -> Any:
    import torch

    return torch.nn


MODULES: dict[str, Callable[[Any], Any]] = {
    "mlp": lambda nn: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2), nn.Softmax(dim=-1)),
    "convnet": lambda nn: nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.SiLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 2, 3, padding="same", padding_mode="reflect"),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    ),
    "conv1d-groupnorm": lambda nn: nn.Sequential(nn.Conv1d(4, 4, 3, groups=2), nn.GroupNorm(2, 4), nn.GELU()),
    "embedding-layernorm": lambda nn: nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.LayerNorm(4), nn.Tanh()),
    "lstm": lambda nn: nn.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=True),
    "lstm-projection": lambda nn: nn.LSTM(4, 6, proj_size=3),
    "gru": lambda nn: nn.GRU(4, 5, bias=False),
    "rnn-relu": lambda nn: nn.RNN(4, 5, nonlinearity="relu"),
    "transformer-encoder": lambda nn: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 2, enable_nested_tensor=False
    ),
    "transformer-encoder-gelu": lambda nn: nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True),
    "transformer-decoder-layer": lambda nn: nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0),
    "multihead-attention": lambda nn: nn.MultiheadAttention(8, 2, kdim=4, vdim=6),
    "module-dict": lambda nn: nn.ModuleDict(
        {"encoder": nn.Linear(4, 4), "heads": nn.ModuleList([nn.Linear(4, 1), nn.RMSNorm(4)])}
    ),
}


def _module(make: Callable[[Any], Any]) -> Callable[[], Any]:
    def build() -> Any:
        import torch

        torch.manual_seed(0)
        module = make(_torch_nn())
        for child in module.modules():  # running statistics move
            if isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
                module(torch.randn(2, 1, 6, 6))
                break
        return module.eval()

    return build


def _same_module(expected: Any, got: Any) -> None:
    """Same class, same state dict, and the same outputs on one input."""
    import torch

    assert type(got) is type(expected)
    assert_same(dict(expected.state_dict()), dict(got.state_dict()))
    with torch.no_grad():
        assert_same(_run(expected), _run(got))


def _run(module: Any) -> Any:
    import torch

    torch.manual_seed(1)
    nn = torch.nn
    if isinstance(module, nn.MultiheadAttention):
        return module(torch.randn(3, 2, 8), torch.randn(5, 2, 4), torch.randn(5, 2, 6))
    if isinstance(module, nn.TransformerDecoderLayer):
        return module(torch.randn(3, 2, 8), torch.randn(4, 2, 8))
    if isinstance(module, nn.TransformerEncoder | nn.TransformerEncoderLayer):
        return module(torch.randn(2, 3, 8))
    if isinstance(module, nn.ModuleDict):
        hidden = module["encoder"](torch.randn(2, 4))
        return [head(hidden) for head in module["heads"]]
    first = next(module.modules()) if not isinstance(module, nn.Sequential) else module[0]
    if isinstance(first, nn.Embedding):
        return module(torch.tensor([[0, 3, 9]]))
    if isinstance(first, nn.Conv2d):
        return module(torch.randn(2, 1, 6, 6))
    if isinstance(first, nn.Conv1d):
        return module(torch.randn(2, 4, 7))
    if isinstance(first, nn.RNNBase):
        return module(torch.randn(2, 3, 4))
    return module(torch.randn(2, 4))
