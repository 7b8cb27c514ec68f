"""Builders for hand-made pickles: small enough to read, exact enough to attack with."""

from __future__ import annotations

import importlib.util
import pickletools
import struct

from picklefence import Policy


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


def allowed_modules(data: bytes, policy: str) -> list[str]:
    """The modules of the globals ``data`` names that ``policy`` allows: a load imports
    those (and whatever they import themselves, which depends on the test order)."""
    named, strings = [], []
    ops = pickletools.genops(data)
    while True:
        try:
            op, arg, _ = next(ops)
        except (StopIteration, ValueError):  # (the end, or where a malformed row stops parsing)
            break
        if op.name == "GLOBAL":
            named.append(tuple(arg.split(" ", 1)))
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            named.append((strings[-2], strings[-1]))
        elif isinstance(arg, str):
            strings.append(arg)
    rules = Policy.named(policy)
    return [module for module, name in named if rules.rule(module, name) is not None and _importable(module)]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # (its package is not installed)
        return False
