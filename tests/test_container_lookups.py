"""Format facts the loaders share with ``scan``, checked against the consumers' own code:
torch's record lookup, numpy's ``.npz`` member rule, ``pandas.read_pickle``'s zip rule."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest

import picklefence
from picklefence import MalformedPickleError
from picklefence._containers import torch_record
from picklefence.cli import main

ARCHIVES: list[list[str]] = [
    ["archive/data.pkl", "archive/version"],
    ["archive/DATA.PKL", "archive/version"],
    ["x/version", "x/Data.Pkl"],
    ["my model/data.pkl", "my model/version"],
    ["x/version", "y/data.pkl"],
    ["data.pkl", "version"],
    ["a/b/data.pkl", "a/version"],
    ["a/version", "a/data.pkl.bak"],
]


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("names", ARCHIVES, ids=lambda names: "+".join(names))
def test_torch_record_finds_what_torchs_reader_finds(names: list[str]) -> None:
    torch: Any = pytest.importorskip("torch")
    data = _zip([(name, b"3\n" if name.endswith("version") else b"payload") for name in names])
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        theirs: bytes | None = bytes(reader.get_record("data.pkl")) if reader.has_record("data.pkl") else None
    except RuntimeError:
        theirs = None
    ours = torch_record(names, "data.pkl")
    assert (b"payload" if ours is not None else None) == theirs


def test_torch_load_finds_data_pkl_by_torchs_rule(tmp_path: Path) -> None:
    torch: Any = pytest.importorskip("torch")
    saved = io.BytesIO()
    torch.save({"w": torch.arange(3.0)}, saved)
    with zipfile.ZipFile(io.BytesIO(saved.getvalue())) as archive:
        entries = [(i.filename.replace("data.pkl", "DATA.PKL"), archive.read(i)) for i in archive.infolist()]
    (tmp_path / "upper.pt").write_bytes(_zip(entries))
    loaded = picklefence.torch.load(tmp_path / "upper.pt")
    assert torch.equal(loaded["w"], torch.load(tmp_path / "upper.pt", weights_only=True)["w"])


def test_torch_load_refuses_an_archive_with_two_data_pkl_records(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "two.pt").write_bytes(_zip([("a/data.pkl", b"N."), ("a/DATA.pkl", b"N."), ("a/version", b"3")]))
    with pytest.raises(MalformedPickleError, match="2 entries"):
        picklefence.torch.load(tmp_path / "two.pt")


def test_npz_members_are_arrays_by_content_as_numpy_reads_them(tmp_path: Path) -> None:
    np: Any = pytest.importorskip("numpy")
    npy = io.BytesIO()
    np.save(npy, np.array([{"k": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "x.npz").write_bytes(_zip([("weights.bin", npy.getvalue()), ("notes", b"text")]))
    ours = picklefence.numpy.load(tmp_path / "x.npz")
    with np.load(tmp_path / "x.npz", allow_pickle=True) as theirs:
        assert sorted(ours) == sorted(theirs.files)
        assert ours["notes"] == theirs["notes"] == b"text"
        assert ours["weights.bin"][0] == theirs["weights.bin"][0] == {"k": 1}


def test_a_single_member_zip_loads_whatever_the_member_is_named() -> None:
    data = pickle.dumps([1, 2], 4)
    for name in ("data.pkl", "payload", "x.txt"):
        assert picklefence.loads(_zip([(name, data)])) == [1, 2]


def test_scan_lists_what_no_consumer_reads_as_a_pickle(tmp_path: Path) -> None:
    torch: Any = pytest.importorskip("torch")
    torch.save({"w": torch.full((4,), -0.0)}, tmp_path / "model.pt")  # storage bytes 00 00 00 80 ...
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["scan", "--json", "--quiet", "--policy", "torch", str(tmp_path / "model.pt")])
    report = json.loads(out.getvalue())
    assert code == 0, report
    assert [p["member"] for p in report["pickles"]] == ["model/data.pkl"]
    reasons = {u["member"]: u["reason"] for u in report["unscanned"]}
    assert reasons["model/data/0"].startswith("tensor storage")
    assert all(not reason.startswith("tensor") for member, reason in reasons.items() if "/data/" not in member)
