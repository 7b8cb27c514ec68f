"""The torch policy on checkpoints written by torch.save: results equal
torch.load(weights_only=True), and hostile checkpoints are refused."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

import picklefence
from picklefence import PolicyViolation

from .hostile import call, g, stop, u

torch = pytest.importorskip("torch")


def _load(checkpoint: bytes, policy: str = "torch") -> Any:
    """Read torch's zip format: data.pkl with storages from data/<key> via persistent_load."""
    archive = zipfile.ZipFile(io.BytesIO(checkpoint))
    pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
    prefix = pkl[: -len("data.pkl")]

    class Loader(picklefence.Unpickler):
        def persistent_load(self, pid: Any) -> Any:
            kind, storage_type, key, _location, _numel = pid
            assert kind == "storage"
            raw = archive.read(f"{prefix}data/{key}")
            untyped = torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else torch.UntypedStorage(0)
            dtype = storage_type.dtype if hasattr(storage_type, "dtype") else storage_type
            return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)

    return Loader(io.BytesIO(archive.read(pkl)), policy=policy).load()


def _save(obj: Any) -> bytes:
    stream = io.BytesIO()
    torch.save(obj, stream)
    return stream.getvalue()


def _checkpoints() -> dict[str, Any]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 1))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    return {
        "state dict": model.state_dict(),
        "optimizer state": optimizer.state_dict(),
        "strided view": torch.arange(6.0).reshape(2, 3)[:, 1:],
        "parameter": torch.nn.Parameter(torch.ones(2)),
        "int64": torch.tensor([1, 2]),
        "float16": torch.ones(2, dtype=torch.float16),
        "bfloat16": torch.ones(2, dtype=torch.bfloat16),
        "bool": torch.tensor([True, False]),
        "mixed": {"epoch": 3, "size": torch.Size([2, 3]), "device": torch.device("cpu"), "dtype": torch.float32},
    }


def _equal(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, torch.Tensor):
        return type(ours) is type(theirs) and ours.dtype == theirs.dtype and torch.equal(ours, theirs)
    if isinstance(theirs, dict):
        return (
            type(ours) is type(theirs)
            and ours.keys() == theirs.keys()
            and all(_equal(ours[k], theirs[k]) for k in theirs)
        )
    if isinstance(theirs, (list, tuple)):
        return type(ours) is type(theirs) and len(ours) == len(theirs) and all(map(_equal, ours, theirs))
    return bool(ours == theirs)


@pytest.mark.parametrize("name", sorted(_checkpoints()))
def test_checkpoint_loads_like_weights_only(name: str) -> None:
    checkpoint = _save(_checkpoints()[name])
    theirs = torch.load(io.BytesIO(checkpoint), weights_only=True)
    assert _equal(_load(checkpoint), theirs)


def test_state_dict_keeps_its_metadata() -> None:
    checkpoint = _save(_checkpoints()["state dict"])
    assert _load(checkpoint)._metadata == torch.load(io.BytesIO(checkpoint), weights_only=True)._metadata


def _with_data_pkl(data: bytes) -> bytes:
    """A checkpoint whose data.pkl is replaced by ``data``."""
    source = zipfile.ZipFile(io.BytesIO(_save({"w": torch.ones(1)})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, data if item.filename.endswith("/data.pkl") else source.read(item))
    return out.getvalue()


HOSTILE = [
    ("os.system", stop(call(g("os", "system"), u("touch pwned")), 2)),
    ("torch.load nested", stop(call(g("torch", "load"), u("other.pt")), 2)),
    (
        "eval through _rebuild_from_type_v2",
        stop(
            call(
                g("torch._tensor", "_rebuild_from_type_v2"),
                g("builtins", "eval"),
                g("torch", "Tensor"),
                b"(" + u("1") + b"t",
                b"N",
            ),
            2,
        ),
    ),
]


@pytest.mark.parametrize(("name", "data"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_checkpoint_is_refused(name: str, data: bytes, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyViolation):
        _load(_with_data_pkl(data))
    assert not (tmp_path / "pwned").exists()


def test_tensor_with_backward_hooks_is_refused() -> None:
    # torch.save drops hooks, so write them in: OrderedDict([(0, OrderedDict)]), an
    # allowed global as the hook, instead of OrderedDict().
    archive = zipfile.ZipFile(io.BytesIO(_save(torch.nn.Parameter(torch.ones(2)))))
    data = archive.read(next(n for n in archive.namelist() if n.endswith("/data.pkl")))
    head, sep, tail = data.rpartition(b"collections\nOrderedDict\n")
    memo, rest = tail[:2], tail[2:]
    assert memo[:1] == b"q" and rest.startswith(b")R")
    hooks = b"]K\x00ccollections\nOrderedDict\n\x86a\x85R"
    with pytest.raises(PolicyViolation) as info:
        _load(_with_data_pkl(head + sep + memo + hooks + rest[2:]))
    assert info.value.capability == "arguments"
    assert info.value.name == "torch._utils:_rebuild_tensor_v2"  # the tensor's hooks are the last OrderedDict
