"""The opcode table, taken from :mod:`pickletools` rather than retyped."""

from __future__ import annotations

import pickletools
from collections.abc import Mapping
from types import MappingProxyType

#: opcode byte -> pickletools name, for every opcode of protocols 0-5.
NAMES: Mapping[int, str] = MappingProxyType({ord(op.code): op.name for op in pickletools.opcodes})

#: pickletools name -> opcode byte.
CODES: Mapping[str, int] = MappingProxyType({name: code for code, name in NAMES.items()})


def name_of(code: int) -> str:
    """The opcode's name; -1 stands for the end of the input, where one was expected."""
    if code < 0:
        return "end of input"
    return NAMES.get(code, f"invalid opcode {bytes([code])!r}")
