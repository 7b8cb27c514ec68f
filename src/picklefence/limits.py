"""Resource limits for a load (guarantee G5).

Every default is finite.  Limits that a length prefix could abuse are also checked
against the bytes actually left in the input before anything is allocated, so a
29-byte pickle can never claim a gigabyte.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds on what one load may use.

    ``max_input_bytes``: total bytes a single pickle may span (frames and arguments).
    ``max_memo_entries``: number of distinct memo slots (PUT/BINPUT/MEMOIZE).
    ``max_memo_index``: largest memo index a PUT or GET may name.
    ``max_mark_depth``: MARK nesting depth (the stack itself holds at most one value
    per input byte, so ``max_input_bytes`` bounds it).
    ``max_string_bytes``: length of one str/bytes/bytearray argument.
    ``max_calls``: REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ and BUILD executed.
    ``max_globals``: global lookups (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT*).
    ``max_int_digits``: decimal digits of a text-encoded int (INT/LONG opcodes).
    ``max_decompressed_bytes``: size a gzip/bz2/xz/zip-wrapped pickle may unpack to
    (``load``/``loads`` unwrap them; a larger one is refused as a decompression bomb).
    ``max_decompression_ratio``: beyond the first 16 MiB, compressed data may inflate to
    at most this many times its compressed size.  Deflate (gzip, zip, zlib) cannot
    exceed 1032x, so the default refuses only bz2/xz/lzma bombs.
    ``max_amplification`` and ``amplification_floor``: the amplification budget, as
    defusedxml bounds entity expansion.  The memory that allowed calls and BUILDs create
    (measured on what they return, and announced by checks before they allocate what
    their arguments tell, such as an array's shape) may be at most
    ``amplification_floor + max_amplification * input bytes``: a small pickle cannot make
    an allowed ``bytearray()`` copy one memoized buffer a thousand times.  Objects that
    only hold what the input spells (strings, containers, array bytes) stay far below it.
    """

    max_input_bytes: int = 16 * 1024**3
    max_memo_entries: int = 50_000_000
    max_memo_index: int = 2**32 - 1
    max_mark_depth: int = 100_000
    max_string_bytes: int = 8 * 1024**3
    max_calls: int = 50_000_000
    max_globals: int = 10_000_000
    max_int_digits: int = 4300
    max_decompressed_bytes: int = 2 * 1024**3
    max_decompression_ratio: int = 1100
    max_amplification: int = 16
    amplification_floor: int = 64 * 1024**2

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"Limits.{name} must be a non-negative int, got {value!r}")
