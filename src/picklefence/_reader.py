"""Byte sources for the engine, with FRAME bookkeeping.

Both readers enforce the same framing rule as CPython's pure-Python unpickler: once a
FRAME is open, every opcode and argument must lie inside it.  An argument that
straddles the frame's end makes the stream malformed, so opcodes can never hide inside
a string that a scanner would see as data (cpython gh-154848).
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable
from typing import Any, Protocol

from .errors import LimitExceededError, MalformedPickleError, TruncatedPickleError

_CHUNK = 1 << 20


class Reader(Protocol):
    offset: int

    def begin(self, max_bytes: int) -> None:
        """Start a pickle, which may span at most ``max_bytes`` from here."""

    def read(self, n: int) -> bytes: ...

    def readline(self) -> bytes: ...

    def open_frame(self, size: int) -> None: ...

    def read_bytearray(self, n: int) -> bytearray: ...


def _truncated(what: str = "pickle data was truncated") -> TruncatedPickleError:
    return TruncatedPickleError(what)


def _straddle() -> MalformedPickleError:
    return MalformedPickleError("an opcode or its argument straddles the end of a FRAME")


class BytesReader:
    """Reads from an in-memory ``bytes`` object (or a memory-mapped file)."""

    __slots__ = ("data", "end", "frame_end", "in_frame", "limit", "offset")

    def __init__(self, data: bytes | mmap.mmap) -> None:
        self.data = data
        self.offset = 0
        self.end = self.frame_end = self.limit = len(data)
        self.in_frame = False

    def begin(self, max_bytes: int) -> None:
        self.limit = self.offset + max_bytes
        self.end = self.frame_end = min(len(self.data), self.limit)
        self.in_frame = False

    def read(self, n: int) -> bytes:
        pos = self.offset
        new = pos + n
        if new > self.frame_end:
            self._leave_frame(pos)
            if new > self.end:
                self._past_end(new)
        self.offset = new
        return self.data[pos:new]

    def read_bytearray(self, n: int) -> bytearray:
        """The next ``n`` bytes as a bytearray, copied once (BYTEARRAY8's payload)."""
        pos = self.offset
        self.skip(n)
        with memoryview(self.data) as view:
            return bytearray(view[pos : pos + n])

    def skip(self, n: int) -> None:
        """Move past ``n`` bytes without copying them (the scanner skips payloads)."""
        pos = self.offset
        new = pos + n
        if new > self.frame_end:
            self._leave_frame(pos)
            if new > self.end:
                self._past_end(new)
        self.offset = new

    def readline(self) -> bytes:
        pos = self.offset
        i = self.data.find(b"\n", pos, self.frame_end)
        if i < 0:
            self._leave_frame(pos)
            i = self.data.find(b"\n", pos, self.end)
            if i < 0:
                self._past_end(self.end + 1)
        self.offset = i + 1
        return self.data[pos : i + 1]

    def _leave_frame(self, pos: int) -> None:
        if self.in_frame:
            if pos != self.frame_end:
                raise _straddle()
            self.in_frame = False
            self.frame_end = self.end

    def _past_end(self, new: int) -> None:
        if new > self.limit:
            raise LimitExceededError(
                f"the pickle spans more than Limits.max_input_bytes={self.limit}",
                limit="max_input_bytes",
                value=new,
            )
        raise _truncated()

    def open_frame(self, size: int) -> None:
        if self.in_frame and self.offset != self.frame_end:
            raise MalformedPickleError("a new FRAME begins before the end of the current one")
        end = self.offset + size
        if end > self.end:
            self._past_end(end)
        self.in_frame = True
        self.frame_end = end


class FileReader:
    """Reads from a binary file object, never past the end of the pickle.

    A frame is read whole (as CPython does) and served from memory; outside frames,
    reads go straight to the file.  A long argument is read in one piece when the file
    is a regular file that holds it (so a large array is read once, into its final
    object, as ``pickle.load`` does), else in chunks, so that a huge length prefix on
    a short file or a stream never allocates the claimed size.
    """

    __slots__ = ("_read", "_readinto", "_readline", "_seek", "_size", "_tell", "fpos", "frame", "limit", "offset")

    def __init__(self, file: object) -> None:
        try:
            self._read = file.read  # type: ignore[attr-defined]
            self._readline = file.readline  # type: ignore[attr-defined]
        except AttributeError:
            raise TypeError("file must have 'read' and 'readline' attributes") from None
        self._readinto: Callable[[memoryview], int | None] | None = getattr(file, "readinto", None)
        seekable = getattr(file, "seekable", None)
        try:
            self._seek: Callable[[int, int], int] | None = file.seek if seekable is not None and seekable() else None  # type: ignore[attr-defined]
        except (OSError, ValueError):
            self._seek = None
        self._size, self._tell = regular_file_size(file)
        self.offset = 0
        self.limit = 0
        self.frame: bytes | None = None
        self.fpos = 0

    def _holds(self, n: int) -> bool:
        """Whether the file is a regular file with at least ``n`` bytes left."""
        if self._size is None or self._tell is None:
            return False
        try:
            return self._size - self._tell() >= n
        except (OSError, ValueError):
            return False

    def begin(self, max_bytes: int) -> None:
        self.limit = self.offset + max_bytes

    def _check_limit(self, new: int) -> None:
        if new > self.limit:
            raise LimitExceededError(
                f"the pickle spans more than Limits.max_input_bytes={self.limit}",
                limit="max_input_bytes",
                value=new,
            )

    def read(self, n: int) -> bytes:
        frame = self.frame
        if frame is not None:
            pos = self.fpos
            new = pos + n
            if new <= len(frame):
                self.fpos = new
                self.offset += n
                return frame[pos:new]
            if pos != len(frame):
                raise _straddle()
            self.frame = None
        self._check_limit(self.offset + n)
        data = self._read_exact(n)
        self.offset += n
        return data

    def _read_exact(self, n: int) -> bytes:
        if n <= _CHUNK or self._holds(n):
            data = self._read(n)
            if len(data) == n:
                return bytes(data)
            parts = [data] if data else []
            got = len(data)
        else:
            parts, got = [], 0
        while got < n:
            part = self._read(min(n - got, _CHUNK))
            if not part:
                raise _truncated()
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def read_bytearray(self, n: int) -> bytearray:
        if self.frame is not None or n <= _CHUNK or self._readinto is None or not self._holds(n):
            return bytearray(self.read(n))
        self._check_limit(self.offset + n)
        out = bytearray(n)
        with memoryview(out) as view:
            got = 0
            while got < n:
                step = self._readinto(view[got:])
                if not step:
                    raise _truncated()
                got += step
        self.offset += n
        return out

    def skip(self, n: int) -> None:
        """Move past ``n`` bytes, holding at most one chunk of them at a time."""
        while n > 0:
            step = min(n, _CHUNK)
            self.read(step)
            n -= step

    def readline(self) -> bytes:
        frame = self.frame
        if frame is not None:
            pos = self.fpos
            i = frame.find(b"\n", pos)
            if i >= 0:
                self.fpos = i + 1
                self.offset += i + 1 - pos
                return frame[pos : i + 1]
            if pos != len(frame):
                raise _straddle()
            self.frame = None
        line = self._readline()
        if not line.endswith(b"\n"):
            raise _truncated()
        self.offset += len(line)
        self._check_limit(self.offset)
        return bytes(line)

    def give_back_frame(self) -> None:
        """After STOP: seek back over the rest of the current frame, so the file is
        left just after STOP as ``pickle.load`` leaves a regular file (a file that
        cannot seek stays at the frame's end, as ``pickle.load`` leaves it)."""
        frame = self.frame
        if frame is not None and self.fpos < len(frame) and self._seek is not None:
            self._seek(self.fpos - len(frame), os.SEEK_CUR)
            self.frame = None

    def open_frame(self, size: int) -> None:
        if self.frame is not None and self.fpos != len(self.frame):
            raise MalformedPickleError("a new FRAME begins before the end of the current one")
        self._check_limit(self.offset + size)
        self.frame = self._read_exact(size)
        self.fpos = 0


def regular_file_size(file: Any) -> tuple[int | None, Callable[[], int] | None]:
    """The size of ``file`` and its ``tell``, if it is a seekable regular file (else Nones)."""
    try:
        status = os.fstat(file.fileno())
        if stat.S_ISREG(status.st_mode) and file.seekable():
            return status.st_size, file.tell
    except (AttributeError, OSError, ValueError, TypeError):
        pass
    return None, None
