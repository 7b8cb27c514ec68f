"""Where pickles hide, found as the consumers of a file find them.

One function per format fact, shared by the loaders (``loads``/``load``, ``picklefence.
numpy``, ``picklefence.torch``, ``picklefence.joblib``) and by ``scan``:

- compressed data (gzip, bz2, xz, lzma "alone", zlib) is told by magic bytes, as joblib
  and numpy do, and inflated in bounded steps: at most ``Limits.max_decompressed_bytes``,
  at most ``Limits.max_decompression_ratio`` times the compressed size beyond the first
  :data:`RATIO_FREE_BYTES`, lzma within :data:`LZMA_MEMLIMIT`, and refused at once when the
  first bytes out are neither a pickle opcode nor a known container;
- zip archives are opened with :mod:`zipfile`, as pandas and numpy open them (a zip with
  bytes in front is still a zip to them), members are told by content, never by name;
- ``.npy`` headers are parsed by numpy's own header parser, and "holds a pickle" is
  numpy's own ``dtype.hasobject``;
- a torch checkpoint's ``data.pkl`` is found by torch's record lookup (the first entry's
  folder, names compared case-insensitively);
- tar archives (pandas reads ``.tar*`` files; pre-1.6 torch wrote them) are read with
  :mod:`tarfile`.

Anything that cannot be parsed raises a picklefence error in the loaders and is reported
as malformed by the scanner, which still scans the other members.
"""

from __future__ import annotations

import bz2
import contextlib
import copy
import gzip
import importlib
import io
import lzma
import mmap
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from .errors import LimitExceededError, MalformedPickleError, UnpicklingError
from .limits import Limits

Data = bytes | bytearray | mmap.mmap

#: Output up to this size is allowed whatever the compression ratio (a small file of
#: zeros legitimately compresses far better than ``max_decompression_ratio``).
RATIO_FREE_BYTES = 16 << 20
#: Memory an lzma/xz decoder may use: ``xz -9`` needs 65 MiB; a forged 15-byte header
#: asking for a 2 GiB dictionary is refused before anything is allocated.
LZMA_MEMLIMIT = 256 << 20
_MAX_DEPTH = 8  # containers inside containers
_MAX_NPY_HEADER = 1 << 20  # numpy writes a few hundred bytes; allow_pickle lifts numpy's cap
_HEAD = 512  # bytes looked at to tell a format (a tar header is 512 bytes)
_IN_CHUNK = 64 << 10
_OUT_CHUNK = 1 << 20
_RECOVER = 1 << 20  # compressed data up to this size is re-read to recover what precedes an error

ZIP = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
NPY = b"\x93NUMPY"
_GZIP = b"\x1f\x8b"
_BZ2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_LZMA_ALONE = b"\x5d\x00\x00"  # EMPTY_LIST then an invalid opcode: never a pickle
_PICKLE_FIRST_BYTES = frozenset(b"().012BCFGIJKLMNPQRSTUVX]abcdeghijlopqrstu}" + bytes(range(0x80, 0x99)))
#: ``torch.save``'s pre-1.6 format starts with this pickle of its magic number.
LEGACY_TORCH = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
_LEGACY_TORCH_TAR = frozenset({"sys_info", "pickle", "storages", "tensors"})


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class _Zlib:
    """zlib's decompressor with the ``needs_input`` interface of bz2's and lzma's."""

    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        return self._d.decompress(self._d.unconsumed_tail + data, max_length)


@dataclass(frozen=True)
class _Codec:
    name: str
    magic: bytes
    new: Callable[[], _Decompressor]
    zero_padding: bool = False  # gzip readers skip zero bytes between members


def _is_zlib(head: bytes) -> bool:
    """A zlib header (what joblib writes): deflate (0x78), and a check value that makes
    it a multiple of 31.  0x78 is no pickle opcode, so a pickle never starts like this."""
    return len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0


_CODECS = (
    _Codec("gzip", _GZIP, lambda: _Zlib(31), zero_padding=True),
    _Codec("bz2", _BZ2, bz2.BZ2Decompressor),
    _Codec("xz", _XZ, lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=LZMA_MEMLIMIT)),
    _Codec("lzma", _LZMA_ALONE, lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE, memlimit=LZMA_MEMLIMIT)),
)
_ZLIB = _Codec("zlib", b"\x78", lambda: _Zlib(15))


def _codec(head: bytes) -> _Codec | None:
    for codec in _CODECS:
        if head.startswith(codec.magic):
            return codec
    return _ZLIB if _is_zlib(head) else None


def is_wrapped(head: bytes) -> bool:
    """Whether these first bytes start compressed or zip-wrapped data."""
    return head.startswith(ZIP) or _codec(head) is not None


def plausible(head: bytes) -> bool:
    """Whether data starting with ``head`` can be a pickle or a container of one: its
    first byte is a pickle opcode, or it starts like compressed data, npy, zip or tar."""
    return bool(head) and (head[0] in _PICKLE_FIRST_BYTES or is_wrapped(head) or _is_tar(head))


def budget(limits: Limits, compressed: int) -> int:
    """How many bytes ``compressed`` bytes may inflate to (size and ratio bounds)."""
    by_ratio = max(RATIO_FREE_BYTES, limits.max_decompression_ratio * compressed)
    return min(limits.max_decompressed_bytes, by_ratio)


def _bomb(what: str, limit: int, size: int) -> LimitExceededError:
    return LimitExceededError(
        f"{what} inflates to more than {limit} bytes (Limits.max_decompressed_bytes, "
        f"Limits.max_decompression_ratio): a decompression bomb?",
        limit="max_decompressed_bytes",
        value=size,
    )


def _inflate_into(out: bytearray, data: Data, codec: _Codec, limit: int, step: int = _IN_CHUNK) -> None:
    """Inflate ``data`` (one or more concatenated streams, as the consumers' readers
    take them) into ``out``, in bounded steps; what was inflated before an error stays
    in ``out`` (a consumer may already have read it)."""
    view = memoryview(data)
    pos = 0
    stream = codec.new()
    checked = False
    try:
        while True:
            if stream.eof:
                pos = _next_stream(view, pos - len(stream.unused_data), codec)
                if pos >= 0:
                    stream = codec.new()
                    continue
                if not checked:
                    _check_head(out, codec)
                return  # trailing bytes that start no stream: the consumers' readers stop here too
            chunk = b""
            if stream.needs_input:
                if pos >= len(view):
                    raise MalformedPickleError(f"truncated {codec.name} data")
                chunk = bytes(view[pos : pos + step])
                pos += len(chunk)
            out += stream.decompress(chunk, max(1, min(_OUT_CHUNK, limit + 1 - len(out))))
            if len(out) > limit:
                raise _bomb(f"{codec.name} data", limit, len(out))
            if not checked and len(out) >= _HEAD:
                checked = True
                _check_head(out, codec)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
        raise MalformedPickleError(f"corrupt {codec.name} data: {exc}") from None
    finally:
        view.release()


def _check_head(out: bytearray, codec: _Codec) -> None:
    if not plausible(bytes(out[:_HEAD])):
        raise MalformedPickleError(f"{codec.name} data that holds no pickle (it starts with {bytes(out[:8])!r})")


def _next_stream(view: memoryview, pos: int, codec: _Codec) -> int:
    """Where the next concatenated stream starts (after gzip's zero padding), or -1."""
    if codec.zero_padding:
        while pos < len(view) and view[pos] == 0:
            step = bytes(view[pos : pos + _IN_CHUNK])
            pos += len(step) - len(step.lstrip(b"\0"))
    return pos if bytes(view[pos : pos + len(codec.magic)]) == codec.magic else -1


def _lenient_body(data: Data, codec: _Codec) -> tuple[Data, _Codec]:
    """What Python's own gzip reader (pandas' and joblib's) inflates: it skips header
    flags zlib refuses, then reads raw deflate.  Other formats are read as they are."""
    if codec.name != "gzip":
        return data, codec
    file = _as_file(data)
    try:
        gzip._read_gzip_header(file)  # type: ignore[attr-defined]
    except (OSError, EOFError, AttributeError):
        return data, codec
    return bytes(data[file.tell() :]), _Codec("gzip", b"", lambda: _Zlib(-15))


def inflate(data: Data, limits: Limits) -> tuple[str, bytearray] | None:
    """``(format, bytes)`` if ``data`` is gzip, bz2, xz, lzma or zlib compressed (joblib
    writes the last two), else None."""
    codec = _codec(bytes(data[:6]))
    if codec is None:
        return None
    out = bytearray()
    _inflate_into(out, data, codec, budget(limits, len(data)))
    return codec.name, out


class _ViewFile(io.RawIOBase):
    """A read-only, seekable file over bytes, a bytearray or an mmap, without a copy."""

    def __init__(self, data: Data) -> None:
        super().__init__()
        self._data = data
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = (0, self._pos, len(self._data))[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        end = len(self._data) if n is None or n < 0 else min(len(self._data), self._pos + n)
        chunk = bytes(self._data[self._pos : end])
        self._pos = max(self._pos, end)
        return chunk

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _as_file(data: Data) -> BinaryIO:
    return cast(BinaryIO, _ViewFile(data))


def memory_file(data: Data) -> BinaryIO:
    """A buffered binary file reading ``data`` in place (inflated bytes are not copied)."""
    return cast(BinaryIO, io.BufferedReader(_ViewFile(data)))


#: What zipfile raises on a damaged or unsupported archive (CRC, method, encryption, names).
_ZIP_ERRORS: tuple[type[BaseException], ...] = (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError)
_ZIP_ERRORS += (EOFError, ValueError, zlib.error, lzma.LZMAError, KeyError, IndexError, OverflowError)


def open_zip(file: Data | BinaryIO) -> zipfile.ZipFile:
    """The zip archive in ``file``, opened as pandas, numpy and joblib open it."""
    try:
        return zipfile.ZipFile(_as_file(file) if isinstance(file, (bytes, bytearray, mmap.mmap)) else file)
    except _ZIP_ERRORS as exc:
        raise MalformedPickleError(f"corrupt zip archive: {exc}") from None


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, out: bytearray | None = None
) -> bytearray:
    """A zip member's bytes, CRC checked, within the decompression bounds; an unknown
    compression method, an encrypted member, a local header that names another file
    are malformed.  With ``out``, what was read before an error stays in it."""
    out = bytearray() if out is None else out
    limit = budget(limits, info.compress_size)  # the listed sizes bound nothing: read and count
    try:
        with archive.open(info) as member:
            while chunk := member.read(_OUT_CHUNK):
                out += chunk
                if len(out) > limit:
                    raise _bomb(f"zip member {info.filename!r}", limit, len(out))
    except _ZIP_ERRORS as exc:
        raise MalformedPickleError(f"zip member {info.filename!r} cannot be read: {exc}") from None
    return out


def read_member_as_listed(data: Data, info: zipfile.ZipInfo, limits: Limits, most: int | None = None) -> bytearray:
    """A zip member's bytes read as the central directory lists them, as torch's reader
    reads them: the local header's name and flags and the CRC are not checked.  Only
    the scanner reads this way, after :func:`read_member` refused the member, so that
    what such a consumer would run is still reported."""
    if info.flag_bits & 0x1:
        raise MalformedPickleError(f"zip member {info.filename!r} is encrypted")
    local = bytes(data[info.header_offset : info.header_offset + 30])
    if len(local) < 30 or not local.startswith(ZIP):
        raise MalformedPickleError(f"zip member {info.filename!r} has no local header")
    name_size, extra_size = struct.unpack("<HH", local[26:30])
    file = _as_file(data)
    file.seek(info.header_offset + 30 + name_size + extra_size)
    listed = copy.copy(info)
    if hasattr(listed, "CRC"):
        del listed.CRC  # zipfile checks the CRC only of entries that have one
    limit = budget(limits, info.compress_size) if most is None else most
    out = bytearray()
    try:
        with zipfile.ZipExtFile(file, "r", listed) as member:
            while len(out) < limit and (chunk := member.read(min(_OUT_CHUNK, limit - len(out)))):
                out += chunk
    except _ZIP_ERRORS as exc:
        raise MalformedPickleError(f"zip member {info.filename!r} cannot be read: {exc}") from None
    return out


def single_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The one member ``pandas.read_pickle`` reads from a zip (it refuses any other)."""
    names = archive.namelist()
    if len(names) != 1:
        raise MalformedPickleError(f"a zip-wrapped pickle holds one file, not {len(names)}")
    return archive.getinfo(names[0])


def unwrap(data: Data, limits: Limits) -> bytes | None:
    """The pickle inside gzip, bz2, xz, lzma, zlib or single-file zip data (what
    ``pandas.to_pickle`` and joblib write, told by magic bytes), or None if ``data``
    is not compressed."""
    unpacked = inflate(data, limits)
    if unpacked is not None:
        return bytes(unpacked[1])  # the engine's reads must give bytes
    if bytes(data[:4]) == ZIP:
        archive = open_zip(data)
        return bytes(read_member(archive, single_member(archive), limits))
    return None


def torch_record(names: Sequence[str], record: str) -> str | None:
    """The zip member torch's reader returns for ``record`` (``"data.pkl"``), or None.

    torch's reader takes the folder of the first entry as the archive's name, requires
    every entry to be in it, and finds a record by a case-insensitive compare of
    ``folder/record``; two entries it could equally find make the archive ambiguous."""
    if not names or "/" not in names[0]:
        return None
    folder = names[0].split("/", 1)[0] + "/"
    if not all(name.startswith(folder) for name in names):
        return None
    wanted = (folder + record).lower()
    found = [name for name in names if name.lower() == wanted]
    if len(found) > 1:
        raise MalformedPickleError(f"a torch archive with {len(found)} entries named like {folder + record!r}")
    return found[0] if found else None


def _numpy_format() -> Any:
    """numpy's module that ``numpy.load`` reads .npy files with (its own name since 2.0)."""
    for name in ("numpy.lib._format_impl", "numpy.lib.format"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise MalformedPickleError("a .npy array: reading its header needs numpy")


def npy_header(file: BinaryIO) -> tuple[Any, bool, Any]:
    """``(shape, fortran_order, dtype)`` of the .npy file at ``file``'s position, read by
    numpy's own header parser (as ``numpy.load(allow_pickle=True)`` reads it: no header
    size cap there; here at most :data:`_MAX_NPY_HEADER` bytes)."""
    npy = _numpy_format()
    try:
        version = npy.read_magic(file)
        npy._check_version(version)
        return cast(tuple[Any, bool, Any], npy._read_array_header(file, version, max_header_size=_MAX_NPY_HEADER))
    except Exception as exc:  # on hostile headers numpy's parser raises tokenize's, ast's, its own errors
        raise MalformedPickleError(f"unreadable .npy header: {exc}") from None


def npy_pickle_offset(data: Data) -> int | None:
    """Where the pickle of an object array starts in a .npy file, or None when the
    array holds plain data (no pickle)."""
    file = _as_file(data)
    _shape, _fortran, dtype = npy_header(file)
    return file.tell() if dtype.hasobject else None


def _is_tar(head: bytes) -> bool:
    """A tar header block, as :mod:`tarfile` checks it (its checksum)."""
    if len(head) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _has_zip_directory(data: Data) -> bool:
    """Whether :mod:`zipfile` finds a zip's end record in ``data`` (wherever it starts)."""
    try:
        return zipfile.is_zipfile(_as_file(data))
    except _ZIP_ERRORS:
        return False


# --- the scanner's walk ---------------------------------------------------------------


@dataclass
class Source:
    """One pickle stream found in a file: ``member`` names the part of a container it
    came from (``archive/data.pkl``), ``offset`` where it starts in ``data``.  A
    ``probe`` is a reading only ``pickle.load`` of the raw bytes would take (a tar or a
    zip with bytes in front): it is reported only if it reaches a global."""

    format: str
    data: bytes | mmap.mmap
    member: str | None = None
    offset: int = 0
    probe: bool = False


@dataclass(frozen=True)
class Unscanned:
    """A part of a file that no consumer reads as a pickle, and why."""

    member: str | None
    reason: str


@dataclass
class Contents:
    """What a file holds: the pickles to audit, the parts not scanned, and the layers
    that could not be parsed (each makes the file malformed)."""

    sources: list[Source] = field(default_factory=list)
    unscanned: list[Unscanned] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def file_contents(path: Path, limits: Limits | None = None) -> Contents:
    """Every pickle a consumer of the file at ``path`` could read (the file is mapped,
    not read)."""
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        data: Data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    return contents(data, limits)


def contents(data: Data, limits: Limits | None = None) -> Contents:
    """Every pickle a consumer of a file holding ``data`` could read."""
    walk = _Walk(limits if limits is not None else Limits())
    walk.blob(data, None, "", 0, alone=True)
    return walk.found


def _join(member: str | None, name: str) -> str:
    return f"{member}/{name}" if member else name


class _Walk:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.found = Contents()
        self.inflated = 0  # bytes inflated from the whole file, bounded like one member
        self.failed: set[str] = set()

    def error(self, member: str | None, exc: UnpicklingError | str) -> None:
        text = str(exc).split("\n")[0]
        self.found.errors.append(f"{member}: {text}" if member else text)

    def charge(self, n: int, member: str | None) -> bool:
        self.inflated += n
        if self.inflated > self.limits.max_decompressed_bytes:
            self.error(member, _bomb("the file's members together", self.limits.max_decompressed_bytes, self.inflated))
            return False
        return True

    def blob(self, data: Data, member: str | None, prefix: str, depth: int, alone: bool) -> None:
        """Scan ``data``; ``alone``: a consumer reads these bytes as a pickle whatever
        they hold (a whole file, the one member of a zip, a tar member)."""
        if depth > _MAX_DEPTH:
            self.error(member, f"containers nested more than {_MAX_DEPTH} deep")
            return
        head = bytes(data[:_HEAD])
        if head.startswith((ZIP, _EMPTY_ZIP)):
            self.zip(data, member, prefix, depth)
            return
        # zipfile finds a zip by its end record, whatever is in front (pandas reads a
        # ".zip" file so): a gzip, npy, tar or pickle may also be a zip.
        zipped = _has_zip_directory(data)
        if zipped:
            self.zip(data, member, prefix, depth)
        codec = _codec(head)
        if codec is not None:
            self.inflated_blob(data, codec, member, prefix, depth, alone)
            return
        if head.startswith(NPY):
            self.npy(data, member, prefix)
            return
        tar = _is_tar(head)
        if tar:
            self.tar(data, member, prefix, depth)
        if head.startswith(LEGACY_TORCH):
            self.error(member, "the legacy (pre-1.6) torch format is not understood: re-save it with torch.save")
        if alone or head[:1] == b"\x80":
            data = bytes(data) if isinstance(data, bytearray) else data  # the audit's reads must give bytes
            self.found.sources.append(Source(prefix + "pickle", data, member, probe=tar or zipped))
        else:
            self.found.unscanned.append(Unscanned(member, f"not a pickle (starts with {head[:8]!r})"))

    def inflated_blob(
        self, data: Data, codec: _Codec, member: str | None, prefix: str, depth: int, alone: bool
    ) -> None:
        out = bytearray()
        limit = budget(self.limits, len(data))
        try:
            _inflate_into(out, data, codec, limit)
        except UnpicklingError as exc:
            self.error(member, exc)
            if isinstance(exc, LimitExceededError):
                return
            if len(data) <= _RECOVER:  # a byte at a time: keep what a streaming reader got before the error
                out = bytearray()
                body, inner = _lenient_body(data, codec)
                with contextlib.suppress(UnpicklingError):
                    _inflate_into(out, body, inner, limit, step=1)
            if not plausible(bytes(out[:_HEAD])):
                return
        if self.charge(len(out), member):
            self.blob(out, member, f"{prefix}{codec.name}+", depth + 1, alone)

    def npy(self, data: Data, member: str | None, prefix: str) -> None:
        try:
            offset = npy_pickle_offset(data)
        except UnpicklingError as exc:
            self.error(member, exc)
            return
        if offset is None:
            self.found.unscanned.append(Unscanned(member, "a .npy array of plain data (no pickle)"))
        else:
            data = bytes(data) if isinstance(data, bytearray) else data
            self.found.sources.append(Source(prefix + "npy", data, member, offset))

    def zip(self, data: Data, member: str | None, prefix: str, depth: int) -> None:
        try:
            archive = open_zip(data)
        except UnpicklingError as exc:
            self.error(member, exc)
            return
        with archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            try:
                record = torch_record(names, "data.pkl")
            except UnpicklingError as exc:
                self.error(member, exc)
                record = None
            storages = record[: -len("data.pkl")] + "data/" if record else None
            for info in infos:
                inner = _join(member, info.filename)
                if info.filename.endswith("/"):  # a folder (ZipInfo.is_dir fails on an empty name)
                    continue
                # pandas reads the one member of a zip, torch its data.pkl, whatever they hold
                alone = len(infos) == 1 or info.filename.lower().rsplit("/", 1)[-1] == "data.pkl"
                raw = self.member(archive, data, info, inner, _HEAD)
                if raw is None:
                    continue
                head = bytes(raw[:_HEAD])
                if storages and info.filename.startswith(storages) and not head.startswith(NPY):
                    self.found.unscanned.append(Unscanned(inner, "tensor storage (torch reads it as raw bytes)"))
                    continue
                if not (alone or head[:1] == b"\x80" or head.startswith(NPY) or is_wrapped(head)):
                    self.found.unscanned.append(Unscanned(inner, f"not a pickle (starts with {head[:8]!r})"))
                    continue
                raw = self.member(archive, data, info, inner, None)
                if raw is None:
                    continue
                if self.charge(len(raw), inner):
                    self.blob(raw, inner, f"{prefix}zip+", depth + 1, alone)

    def member(
        self, archive: zipfile.ZipFile, data: Data, info: zipfile.ZipInfo, inner: str, most: int | None
    ) -> bytearray | None:
        """A member's bytes (at most ``most`` of them): read by zipfile, or else, with
        the error recorded, as the central directory lists them (what torch reads)."""
        try:
            if most is None:
                return read_member(archive, info, self.limits)
            with archive.open(info) as file:
                return bytearray(file.read(most))
        except _ZIP_ERRORS as exc:
            error: UnpicklingError = MalformedPickleError(f"zip member {info.filename!r} cannot be read: {exc}")
        except UnpicklingError as exc:
            error = exc
        if inner not in self.failed:  # once, whether the head or the whole failed
            self.failed.add(inner)
            self.error(inner, error)
        if isinstance(error, LimitExceededError):
            return None
        try:
            return read_member_as_listed(data, info, self.limits, most)
        except UnpicklingError:
            return None

    def tar(self, data: Data, member: str | None, prefix: str, depth: int) -> None:
        try:
            archive = tarfile.open(fileobj=_as_file(data), mode="r:")  # noqa: SIM115 - in memory, nothing to close
            infos = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            self.error(member, f"corrupt tar archive: {exc}")
            return
        if {info.name for info in infos} >= _LEGACY_TORCH_TAR:
            self.error(member, "the legacy (tar) torch format is not understood: re-save it with torch.save")
        for info in infos:
            inner = _join(member, info.name)
            if not info.isreg():
                kind = "a link to " + repr(info.linkname) if info.islnk() or info.issym() else "not a file"
                self.found.unscanned.append(Unscanned(inner, f"{kind} (its target is scanned on its own)"))
                continue
            if info.size > len(data) or info.sparse:  # only a sparse member holds more than the tar
                self.error(inner, _bomb("sparse tar member", len(data), info.size))
                continue
            try:
                file = archive.extractfile(info)
                raw = file.read() if file is not None else b""
            except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
                self.error(inner, f"corrupt tar member: {exc}")
                continue
            if len(raw) != info.size:
                self.error(inner, "truncated tar member")
            if self.charge(len(raw), inner):
                self.blob(raw, inner, f"{prefix}tar+", depth + 1, alone=True)
