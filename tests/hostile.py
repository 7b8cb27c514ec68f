"""Builders for hand-made pickles: small enough to read, exact enough to attack with."""

from __future__ import annotations

import struct


def g(module: str, name: str) -> bytes:
    """GLOBAL module name."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def u(text: str) -> bytes:
    """BINUNICODE text."""
    raw = text.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(raw)) + raw


def i(value: int) -> bytes:
    """An int, as BININT when it fits, else as text INT."""
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    return b"I" + str(value).encode() + b"\n"


def t(*items: bytes) -> bytes:
    """MARK items TUPLE."""
    return b"(" + b"".join(items) + b"t"


def call(func: bytes, *args: bytes) -> bytes:
    """func(*args) via REDUCE."""
    return func + t(*args) + b"R"


def sg(module: str, name: str) -> bytes:
    """STACK_GLOBAL module name (protocol 4)."""
    return u(module) + u(name) + b"\x93"


def stop(body: bytes, proto: int | None = None) -> bytes:
    head = b"\x80" + bytes([proto]) if proto is not None else b""
    return head + body + b"."
