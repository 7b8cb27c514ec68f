"""Where pickles hide: plain files, compressed files, zip archives (PyTorch checkpoints,
numpy .npz), numpy .npy files with object arrays.  Formats are told by magic bytes,
never by file name, and decompression is bounded."""

from __future__ import annotations

import ast
import bz2
import gzip
import io
import lzma
import mmap
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import LimitExceededError, MalformedPickleError

#: Decompressed size above which a compressed pickle is refused (a decompression bomb).
MAX_DECOMPRESSED = 4 * 1024**3

_ZIP = b"PK\x03\x04"
_GZIP = b"\x1f\x8b"
_BZ2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_NPY = b"\x93NUMPY"
_LZMA_ALONE = b"\x5d\x00\x00"  # EMPTY_LIST then an invalid opcode: never a pickle
_MAX_NPY_HEADER = 100_000  # numpy's own reader refuses more than 10 000 bytes by default


@dataclass
class Source:
    """One pickle stream found in a file: ``member`` names the part of a container it
    came from (``archive/data.pkl``), ``offset`` where it starts in ``data``."""

    format: str
    data: bytes | mmap.mmap
    member: str | None = None
    offset: int = 0


def _decompress(stream: io.BufferedIOBase, limit: int) -> bytes:
    out = bytearray()
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return bytes(out)
        out += chunk
        if len(out) > limit:
            raise LimitExceededError(
                f"decompresses to more than Limits.max_decompressed_bytes={limit} bytes (a decompression bomb?)",
                limit="max_decompressed_bytes",
                value=len(out),
            )


_OPENERS: tuple[tuple[bytes, str, Callable[[io.BytesIO], io.BufferedIOBase]], ...] = (
    (_GZIP, "gzip", lambda raw: gzip.GzipFile(fileobj=raw)),
    (_BZ2, "bz2", bz2.BZ2File),
    (_XZ, "xz", lzma.LZMAFile),
    (_LZMA_ALONE, "lzma", lambda raw: lzma.LZMAFile(raw, format=lzma.FORMAT_ALONE)),  # noqa: SIM115 - opened in a with
)


def decompress(data: bytes | mmap.mmap, limit: int = MAX_DECOMPRESSED) -> tuple[str, bytes] | None:
    """``(format, bytes)`` if ``data`` is gzip, bz2, xz, lzma or zlib compressed (joblib
    writes the last two), else None."""
    head = bytes(data[:6])
    for magic, name, opener in _OPENERS:
        if head.startswith(magic):
            try:
                with opener(io.BytesIO(data)) as stream:
                    return name, _decompress(stream, limit)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise MalformedPickleError(f"corrupt {name} data: {exc}") from None
    if _is_zlib(head):
        try:
            out = zlib.decompressobj().decompress(bytes(data), limit + 1)
        except zlib.error as exc:
            raise MalformedPickleError(f"corrupt zlib data: {exc}") from None
        if len(out) > limit:
            raise LimitExceededError(
                f"decompresses to more than Limits.max_decompressed_bytes={limit} bytes (a decompression bomb?)",
                limit="max_decompressed_bytes",
                value=len(out),
            )
        return "zlib", out
    return None


def _is_zlib(head: bytes) -> bool:
    """A zlib header: deflate (0x78), and a check value that makes it a multiple of 31.
    0x78 is no pickle opcode, so a pickle never starts like this."""
    return len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0


def unwrap(data: bytes, limit: int) -> bytes | None:
    """The pickle inside gzip, bz2, xz or single-file zip data (what ``pandas.to_pickle``
    writes, told by magic bytes as ``pandas.read_pickle`` does), or None if ``data`` is
    not compressed."""
    unpacked = decompress(data, limit)
    if unpacked is not None:
        return unpacked[1]
    if data.startswith(_ZIP):
        archive = _open_zip(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) != 1:
            raise MalformedPickleError(f"a zip-wrapped pickle holds one file, not {len(members)}")
        if members[0].file_size > limit:
            raise LimitExceededError(
                f"the zipped pickle unpacks to {members[0].file_size} bytes, over "
                f"Limits.max_decompressed_bytes={limit}",
                limit="max_decompressed_bytes",
                value=members[0].file_size,
            )
        return archive.read(members[0])
    return None


def is_wrapped(head: bytes) -> bool:
    """Whether these first bytes start compressed or zip-wrapped data."""
    return head.startswith((_GZIP, _BZ2, _XZ, _LZMA_ALONE, _ZIP)) or _is_zlib(head)


def npy_pickle_offset(data: bytes | mmap.mmap) -> int | None:
    """Where the pickle of an object array starts in a .npy file, or None when the
    array holds plain data (no pickle)."""
    if bytes(data[:6]) != _NPY:
        return None
    major = data[6]
    if major == 1:
        header_len = int.from_bytes(data[8:10], "little")
        start = 10
    elif major in (2, 3):
        header_len = int.from_bytes(data[8:12], "little")
        start = 12
    else:
        raise MalformedPickleError(f"unknown .npy format version {major}")
    if header_len > _MAX_NPY_HEADER:
        raise MalformedPickleError(f".npy header of {header_len} bytes (numpy writes at most a few hundred)")
    try:
        header = ast.literal_eval(bytes(data[start : start + header_len]).decode("latin1"))
    except (ValueError, SyntaxError) as exc:
        raise MalformedPickleError(f"unreadable .npy header: {exc}") from None
    descr = header.get("descr") if isinstance(header, dict) else None
    if not _has_object(descr):
        return None
    return start + header_len


def _has_object(descr: object) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, list):
        return any(isinstance(f, tuple) and len(f) >= 2 and _has_object(f[1]) for f in descr)
    return False


def sources(path: Path, limit: int = MAX_DECOMPRESSED) -> Iterator[Source]:
    """Every pickle stream in the file at ``path``."""
    with path.open("rb") as file:
        if file.read(4) == _ZIP:
            yield from _zip_sources(_open_zip(path), limit, None)
            return
        size = path.stat().st_size
        data: bytes | mmap.mmap = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    yield from _sources(data, limit, None)


def _open_zip(file: Path | io.BytesIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise MalformedPickleError(f"corrupt zip archive: {exc}") from None


def _sources(data: bytes | mmap.mmap, limit: int, member: str | None) -> Iterator[Source]:
    head = bytes(data[:6])
    if head.startswith(_ZIP):
        yield from _zip_sources(_open_zip(io.BytesIO(data)), limit, member)
        return
    unpacked = decompress(data, limit)
    if unpacked is not None:
        fmt, raw = unpacked
        for source in _sources(raw, limit, member):
            source.format = f"{fmt}+{source.format}"
            yield source
        return
    if head == _NPY:
        offset = npy_pickle_offset(data)
        if offset is not None:
            yield Source("npy", data, member, offset)
        return
    yield Source("pickle", data, member)


def _zip_sources(archive: zipfile.ZipFile, limit: int, member: str | None) -> Iterator[Source]:
    for info in archive.infolist():
        name = info.filename
        if not name.endswith((".pkl", ".npy", ".pickle")):
            continue
        if info.file_size > limit:
            raise LimitExceededError(
                f"{name} unpacks to {info.file_size} bytes", limit="max_decompressed_bytes", value=info.file_size
            )
        raw = archive.read(info)
        inner = f"{member}/{name}" if member else name
        for source in _sources(raw, limit, inner):
            source.format = f"zip+{source.format}"
            yield source
