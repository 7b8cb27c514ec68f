"""A bounded reader of UBJSON, the binary JSON that xgboost pickles its models in.

xgboost's ``Booster.__setstate__`` hands the pickled bytes to its C++ parser, which
trusts the model they describe; picklefence reads them first, in pure Python, to check
that model (``_validators/_xgboost.py``).  This reader never allocates more than the
input holds (every count and length is checked against the bytes left), nests at most
``MAX_DEPTH`` deep, and refuses anything it does not know (high-precision numbers, bad
UTF-8, trailing bytes) rather than guessing.  Typed arrays (``[$type#count``) come back
as :class:`array.array` of the matching item type, so a million-node tree is one
allocation and the caller can tell an int array from a float one, as xgboost does.
"""

from __future__ import annotations

import struct
import sys
from array import array
from typing import Any

__all__ = ["MAX_DEPTH", "TYPED", "UBJSONError", "parse"]

MAX_DEPTH = 64

#: scalar markers: struct format (big-endian) and the array typecode of a typed array
_SCALARS: dict[int, tuple[str, str]] = {
    ord("i"): (">b", "b"),
    ord("U"): (">B", "B"),
    ord("I"): (">h", "h"),
    ord("l"): (">i", "i"),
    ord("L"): (">q", "q"),
    ord("d"): (">f", "f"),
    ord("D"): (">d", "d"),
}
#: the UBJSON marker of each typed-array item type (for writers of forged models in tests)
TYPED = {code: chr(marker) for marker, (_, code) in _SCALARS.items()}
_SWAP = sys.byteorder == "little"


class UBJSONError(ValueError):
    """The bytes are not UBJSON this reader accepts; the message says where."""


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, problem: str) -> UBJSONError:
        return UBJSONError(f"{problem} at byte {self.pos}")

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("truncated")
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise self.fail(f"a length of {n} reaches past the end")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def number(self, marker: int) -> int | float:
        fmt = _SCALARS.get(marker)
        if fmt is None:
            raise self.fail(f"unknown marker {chr(marker)!r}")
        value: int | float = struct.unpack(fmt[0], self.take(struct.calcsize(fmt[0])))[0]
        return value

    def count(self, marker: int) -> int:
        """A length or count: an integer marker and a value that is not negative."""
        if marker not in _SCALARS or _SCALARS[marker][1] in "fd":
            raise self.fail(f"a length must be an integer, not {chr(marker)!r}")
        n = self.number(marker)
        assert isinstance(n, int)
        if n < 0:
            raise self.fail(f"negative length {n}")
        return n

    def string(self) -> str:
        raw = self.take(self.count(self.byte()))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("a string is not UTF-8") from None

    def value(self, marker: int, depth: int) -> Any:
        if marker == ord("{"):
            return self.object(depth + 1)
        if marker == ord("["):
            return self.array(depth + 1)
        if marker == ord("S"):
            return self.string()
        if marker == ord("C"):
            return chr(self.byte())
        if marker == ord("Z"):
            return None
        if marker in (ord("T"), ord("F")):
            return marker == ord("T")
        return self.number(marker)

    def next_marker(self) -> int:
        marker = self.byte()
        while marker == ord("N"):  # no-op
            marker = self.byte()
        return marker

    def object(self, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH}")
        if self.data[self.pos : self.pos + 1] in (b"$", b"#"):
            raise self.fail("counted or typed objects are not read")
        out: dict[str, Any] = {}
        while True:
            marker = self.next_marker()
            if marker == ord("}"):
                return out
            key = self.take(self.count(marker)).decode("utf-8", "strict")
            if key in out:
                raise self.fail(f"key {key!r} appears twice")
            out[key] = self.value(self.next_marker(), depth)

    def array(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH}")
        item_type: int | None = None
        if self.data[self.pos : self.pos + 1] == b"$":
            self.pos += 1
            item_type = self.byte()
            if self.byte() != ord("#"):
                raise self.fail("a typed array without a count")
        elif self.data[self.pos : self.pos + 1] == b"#":
            self.pos += 1
        else:
            items = []
            while (marker := self.next_marker()) != ord("]"):
                items.append(self.value(marker, depth))
            return items
        n = self.count(self.byte())
        if item_type is None:
            if n > len(self.data) - self.pos:  # every item takes a byte at least
                raise self.fail(f"a count of {n} reaches past the end")
            return [self.value(self.next_marker(), depth) for _ in range(n)]
        if item_type not in _SCALARS:
            raise self.fail(f"typed arrays of {chr(item_type)!r} are not read")
        fmt, code = _SCALARS[item_type]
        values = array(code)
        values.frombytes(self.take(n * struct.calcsize(fmt)))
        if _SWAP and values.itemsize > 1:
            values.byteswap()
        return values


def parse(data: bytes | bytearray | memoryview) -> Any:
    """The value ``data`` holds, entirely; :class:`UBJSONError` for anything else."""
    reader = _Reader(bytes(data))
    try:
        value = reader.value(reader.next_marker(), 0)
    except UnicodeDecodeError:
        raise reader.fail("a key is not UTF-8") from None
    if reader.pos != len(reader.data):
        raise reader.fail("trailing bytes")
    return value
