"""Layers that cannot be parsed fail closed; decompression is bounded; the audit is
linear; ``load`` leaves a file just after STOP.

Every damaged layer is a row: ``loads`` and ``load`` raise a picklefence error naming
what is wrong (never zipfile's, zlib's or lzma's own exceptions), and ``scan`` reports
the file as an error (exit 2) with that reason while still scanning the next file.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
import os
import pickle
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import picklefence
from picklefence import LimitExceededError, Limits, MalformedPickleError, UnpicklingError
from picklefence._containers import contents
from picklefence.cli import main

GOOD = pickle.dumps({"a": [1, 2]}, 4)


def _zip(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def _patch_both_headers(data: bytes, offsets: tuple[int, int], value: bytes) -> bytes:
    """Write ``value`` at an offset of the (first) local header and central entry."""
    out = bytearray(data)
    for magic, at in zip((b"PK\x03\x04", b"PK\x01\x02"), offsets, strict=True):
        start = out.index(magic) + at
        out[start : start + len(value)] = value
    return bytes(out)


def _bad_crc(data: bytes) -> bytes:
    return _patch_both_headers(data, (14, 16), b"\xde\xad\xbe\xef")


def _local_name(data: bytes) -> bytes:
    out = bytearray(data)
    at = out.index(b"PK\x03\x04") + 30
    out[at] ^= 0x20  # the local header names "A", the central directory "a"
    return bytes(out)


def _gzip_bad_crc(data: bytes) -> bytes:
    return data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:]


# A 15-byte lzma "alone" header: properties, a 2 GiB dictionary, unknown size.
LZMA_2GIB = b"\x5d" + (2**31).to_bytes(4, "little") + b"\xff" * 8 + b"\x00\x00"

MALFORMED: list[tuple[str, bytes, type[UnpicklingError], str]] = [
    ("zip-bad-crc", _bad_crc(_zip([("a", GOOD)])), MalformedPickleError, "Bad CRC-32"),
    (
        "zip-unknown-method",
        _patch_both_headers(_zip([("a", GOOD)]), (8, 10), b"\x63\x00"),
        MalformedPickleError,
        "compression method",
    ),
    ("zip-encrypted", _patch_both_headers(_zip([("a", GOOD)]), (6, 8), b"\x01\x00"), MalformedPickleError, "encrypted"),
    ("zip-local-name-differs", _local_name(_zip([("a", GOOD)])), MalformedPickleError, "differ"),
    ("zip-truncated", _zip([("a", GOOD)])[:-30], MalformedPickleError, "corrupt zip"),
    ("zip-two-members", _zip([("a", GOOD), ("b", GOOD)]), MalformedPickleError, "one file, not 2"),
    ("gzip-truncated", gzip.compress(GOOD)[:-12], MalformedPickleError, "truncated gzip"),
    ("gzip-bad-crc", _gzip_bad_crc(gzip.compress(GOOD)), MalformedPickleError, "corrupt gzip"),
    ("bz2-corrupt", bz2.compress(GOOD)[:10] + b"\x00" * 30, MalformedPickleError, "bz2"),
    ("xz-corrupt", lzma.compress(GOOD)[:20] + b"\x00" * 30, MalformedPickleError, "xz"),
    ("zlib-corrupt", zlib.compress(GOOD)[:4] + b"\xff" * 20, MalformedPickleError, "zlib"),
    ("lzma-2gib-dictionary", LZMA_2GIB + b"\x00" * 64, MalformedPickleError, "Memory usage limit"),
    ("gzip-of-zeros", gzip.compress(bytes(1 << 20)), MalformedPickleError, "holds no pickle"),
    (
        "bz2-ratio-bomb",
        bz2.compress(b"\x80\x04\x8e" + (1 << 30).to_bytes(8, "little") + bytes(1 << 25)),
        LimitExceededError,
        "decompression bomb",
    ),
]


@pytest.mark.parametrize(("data", "error", "reason"), [r[1:] for r in MALFORMED], ids=[r[0] for r in MALFORMED])
def test_loads_and_load_raise_picklefence_errors_only(data: bytes, error: type[Exception], reason: str) -> None:
    for attempt in (lambda: picklefence.loads(data), lambda: picklefence.load(io.BytesIO(data))):
        with pytest.raises(UnpicklingError) as caught:
            attempt()
        assert isinstance(caught.value, error), repr(caught.value)
        assert reason in str(caught.value)


def test_scan_reports_each_malformed_file_and_scans_the_next(tmp_path: Path) -> None:
    for name, data, _error, _reason in MALFORMED:
        if name != "zip-two-members":  # two pickles in a zip are two members to scan, not an error
            (tmp_path / name).write_bytes(data)
    (tmp_path / "zz-good.pkl").write_bytes(GOOD)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["scan", "--json", "--quiet", "-r", str(tmp_path)])
    report = json.loads(out.getvalue())
    assert code == 2 and not err.getvalue()
    errors = {Path(e["path"]).name: e["error"] for e in report["errors"]}
    for name, _data, _error, reason in MALFORMED:
        if name != "zip-two-members":
            assert reason in errors.get(name, ""), (name, errors.get(name))
    good = [p for p in report["pickles"] if p["path"].endswith("zz-good.pkl")]
    assert [p["verdict"] for p in good] == ["safe"]


def test_a_tiny_lzma_header_asking_for_2_gib_is_refused_fast() -> None:
    begin = time.perf_counter()
    with pytest.raises(MalformedPickleError, match="Memory usage limit"):
        picklefence.loads(LZMA_2GIB + b"\x00" * 64)
    assert time.perf_counter() - begin < 1


def test_decompression_is_bounded_by_ratio_beyond_the_free_allowance() -> None:
    small = bz2.compress(b"\x80\x04\x8e" + (3 << 20).to_bytes(8, "little") + bytes(3 << 20) + b".")
    assert picklefence.loads(small) == bytes(3 << 20)  # within the 16 MiB any data may use
    big = bz2.compress(b"\x80\x04\x8e" + (20 << 20).to_bytes(8, "little") + bytes(20 << 20) + b".")
    assert len(big) * Limits().max_decompression_ratio < 20 << 20
    with pytest.raises(LimitExceededError, match="max_decompression_ratio"):
        picklefence.loads(big)
    assert len(picklefence.loads(big, limits=Limits(max_decompression_ratio=10**9))) == 20 << 20
    with pytest.raises(LimitExceededError):
        picklefence.loads(small, limits=Limits(max_decompressed_bytes=1 << 20))


def test_a_concatenated_gzip_stream_is_read_whole_as_pandas_reads_it() -> None:
    data = GOOD
    packed = gzip.compress(data[:10]) + b"\0" * 4 + gzip.compress(data[10:])
    assert picklefence.loads(packed) == pickle.loads(data)


def test_a_tar_with_one_member_is_scanned(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo("frame")
        info.size = len(GOOD)
        archive.addfile(info, io.BytesIO(GOOD))
    (tmp_path / "x.tar.gz").write_bytes(out.getvalue())
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["scan", "--json", "--quiet", str(tmp_path / "x.tar.gz")])
    report = json.loads(buffer.getvalue())
    assert code == 0
    assert [(p["format"], p["member"], p["verdict"]) for p in report["pickles"]] == [
        ("gzip+tar+pickle", "frame", "safe")
    ]


def test_legacy_torch_files_are_malformed_for_load_and_scan(tmp_path: Path) -> None:
    torch_load = pytest.importorskip("picklefence.torch").load
    pytest.importorskip("torch")
    legacy = pickle.dumps(0x1950A86A20F9469CFC6C, 2) + pickle.dumps(1001, 2) + pickle.dumps({}, 2)
    (tmp_path / "old.pt").write_bytes(legacy)
    with pytest.raises(MalformedPickleError, match="legacy"):
        torch_load(tmp_path / "old.pt")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["scan", "--json", "--quiet", str(tmp_path / "old.pt")])
    report = json.loads(buffer.getvalue())
    assert code == 2 and "legacy" in report["errors"][0]["error"]


# --- the audit is linear in its input ------------------------------------------------


def _dag_pickle(levels: int) -> bytes:
    """``L_0 = []``, ``L_i = [L_(i-1)] * 10`` by memo references, as a call's argument."""
    body = b"]q\x000"
    for level in range(1, levels + 1):
        body += b"](" + (b"h" + bytes([level - 1])) * 10 + b"eq" + bytes([level]) + b"0"
    return b"\x80\x02cbuiltins\nbytearray\n" + body + b"h" + bytes([levels]) + b"\x85R."


def test_auditing_a_dag_of_shared_arguments_takes_linear_time() -> None:
    data = _dag_pickle(14)  # unfolded as a tree: 10**14 nodes
    assert 200 < len(data) < 400
    probe = (
        "import sys, time\n"
        "from picklefence import audit\n"
        f"data = {data!r}\n"
        "begin = time.perf_counter()\n"
        "report = audit(data)\n"
        "print(time.perf_counter() - begin, [g.name for g in report.globals])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seconds, names = result.stdout.split(" ", 1)
    assert float(seconds) < 1 and "builtins:bytearray" in names


# --- load(f) leaves the file just after STOP ------------------------------------------

# The first pickle's FRAME holds its STOP and one more pickle's opcodes.
FRAMED = b"\x80\x04\x95" + (5).to_bytes(8, "little") + b"N." + b"K\x07." + b"\x80\x04K\x09."


class _Pipe:
    """A file that can only be read (a pipe, a socket)."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._file.read(n)

    def readline(self) -> bytes:
        return self._file.readline()


def _twice(load: Any, file: Any) -> list[Any]:
    return [load(file), load(file)]


def test_load_leaves_a_regular_file_just_after_stop(tmp_path: Path) -> None:
    path = tmp_path / "framed.pkl"
    path.write_bytes(FRAMED)
    for load in (pickle.load, picklefence.load, lambda f: picklefence.Unpickler(f).load()):
        with path.open("rb") as file:
            assert _twice(load, file) == [None, 7]


def test_load_leaves_a_seekable_buffer_just_after_stop() -> None:
    for load in (picklefence.load, lambda f: picklefence.Unpickler(f).load()):
        assert _twice(load, io.BytesIO(FRAMED)) == [None, 7]


def test_load_leaves_a_pipe_at_the_frame_end_as_pickle_does() -> None:
    expected = _twice(pickle.load, _Pipe(FRAMED))
    assert expected == [None, 9]
    assert _twice(picklefence.load, _Pipe(FRAMED)) == expected


def test_load_reads_concatenated_framed_pickles_from_a_file_like_pickle(tmp_path: Path) -> None:
    path = tmp_path / "many.pkl"
    with path.open("wb") as file:
        for value in range(5):
            pickle.dump({"v": value, "s": "x" * value}, file, 5)
    with path.open("rb") as file:
        assert [picklefence.load(file) for _ in range(5)] == [{"v": v, "s": "x" * v} for v in range(5)]
        assert file.read() == b""
    assert os.path.getsize(path) > 0


# --- any damage to a layer: picklefence errors only ------------------------------------

_LAYERS = [
    _zip([("a", GOOD)]),
    _zip([("a", GOOD)], zipfile.ZIP_BZIP2),
    gzip.compress(GOOD),
    bz2.compress(GOOD),
    lzma.compress(GOOD),
    lzma.compress(GOOD, lzma.FORMAT_ALONE),
    zlib.compress(GOOD),
]


@given(
    layer=st.sampled_from(_LAYERS),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.none() | st.floats(0, 1),
)
def test_damaged_layers_raise_only_picklefence_errors(
    layer: bytes, edits: list[tuple[float, int]], cut: float | None
) -> None:
    data = bytearray(layer)
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        del data[int(cut * len(data)) :]
    with contextlib.suppress(UnpicklingError):
        picklefence.loads(bytes(data))
    found = contents(bytes(data))
    assert all(isinstance(error, str) for error in found.errors)


def test_joblib_arrays_sharing_a_dtype_build_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")
    from picklefence import _audit

    dtype = np.dtype([(f"f{i}", "<f8") for i in range(50)])
    joblib.dump([np.zeros(1, dtype=dtype) for _ in range(200)], tmp_path / "shared.joblib")
    calls = 0
    real = _audit._real

    def counting(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args)

    monkeypatch.setattr(_audit, "_real", counting)
    (report,) = _audit.audit_all((tmp_path / "shared.joblib").read_bytes(), policy="numpy")
    assert report.error is None and not report.problems
    assert calls < 200 * 5  # once per array for the cached dtype, not once per field per array
