"""The scanner sees what the consumer runs (G9): a consumer-differential table.

Each row hides a harmless payload (a lookup of ``os:getcwd``) in one layer variant of a
file.  The real consumer (pickle.load, pandas.read_pickle, numpy.load(allow_pickle=True),
joblib.load, torch.load(weights_only=False)) reads the file in a subprocess under an
audit hook that raises at the first ``pickle.find_class`` of a name outside a few
harmless ones a loader needs on the way (numpy's dtype, joblib's wrapper), so nothing the
pickle chose is ever run.  Every row asserts that the consumer did look the payload up
(so the variant is real), that every name it looked up is in ``picklefence scan
--json``'s report of that file, and that the scan does not pass the file.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import importlib
import importlib.util
import io
import json
import lzma
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from picklefence.cli import main

PAYLOAD = b"\x80\x02cos\ngetcwd\n)R."
PAYLOAD_0 = b"cos\ngetcwd\n(tR."
NAMES = {"os:getcwd", "posix:getcwd"}  # os.getcwd pickles as posix.getcwd

_RUNNER = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
consumer, paths = sys.argv[1], sys.argv[2:]
import pickle
if consumer == "pandas":
    import pandas
elif consumer == "numpy":
    import numpy
elif consumer == "joblib":
    import joblib, numpy
elif consumer == "torch":
    import torch
HARMLESS = {
    "joblib.numpy_pickle:NumpyArrayWrapper", "numpy:dtype", "numpy:ndarray",
    "numpy._core.multiarray:_reconstruct", "numpy.core.multiarray:_reconstruct",
}

class Stop(BaseException):
    pass

seen = []

def hook(event, args):
    if event == "pickle.find_class":
        name = f"{args[0]}:{args[1]}"
        seen.append(name)
        if name not in HARMLESS:
            raise Stop(name)

def run(path):
    if consumer == "pickle":
        with open(path, "rb") as f:
            pickle.load(f)
    elif consumer == "pandas":
        pandas.read_pickle(path)
    elif consumer == "numpy":
        loaded = numpy.load(path, allow_pickle=True)
        for key in getattr(loaded, "files", ()):
            loaded[key]
    elif consumer == "joblib":
        joblib.load(path)
    else:
        torch.load(path, weights_only=False)

sys.addaudithook(hook)
result = {}
for path in paths:
    seen.clear()
    try:
        run(path)
    except BaseException:
        pass
    result[path] = list(seen)
print(json.dumps(result))
"""


# --- building blocks -------------------------------------------------------------


def _zip(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive, contextlib.suppress(UserWarning):
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def _tar(entries: list[tuple[str, bytes]], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.GNU_FORMAT) as archive:  # type: ignore[call-overload]
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _npy(descr: str, body: bytes = PAYLOAD, version: int = 1, shape: str = "(1,)") -> bytes:
    header = f"{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}".encode()
    size_bytes = 2 if version == 1 else 4
    pad = -(6 + 2 + size_bytes + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + len(header).to_bytes(size_bytes, "little") + header + body


def _torch_zip(torch: Any, data_pkl: bytes, rename: Callable[[str], str] = lambda n: n) -> bytes:
    """A real ``torch.save`` checkpoint, its ``data.pkl`` replaced and names changed."""
    saved = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, saved)
    with zipfile.ZipFile(io.BytesIO(saved.getvalue())) as archive:
        entries = [(i.filename, archive.read(i)) for i in archive.infolist()]
    entries = [(rename(n), data_pkl if n.endswith("/data.pkl") else d) for n, d in entries]
    return _zip(entries, zipfile.ZIP_STORED)


def _patch_local_header(data: bytes, name: bytes, new_name: bytes = b"", flags: int = 0) -> bytes:
    """Change the local header of member ``name`` only (the central directory keeps it)."""
    at = data.index(b"PK\x03\x04")
    while data[at + 30 : at + 30 + len(name)] != name:
        at = data.index(b"PK\x03\x04", at + 4)
    out = bytearray(data)
    if new_name:
        out[at + 30 : at + 30 + len(name)] = new_name
    out[at + 6 : at + 8] = (int.from_bytes(out[at + 6 : at + 8], "little") | flags).to_bytes(2, "little")
    return bytes(out)


def _bad_crc(data: bytes, name: bytes) -> bytes:
    """Change the CRC of member ``name`` in the central directory and its local header."""
    out = bytearray(data)
    for magic, crc_at, name_at in ((b"PK\x03\x04", 14, 30), (b"PK\x01\x02", 16, 46)):
        at = out.index(magic)
        while out[at + name_at : at + name_at + len(name)] != name:
            at = out.index(magic, at + 4)
        out[at + crc_at : at + crc_at + 4] = b"\xde\xad\xbe\xef"
    return bytes(out)


def _joblib_float_with_tail(joblib: Any, np: Any, tmp: Path, patch: Callable[[bytes], bytes]) -> bytes:
    """A joblib file of ``[zeros(2), "tail"]`` whose outer stream gets PAYLOAD (and POP)
    right after the array's 16 bytes, then ``patch`` applied."""
    path = tmp / "base.joblib"
    joblib.dump([np.zeros(2), "tail"], path)
    data = path.read_bytes()
    at = data.index(b"\x00" * 16)
    return patch(data[: at + 16] + PAYLOAD[2:-1] + b"0" + data[at + 16 :])


def _elsize(data: bytes) -> bytes:
    """The float dtype's state claims 256-byte elements (numpy ignores it for f8)."""
    state = b"\x8c\x01<\x94NNNJ\xff\xff\xff\xff"
    at = data.index(state) + len(state) - 5
    return data[:at] + b"J\x00\x01\x00\x00" + data[at + 5 :]


def _tuple_state(data: bytes) -> bytes:
    """The wrapper's BUILD state becomes ``(None, {...})``: joblib sets it as slot state."""
    wrapper = data.index(b"NumpyArrayWrapper")
    start = data.index(b"}", wrapper)
    build = data.index(b"ub\x10", start)  # SETITEMS, BUILD, then the padding size
    frame = int.from_bytes(data[3:11], "little") + 2  # the two new opcodes are in the first FRAME
    patched = data[:start] + b"N" + data[start : build + 1] + b"\x86" + data[build + 1 :]
    return patched[:3] + frame.to_bytes(8, "little") + patched[11:]


# --- the table -------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    id: str
    filename: str
    consumers: tuple[str, ...]
    build: Callable[[Path], bytes]
    needs: tuple[str, ...] = ()  # libraries the builder uses beyond the consumers


class _Lazy:
    """A module imported on first use, so rows of missing libraries skip one by one."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


def _installed(*names: str) -> bool:
    return all(name == "pickle" or importlib.util.find_spec(name) is not None for name in names)


def _variants() -> list[Variant]:
    np: Any = _Lazy("numpy")
    joblib: Any = _Lazy("joblib")
    torch: Any = _Lazy("torch")
    v = Variant
    tz = lambda **k: lambda tmp: _torch_zip(torch, PAYLOAD, **k)  # noqa: E731
    return [
        v("plain", "x.pkl", ("pickle", "pandas", "numpy", "joblib"), lambda tmp: PAYLOAD),
        v("plain-proto0", "x.pkl", ("pickle", "pandas", "joblib"), lambda tmp: PAYLOAD_0),
        v("plain-trailing-junk", "x.pkl", ("pickle",), lambda tmp: PAYLOAD + b"\xff junk"),
        v("gzip", "x.gz", ("pandas", "joblib"), lambda tmp: gzip.compress(PAYLOAD)),
        v("gzip-odd-extension", "x.pkl", ("joblib",), lambda tmp: gzip.compress(PAYLOAD)),
        v("gzip-second-member", "x.gz", ("pandas",), lambda tmp: gzip.compress(b"") + gzip.compress(PAYLOAD)),
        v(
            "gzip-zero-padding",
            "x.gz",
            ("pandas",),
            lambda tmp: gzip.compress(b"") + b"\0" * 7 + gzip.compress(PAYLOAD),
        ),
        v("bz2", "x.bz2", ("pandas", "joblib"), lambda tmp: bz2.compress(PAYLOAD)),
        v("bz2-second-stream", "x.bz2", ("pandas",), lambda tmp: bz2.compress(b"") + bz2.compress(PAYLOAD)),
        v("xz", "x.xz", ("pandas", "joblib"), lambda tmp: lzma.compress(PAYLOAD)),
        v("lzma-alone", "x.lzma", ("joblib",), lambda tmp: lzma.compress(PAYLOAD, lzma.FORMAT_ALONE)),
        v("zlib", "x.joblib", ("joblib",), lambda tmp: zlib.compress(PAYLOAD)),
        v("zip-member-any-name", "x.zip", ("pandas",), lambda tmp: _zip([("data.txt", PAYLOAD)])),
        v("zip-member-no-extension", "x.zip", ("pandas",), lambda tmp: _zip([("payload", PAYLOAD_0)])),
        v("zip-stored", "x.zip", ("pandas",), lambda tmp: _zip([("a", PAYLOAD)], zipfile.ZIP_STORED)),
        v("zip-bytes-in-front", "x.zip", ("pandas",), lambda tmp: b"MZ junk " * 8 + _zip([("a", PAYLOAD)])),
        v("zip-in-subfolder", "x.zip", ("pandas",), lambda tmp: _zip([("deep/er/a", PAYLOAD)])),
        v("zip-bz2-method", "x.zip", ("pandas",), lambda tmp: _zip([("a", PAYLOAD)], zipfile.ZIP_BZIP2)),
        v("zip-lzma-method", "x.zip", ("pandas",), lambda tmp: _zip([("a", PAYLOAD)], zipfile.ZIP_LZMA)),
        v("pickle-in-front-of-zip", "x.pkl", ("pickle", "numpy"), lambda tmp: PAYLOAD + _zip([("a", b"x")])),
        v("gzip-zip-polyglot", "x.zip", ("pandas",), lambda tmp: gzip.compress(b"\x80\x02N.") + _zip([("a", PAYLOAD)])),
        v("npy-zip-polyglot", "x.zip", ("pandas",), lambda tmp: _npy("'<i4'", bytes(4)) + _zip([("a", PAYLOAD)])),
        v("tar-zip-polyglot", "x.zip", ("pandas",), lambda tmp: _tar([("a", b"\x80\x02N.")]) + _zip([("a", PAYLOAD)])),
        v("tar", "x.tar", ("pandas",), lambda tmp: _tar([("anything", PAYLOAD)])),
        v("tar-gz", "x.tar.gz", ("pandas",), lambda tmp: gzip.compress(_tar([("model", PAYLOAD)]))),
        v("tar-xz", "x.tar.xz", ("pandas",), lambda tmp: lzma.compress(_tar([("model", PAYLOAD)]))),
        v("tar-header-is-a-pickle", "x.tar", ("pickle",), lambda tmp: _tar([(PAYLOAD_0.decode(), b"x")])),
        v("npy-O", "x.npy", ("numpy",), lambda tmp: _npy("'|O'")),
        v("npy-object", "x.npy", ("numpy",), lambda tmp: _npy("'object'")),
        v("npy-O8", "x.npy", ("numpy",), lambda tmp: _npy("'O8'")),
        v("npy-fields", "x.npy", ("numpy",), lambda tmp: _npy("[('a', '<i4'), ('b', '|O')]")),
        v("npy-nested-fields", "x.npy", ("numpy",), lambda tmp: _npy("[('a', [('b', [('c', 'O')])])]")),
        v("npy-field-subarray", "x.npy", ("numpy",), lambda tmp: _npy("[('a', 'O', (2,))]")),
        v("npy-tuple-subarray", "x.npy", ("numpy",), lambda tmp: _npy("('O', (2, 2))")),
        v("npy-version-2", "x.npy", ("numpy",), lambda tmp: _npy("'|O'", version=2)),
        v("npy-version-3", "x.npy", ("numpy",), lambda tmp: _npy("'|O'", version=3)),
        v("npz-any-member-name", "x.npz", ("numpy",), lambda tmp: _zip([("weights.bin", _npy("'|O'"))])),
        v("npz-subfolder", "x.npz", ("numpy",), lambda tmp: _zip([("a.npy", b"x"), ("b/c", _npy("'O'"))])),
        v(
            "npz-bad-crc",
            "x.npz",
            ("numpy",),
            lambda tmp: _bad_crc(_zip([("a.npy", _npy("'O'", PAYLOAD + bytes(1 << 20))), ("b.npy", b"x")]), b"a.npy"),
        ),
        v("torch", "x.pt", ("torch",), tz()),
        v("torch-odd-extension", "model.bin", ("torch",), tz()),
        v("torch-upper-case-record", "x.pt", ("torch",), tz(rename=lambda n: n.replace("data.pkl", "DATA.PKL"))),
        v("torch-other-folder", "x.pt", ("torch",), tz(rename=lambda n: "my model/" + n.split("/", 1)[1])),
        v("torch-protocol-0", "x.pt", ("torch",), lambda tmp: _torch_zip(torch, PAYLOAD_0)),
        v("torch-bad-crc", "x.pt", ("torch",), lambda tmp: _bad_crc(_torch_zip(torch, PAYLOAD), b"archive/data.pkl")),
        v(
            "torch-local-name-differs",
            "x.pt",
            ("torch",),
            lambda tmp: _patch_local_header(_torch_zip(torch, PAYLOAD), b"archive/data.pkl", b"archive/dXta.pkl"),
        ),
        v(
            "torch-local-flag-bits",
            "x.pt",
            ("torch",),
            lambda tmp: _patch_local_header(_torch_zip(torch, PAYLOAD), b"archive/data.pkl", flags=0x60),
        ),
        v("torch-bytes-in-front", "x.pt", ("torch",), lambda tmp: PAYLOAD + _torch_zip(torch, b"\x80\x02N.")),
        v(
            "torch-legacy-sequence",
            "x.pt",
            ("torch",),
            lambda tmp: pickle.dumps(0x1950A86A20F9469CFC6C, 2) + pickle.dumps(1001, 2) + PAYLOAD,
        ),
        v("torch-legacy-tar", "x.pt", ("torch",), lambda tmp: _tar([("storages", PAYLOAD), ("tensors", b"")])),
        v("joblib-object-array", "x.joblib", ("joblib",), lambda tmp: _joblib_dump(joblib, np.array([os.getcwd]), tmp)),
        v(
            "joblib-void-object-subarray",
            "x.joblib",
            ("joblib",),
            lambda tmp: _joblib_dump(joblib, _void_objects(np), tmp),
        ),
        v(
            "joblib-elsize",
            "x.joblib",
            ("joblib",),
            lambda tmp: _joblib_float_with_tail(joblib, np, tmp, _elsize),
        ),
        v(
            "joblib-tuple-state",
            "x.joblib",
            ("joblib",),
            lambda tmp: _joblib_float_with_tail(joblib, np, tmp, _tuple_state),
        ),
        v(
            "joblib-array-bytes-are-opcodes",
            "x.joblib",
            ("pickle",),
            lambda tmp: _joblib_opcodes(joblib, np, tmp),
            needs=("joblib", "numpy"),
        ),
        v(
            "joblib-compressed-object-array",
            "x.joblib",
            ("joblib",),
            lambda tmp: _joblib_dump(joblib, np.array([os.getcwd]), tmp, compress=3),
        ),
    ]


def _joblib_opcodes(joblib: Any, np: Any, tmp: Path) -> bytes:
    """A joblib file whose uint8 array holds opcodes, without alignment padding (the
    wrapper's ``numpy_array_alignment_bytes`` is None): joblib reads them as the array's
    bytes, ``pickle.load`` runs them."""
    data = _joblib_dump(joblib, np.frombuffer(PAYLOAD_0[:-1] + b"0", dtype=np.uint8).copy(), tmp)
    state = b"numpy_array_alignment_bytes\x94K\x10ub"
    at = data.index(state) + len(state)
    frame = int.from_bytes(data[3:11], "little") - 1  # K\x10 becomes N, in the first FRAME
    patched = data[: at - 4] + b"Nub" + data[at + 1 + data[at] :]  # no padding size, no padding
    return patched[:3] + frame.to_bytes(8, "little") + patched[11:]


def _void_objects(np: Any) -> Any:
    array = np.zeros(1, dtype=[("a", "O", (2,))])
    array["a"][0] = [os.getcwd, os.getcwd]
    return array


def _joblib_dump(joblib: Any, value: Any, tmp: Path, compress: int = 0) -> bytes:
    path = tmp / "dumped.joblib"
    joblib.dump(value, path, compress=compress)
    return path.read_bytes()


def _scan(path: Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["scan", "--json", "--quiet", str(path)])
    return code, json.loads(out.getvalue())


@dataclass
class _Run:
    files: dict[str, Path]
    lookups: dict[tuple[str, str], list[str]]


@pytest.fixture(scope="module")
def consumer_run(tmp_path_factory: pytest.TempPathFactory) -> _Run:
    tmp = tmp_path_factory.mktemp("consumers")
    files: dict[str, Path] = {}
    by_consumer: dict[str, list[str]] = {}
    for variant in _variants():
        if not _installed(*variant.consumers, *variant.needs):
            continue
        folder = tmp / variant.id
        folder.mkdir()
        path = folder / variant.filename
        path.write_bytes(variant.build(folder))
        files[variant.id] = path
        for consumer in variant.consumers:
            by_consumer.setdefault(consumer, []).append(variant.id)
    lookups: dict[tuple[str, str], list[str]] = {}
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for consumer, ids in by_consumer.items():
        args = [sys.executable, "-c", _RUNNER, consumer, *(str(files[i]) for i in ids)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, cwd=tmp)
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        for i in ids:
            lookups[(i, consumer)] = seen[str(files[i])]
    return _Run(files, lookups)


def _rows() -> list[Any]:
    return [
        pytest.param(v.id, c, marks=pytest.mark.skipif(not _installed(*v.consumers, *v.needs), reason="not installed"))
        for v in _variants()
        for c in v.consumers
    ]


@pytest.mark.parametrize(("variant", "consumer"), _rows())
def test_scan_reports_every_global_the_consumer_looks_up(consumer_run: _Run, variant: str, consumer: str) -> None:
    looked_up = consumer_run.lookups[(variant, consumer)]
    assert NAMES & set(looked_up), f"the variant does not reach {consumer}: {looked_up}"
    code, report = _scan(consumer_run.files[variant])
    reported = {use["name"] for found in report["pickles"] for use in found["globals"]}
    assert set(looked_up) <= reported, (report["errors"], report["unscanned"])
    assert code in (1, 2)
    assert report["summary"]["refused"] or report["summary"]["malformed"] or report["errors"]


def test_the_table_has_forty_variants() -> None:
    assert len(_rows()) >= 40


# --- mutated layers ----------------------------------------------------------------


def _mutation_bases() -> list[tuple[str, str, Callable[[], bytes]]]:
    """(filename, consumer, build): containers of the payload for mutation."""
    npz = [("a.npy", _npy("'|O'", PAYLOAD + bytes(64))), ("b.npy", _npy("'<i4'", bytes(4)))]
    bases: list[tuple[str, str, Callable[[], bytes]]] = [
        ("x.zip", "pandas", lambda: _zip([("a", PAYLOAD + bytes(64))])),
        ("x.npz", "numpy", lambda: _zip(npz)),
        ("x.gz", "pandas", lambda: gzip.compress(PAYLOAD + bytes(64))),
        ("x.tar", "pandas", lambda: _tar([("a", PAYLOAD + bytes(64))])),
        ("x.pt", "torch", lambda: _torch_zip(_Lazy("torch"), PAYLOAD + bytes(64))),
    ]
    return [base for base in bases if _installed(base[1])]


def _mutate(data: bytes, rng: Any) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(out))
        out[at] = rng.choice([0, 0xFF, out[at] ^ (1 << rng.randrange(8)), rng.randrange(256)])
    if rng.random() < 0.2:
        del out[rng.randrange(len(out)) :]
    return bytes(out)


def test_mutated_layers_never_hide_what_the_consumer_looks_up(tmp_path: Path) -> None:
    """60 seeded mutations of each container (flipped bytes in headers, names, sizes,
    CRCs, data; truncation): whatever a consumer still looks up, the scan reports, and
    a file the consumer takes a payload from never scans as safe."""
    import random

    rng = random.Random(14)
    by_consumer: dict[str, list[Path]] = {}
    bases = _mutation_bases()
    if not bases:
        pytest.skip("no consumer installed")
    for number, (filename, consumer, build) in enumerate(bases):
        data = build()
        for i in range(60):
            folder = tmp_path / f"{number}-{i}"
            folder.mkdir()
            (folder / filename).write_bytes(_mutate(data, rng))
            by_consumer.setdefault(consumer, []).append(folder / filename)
    reached = 0
    for consumer, paths in by_consumer.items():
        args = [sys.executable, "-c", _RUNNER, consumer, *map(str, paths)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        for path in paths:
            code, report = _scan(path)
            assert code in (0, 1, 2)
            looked_up = set(seen[str(path)])
            if not looked_up:
                continue
            reached += 1
            reported = {use["name"] for found in report["pickles"] for use in found["globals"]}
            assert looked_up <= reported, (path, looked_up, report["errors"], report["unscanned"])
            assert code != 0, path
    assert reached > 20 * len(bases)  # most mutations leave the payload reachable
