"""Hostile inputs as a table: every case is refused with the expected error type and
leaves no trace — no file written, no module imported, no allowed class or function
changed."""

from __future__ import annotations

import argparse
import collections
import contextlib
import copyreg
import datetime
import decimal
import fractions
import http
import ipaddress
import json
import os
import pathlib
import pickle
import struct
import sys
import types
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import picklefence
from picklefence import (
    LimitExceededError,
    Limits,
    MalformedPickleError,
    Policy,
    PolicyViolation,
    TruncatedPickleError,
    UnpicklingError,
)

from .hostile import call, g, i, sg, stop, t, u

CANARY = "@CANARY@"

# Classes and functions whose state must survive every case unchanged.
_WATCHED: tuple[object, ...] = (
    fractions.Fraction,
    decimal.Decimal,
    collections.OrderedDict,
    collections.defaultdict,
    collections.deque,
    collections.Counter,
    types.SimpleNamespace,
    argparse.Namespace,
    uuid.UUID,
    http.HTTPStatus,
    datetime.datetime,
    ipaddress.IPv4Address,
    pathlib.PurePosixPath,
    zoneinfo.ZoneInfo,
    json.dumps,
    copyreg._reconstructor,
)


def _snapshot() -> dict[str, object]:
    snap: dict[str, object] = {}
    for obj in _WATCHED:
        name = f"{obj.__module__}.{obj.__qualname__}"  # type: ignore[attr-defined]
        snap[name] = dict(vars(obj))
        if isinstance(obj, types.FunctionType):
            snap[name + ".defaults"] = (obj.__defaults__, obj.__kwdefaults__, obj.__code__)
    snap["HTTPStatus.OK"] = dict(vars(http.HTTPStatus.OK))
    snap["sys.path"] = list(sys.path)
    snap["os.environ"] = dict(os.environ)
    return snap


@dataclass(frozen=True)
class Case:
    id: str
    data: bytes
    error: type[UnpicklingError]
    policy: object = "default"
    limits: Limits | None = None
    # for a PolicyViolation: what was refused, as (global or None, capability)
    refused: tuple[str | None, str] | None = None

    def assert_refused(self, exc: BaseException) -> None:
        """The error is the row's type, and a refusal says exactly what it refused."""
        assert isinstance(exc, self.error) and isinstance(exc, UnpicklingError), repr(exc)
        if self.error is PolicyViolation:
            assert self.refused is not None, f"row {self.id!r} must say what is refused"
            assert isinstance(exc, PolicyViolation)
            assert (exc.name, exc.capability) == self.refused, repr(exc)


STDLIB = "stdlib"
CUSTOM_SYS_MODULES = Policy.named("default").allow("sys:modules")
CUSTOM_JSON = Policy.named("default").allow("json:dumps")
CUSTOM_PROCESS = Policy.named("default").allow("sys:path", "os:environ")
_BIG = b"B" + struct.pack("<I", 1 << 16) + b"x" * (1 << 16)  # a payload the fast path hands over as a buffer

CASES: list[Case] = [
    # -- code execution gadgets: refused at lookup, nothing imported ------------------
    Case("os.system", stop(call(g("os", "system"), u(f"touch {CANARY}"))), PolicyViolation, refused=("os:system", "reference")),
    Case("posix.system", stop(call(g("posix", "system"), u(f"touch {CANARY}"))), PolicyViolation, refused=("posix:system", "reference")),
    Case("eval", stop(call(g("builtins", "eval"), u(f"open({CANARY!r}, 'w')"))), PolicyViolation, refused=("builtins:eval", "reference")),
    Case("exec", stop(call(g("builtins", "exec"), u(f"open({CANARY!r}, 'w')"))), PolicyViolation, refused=("builtins:exec", "reference")),
    Case("compile", stop(call(g("builtins", "compile"), u("1"), u("x"), u("eval"))), PolicyViolation, refused=("builtins:compile", "reference")),
    Case("__import__", stop(call(g("builtins", "__import__"), u("this"))), PolicyViolation, refused=("builtins:__import__", "reference")),
    Case("open for writing", stop(call(g("builtins", "open"), u(CANARY), u("w"))), PolicyViolation, refused=("builtins:open", "reference")),
    Case("io.open", stop(call(g("io", "open"), u(CANARY), u("w"))), PolicyViolation, refused=("io:open", "reference")),
    Case("subprocess.Popen", stop(call(g("subprocess", "Popen"), u(f"touch {CANARY}"))), PolicyViolation, refused=("subprocess:Popen", "reference")),
    Case("subprocess.check_output", stop(call(g("subprocess", "check_output"), t(u("touch"), u(CANARY)))), PolicyViolation, refused=("subprocess:check_output", "reference")),
    Case("os.popen", stop(call(g("os", "popen"), u(f"touch {CANARY}"))), PolicyViolation, refused=("os:popen", "reference")),
    Case("shutil.rmtree", stop(call(g("shutil", "rmtree"), u("/nonexistent-picklefence"))), PolicyViolation, refused=("shutil:rmtree", "reference")),
    Case("pickle.loads nested", stop(call(g("pickle", "loads"), b"C\x01N")), PolicyViolation, refused=("pickle:loads", "reference")),
    Case("pydoc.locate", stop(call(g("pydoc", "locate"), u("os.system"))), PolicyViolation, refused=("pydoc:locate", "reference")),
    Case("importlib.import_module", stop(call(g("importlib", "import_module"), u("this"))), PolicyViolation, refused=("importlib:import_module", "reference")),
    Case("operator.attrgetter", stop(call(g("operator", "attrgetter"), u("system"))), PolicyViolation, refused=("operator:attrgetter", "reference")),
    Case("functools.partial", stop(call(g("functools", "partial"), g("builtins", "eval"))), PolicyViolation, refused=("functools:partial", "reference")),
    Case("getattr under default", stop(call(g("builtins", "getattr"), g("builtins", "type"), u("mro"))), PolicyViolation, refused=("builtins:getattr", "reference")),
    Case("numpy runstring", stop(call(g("numpy.testing._private.utils", "runstring"), u(f"open({CANARY!r}, 'w')"), b"}")), PolicyViolation, refused=("numpy.testing._private.utils:runstring", "reference")),
    Case("this (import side effect)", stop(g("this", "s")), PolicyViolation, refused=("this:s", "reference")),
    Case("antigravity (import side effect)", stop(g("antigravity", "fly")), PolicyViolation, refused=("antigravity:fly", "reference")),
    Case("webbrowser.open", stop(call(g("webbrowser", "open"), u("http://127.0.0.1/"))), PolicyViolation, refused=("webbrowser:open", "reference")),
    Case("socket.socket", stop(call(g("socket", "socket"))), PolicyViolation, refused=("socket:socket", "reference")),
    Case("ctypes.CDLL", stop(call(g("ctypes", "CDLL"), u("libc.so.6"))), PolicyViolation, refused=("ctypes:CDLL", "reference")),
    Case("sys.modules", stop(g("sys", "modules")), PolicyViolation, refused=("sys:modules", "reference")),
    Case("__main__ lookup", stop(g("__main__", "anything")), PolicyViolation, refused=("__main__:anything", "reference")),
    Case("INST os.system", b"(" + u(f"touch {CANARY}") + b"ios\nsystem\n.", PolicyViolation, refused=("os:system", "reference")),
    Case("OBJ os.system", b"(" + g("os", "system") + u(f"touch {CANARY}") + b"o.", PolicyViolation, refused=("os:system", "reference")),
    Case("STACK_GLOBAL os.system", stop(sg("os", "system") + t(u(f"touch {CANARY}")) + b"R", 4), PolicyViolation, refused=("os:system", "reference")),
    # -- Python 2 names are renamed before the policy judges them -------------------
    Case("commands.getoutput -> subprocess", stop(call(g("commands", "getoutput"), u(f"touch {CANARY}")), 2), PolicyViolation, refused=("subprocess:getoutput", "reference")),
    Case("__builtin__.eval -> builtins", stop(call(g("__builtin__", "eval"), u(f"open({CANARY!r}, 'w')")), 2), PolicyViolation, refused=("builtins:eval", "reference")),
    Case("urllib2.urlopen -> urllib.request", stop(call(g("urllib2", "urlopen"), u("http://127.0.0.1/")), 2), PolicyViolation, refused=("urllib.request:urlopen", "reference")),
    # -- names match exactly: no dotted walks, no prefixes ---------------------------
    Case("dotted walk to __subclasses__", stop(sg("builtins", "type.__subclasses__"), 4), PolicyViolation, refused=("builtins:type.__subclasses__", "reference")),
    Case("dotted walk to __globals__", stop(sg("collections", "OrderedDict.__init__.__globals__"), 4), PolicyViolation, refused=("collections:OrderedDict.__init__.__globals__", "reference")),
    Case("dotted walk from an allowed class", stop(sg("builtins", "type.mro"), 4), PolicyViolation, refused=("builtins:type.mro", "reference")),
    Case("module prefix is not a match", stop(g("copyreg", "_reconstructor_evil")), PolicyViolation, refused=("copyreg:_reconstructor_evil", "reference")),
    Case("submodule is not a match", stop(g("builtins.sub", "type")), PolicyViolation, refused=("builtins.sub:type", "reference")),
    # -- calls only on allowed globals ------------------------------------------------
    Case("REDUCE on None", b"N)R.", PolicyViolation, refused=(None, "call")),
    Case("REDUCE on a call's result", stop(call(call(g("builtins", "type"), b"N"))), PolicyViolation, refused=(None, "call")),
    Case("REDUCE on a reference-only global", stop(call(g("builtins", "object"))), PolicyViolation, refused=("builtins:object", "call")),
    Case("REDUCE on a memo entry from a call", stop(call(g("builtins", "type"), b"N") + b"q\x000h\x00)R"), PolicyViolation, refused=(None, "call")),
    Case("NEWOBJ without construct", stop(g("collections", "OrderedDict") + b")\x81", 2), PolicyViolation, STDLIB, refused=("collections:OrderedDict", "construct")),
    Case("NEWOBJ_EX without construct", stop(g("collections", "OrderedDict") + b")}\x92", 4), PolicyViolation, STDLIB, refused=("collections:OrderedDict", "construct")),
    Case("NEWOBJ of a reference-only class", stop(g("builtins", "object") + b")\x81", 2), PolicyViolation, refused=("builtins:object", "construct")),
    # -- argument rules: allocation and time bombs through allowed callables --------
    Case("bytes(10**9)", stop(call(g("__builtin__", "bytes"), i(10**9)), 2), PolicyViolation, refused=("builtins:bytes", "arguments")),
    Case("bytearray(1 << 40)", stop(call(g("builtins", "bytearray"), i(1 << 40))), PolicyViolation, refused=("builtins:bytearray", "arguments")),
    Case("set(range(10**9))", stop(call(g("builtins", "set"), call(g("builtins", "range"), i(0), i(10**9), i(1)))), PolicyViolation, refused=("builtins:set", "arguments")),
    Case("frozenset(range(10**9))", stop(call(g("builtins", "frozenset"), call(g("builtins", "range"), i(0), i(10**9), i(1)))), PolicyViolation, refused=("builtins:frozenset", "arguments")),
    Case("deque(range(10**12), 1)", stop(call(g("collections", "deque"), call(g("builtins", "range"), i(0), i(10**12), i(1)), i(1))), PolicyViolation, STDLIB, refused=("collections:deque", "arguments")),
    Case("Fraction('1e100000000')", stop(call(g("fractions", "Fraction"), u("1e100000000"))), PolicyViolation, STDLIB, refused=("fractions:Fraction", "arguments")),
    Case("_codecs.encode rot13", stop(call(g("_codecs", "encode"), u("abc"), u("rot13"))), PolicyViolation, refused=("_codecs:encode", "arguments")),
    Case("_codecs.encode zlib", stop(call(g("_codecs", "encode"), u("abc"), u("zlib"))), PolicyViolation, refused=("_codecs:encode", "arguments")),
    Case("type() with three arguments", stop(call(g("builtins", "type"), u("X"), t(), b"}")), PolicyViolation, refused=("builtins:type", "arguments")),
    Case("complex from a string", stop(call(g("builtins", "complex"), u("1+2j"), i(0))), PolicyViolation, refused=("builtins:complex", "arguments")),
    Case("defaultdict(type)", stop(call(g("collections", "defaultdict"), g("builtins", "type"))), PolicyViolation, STDLIB, refused=("collections:defaultdict", "arguments")),
    Case("getattr on an object the load made", stop(call(g("builtins", "getattr"), g("argparse", "Namespace") + b")\x81", u("__init__")), 2), PolicyViolation, STDLIB, refused=("builtins:getattr", "arguments")),
    Case("getattr(ZoneInfo, '__init__')", stop(call(g("builtins", "getattr"), g("zoneinfo", "ZoneInfo"), u("__init__"))), PolicyViolation, STDLIB, refused=("builtins:getattr", "arguments")),
    Case("ZoneInfo key with a path", stop(call(call(g("builtins", "getattr"), g("zoneinfo", "ZoneInfo"), u("_unpickle")), u("../../../../etc/passwd"), i(1))), PolicyViolation, STDLIB, refused=("zoneinfo:ZoneInfo._unpickle", "arguments")),
    Case("_reconstructor of a non-constructible class", stop(call(g("copy_reg", "_reconstructor"), g("collections", "OrderedDict"), g("__builtin__", "object"), b"N")), PolicyViolation, STDLIB, refused=("copyreg:_reconstructor", "arguments")),
    Case("_reconstructor with an int state for bytes", stop(call(g("copy_reg", "_reconstructor"), g("uuid", "UUID"), g("__builtin__", "bytes"), i(10**9))), PolicyViolation, STDLIB, refused=("copyreg:_reconstructor", "arguments")),
    # -- class, function and global pollution -----------------------------------------
    Case("BUILD on an allowed class (Fraction.__repr__)", stop(g("fractions", "Fraction") + t(b"N", b"}" + u("__repr__") + g("builtins", "type") + b"s") + b"b"), PolicyViolation, STDLIB, refused=("fractions:Fraction", "state")),
    Case("BUILD on an allowed class, dict state", stop(g("fractions", "Fraction") + b"}" + u("_numerator") + i(1) + b"sb"), PolicyViolation, STDLIB, refused=("fractions:Fraction", "state")),
    Case("BUILD __defaults__ on an allowed function", stop(g("json", "dumps") + t(b"N", b"}" + u("__defaults__") + t() + b"s") + b"b"), PolicyViolation, CUSTOM_JSON, refused=("json:dumps", "state")),
    Case("BUILD __kwdefaults__ on an allowed function", stop(g("json", "dumps") + b"}" + u("__kwdefaults__") + b"}sb"), PolicyViolation, CUSTOM_JSON, refused=("json:dumps", "state")),
    Case("BUILD on a builtin function", stop(g("_codecs", "encode") + b"}" + u("x") + i(1) + b"sb"), PolicyViolation, refused=("_codecs:encode", "state")),
    Case("BUILD on an enum member", stop(call(g("http", "HTTPStatus"), i(200)) + b"}" + u("phrase") + u("pwned") + b"sb"), PolicyViolation, STDLIB, refused=("http:HTTPStatus", "state")),
    Case("BUILD __class__ on an instance", stop(g("argparse", "Namespace") + b")\x81}" + u("__class__") + g("uuid", "UUID") + b"sb", 2), PolicyViolation, STDLIB, refused=(None, "state")),
    Case("BUILD __dict__ on an instance", stop(g("argparse", "Namespace") + b")\x81}" + u("__dict__") + b"}sb", 2), PolicyViolation, STDLIB, refused=(None, "state")),
    Case("BUILD non-str key", stop(g("argparse", "Namespace") + b")\x81}" + i(1) + i(2) + b"sb", 2), PolicyViolation, STDLIB, refused=(None, "state")),
    # the inert dunders __doc__ and __name__ only while they hold a str or None
    Case("BUILD __doc__ holding an int", stop(g("argparse", "Namespace") + b")\x81}" + u("__doc__") + i(1) + b"sb", 2), PolicyViolation, STDLIB, refused=(None, "state")),
    Case("BUILD __name__ holding a class", stop(g("argparse", "Namespace") + b")\x81}" + u("__name__") + g("uuid", "UUID") + b"sb", 2), PolicyViolation, STDLIB, refused=(None, "state")),
    Case("BUILD __doc__ holding a list", stop(g("argparse", "Namespace") + b")\x81}" + u("__doc__") + b"]sb", 2), PolicyViolation, STDLIB, refused=(None, "state")),
    Case("BUILD __doc__ in slot state holding an int", stop(g("argparse", "Namespace") + b")\x81" + t(b"N", b"}" + u("__doc__") + i(1) + b"s") + b"b", 2), PolicyViolation, STDLIB, refused=(None, "state")),
    *(
        Case(f"BUILD {key} holding text", stop(g("argparse", "Namespace") + b")\x81}" + u(key) + u("text") + b"sb", 2), PolicyViolation, STDLIB, refused=(None, "state"))
        for key in ("__module__", "__qualname__", "__init__", "__setstate__", "__reduce_ex__", "__getattr__", "__slots__", "__weakref__", "__dict__", "__class__")
    ),
    Case("BUILD key outside state_keys", stop(g("uuid", "UUID") + b")\x81}" + u("node") + i(2) + b"sb", 2), PolicyViolation, STDLIB, refused=("uuid:UUID", "state")),
    Case("BUILD on a class without state", stop(call(g("collections", "OrderedDict")) + b"}" + u("x") + i(1) + b"sb"), PolicyViolation, STDLIB, refused=("collections:OrderedDict", "state")),
    Case("BUILD on a builtin container", stop(b"]}" + u("x") + i(1) + b"sb"), PolicyViolation, refused=("builtins:list", "state")),
    Case("APPENDS on a global class", stop(g("collections", "OrderedDict") + b"(" + i(1) + b"e"), PolicyViolation, STDLIB, refused=("collections:OrderedDict", "items")),
    Case("SETITEMS on a global class", stop(g("collections", "OrderedDict") + b"(" + u("k") + i(1) + b"u"), PolicyViolation, STDLIB, refused=("collections:OrderedDict", "items")),
    Case("SETITEM on sys.modules", stop(g("sys", "modules") + u("os") + b"Ns"), PolicyViolation, CUSTOM_SYS_MODULES, refused=("sys:modules", "items")),
    Case("APPEND on sys.path", stop(g("sys", "path") + u(CANARY) + b"a"), PolicyViolation, CUSTOM_PROCESS, refused=("sys:path", "items")),
    Case("APPENDS on sys.path through the memo", stop(g("sys", "path") + b"q\x000h\x00(" + u(CANARY) + b"e"), PolicyViolation, CUSTOM_PROCESS, refused=("sys:path", "items")),
    Case("SETITEM on os.environ", stop(g("os", "environ") + u("PICKLEFENCE_CANARY") + u("1") + b"s"), PolicyViolation, CUSTOM_PROCESS, refused=("os:environ", "items")),
    Case("BUILD on a global through the memo", stop(g("fractions", "Fraction") + b"q\x000h\x00}" + u("_numerator") + i(1) + b"sb"), PolicyViolation, STDLIB, refused=("fractions:Fraction", "state")),
    Case("a refused global fetched back through a list and the memo", stop(b"]" + g("os", "system") + b"q\x01a0h\x01" + t(u(f"touch {CANARY}")) + b"R"), PolicyViolation, refused=("os:system", "reference")),
    Case("a 64 KiB payload for a refused call", stop(call(g("os", "system"), _BIG)), PolicyViolation, refused=("os:system", "reference")),
    Case("a 64 KiB payload as BUILD state", stop(call(g("collections", "OrderedDict")) + _BIG + b"b"), PolicyViolation, STDLIB, refused=("collections:OrderedDict", "state")),
    Case("ADDITEMS on a global", stop(g("builtins", "object") + b"(" + i(1) + b"\x90", 4), PolicyViolation, refused=("builtins:object", "items")),
    Case("APPEND on an instance without items", stop(call(g("types", "SimpleNamespace")) + i(1) + b"a"), PolicyViolation, STDLIB, refused=("types:SimpleNamespace", "items")),
    Case("READONLY_BUFFER on a non-buffer", stop(call(g("types", "SimpleNamespace")) + b"\x98", 5), PolicyViolation, STDLIB, refused=(None, "state")),
    # -- extension codes and persistent ids -------------------------------------------
    Case("unregistered EXT2", stop(b"\x82\x01"), MalformedPickleError),
    Case("EXT code <= 0", stop(b"\x84\x00\x00\x00\x00"), MalformedPickleError),
    Case("PERSID without persistent_load", b"Pfoo\n.", MalformedPickleError),
    Case("BINPERSID without persistent_load", stop(u("foo") + b"Q"), MalformedPickleError),
    Case("NEXT_BUFFER without buffers", stop(b"\x97", 5), MalformedPickleError),
    # -- parser bombs ----------------------------------------------------------------
    Case("LONG_BINGET far index", stop(b"j\xf0\xff\xff\xff"), MalformedPickleError),
    Case("LONG_BINPUT over max_memo_index", stop(b"Nr\xf0\xff\xff\xff"), LimitExceededError, limits=Limits(max_memo_index=1 << 20)),
    Case("memo entries over the limit", stop(b"N" + b"".join(b"q" + bytes([k]) for k in range(20))), LimitExceededError, limits=Limits(max_memo_entries=10)),
    Case("BINBYTES8 claims 2**62", stop(b"\x8e" + struct.pack("<Q", 1 << 62) + b"abc", 4), LimitExceededError),
    Case("BINBYTES8 claims 1 GiB", stop(b"\x8e" + struct.pack("<Q", 1 << 30) + b"abc", 4), TruncatedPickleError),
    Case("BYTEARRAY8 claims 1 GiB", stop(b"\x96" + struct.pack("<Q", 1 << 30) + b"abc", 5), TruncatedPickleError),
    Case("BINUNICODE8 claims 1 GiB", stop(b"\x8d" + struct.pack("<Q", 1 << 30) + b"abc", 4), TruncatedPickleError),
    Case("BINBYTES claims 4 GiB", stop(b"B\xff\xff\xff\xffabc", 3), TruncatedPickleError),
    Case("BINSTRING negative", stop(b"T\xff\xff\xff\xffabc", 1), MalformedPickleError),
    Case("LONG4 claims 2 GiB", stop(b"\x8b\xff\xff\xff\x7fabc", 2), TruncatedPickleError),
    Case("FRAME claims 1 GiB", b"\x80\x04\x95" + struct.pack("<Q", 1 << 30) + b"N.", TruncatedPickleError),
    Case("FRAME straddled by BINBYTES", b"\x80\x04\x95" + struct.pack("<Q", 4) + b"C\x08abc" + b"defgh" + b".", MalformedPickleError),
    Case("FRAME straddled by GLOBAL line", b"\x80\x04\x95" + struct.pack("<Q", 6) + b"cos\nsy" + b"stem\n.", MalformedPickleError),
    Case("FRAME begins inside a frame", b"\x80\x04\x95" + struct.pack("<Q", 12) + b"\x95" + struct.pack("<Q", 1) + b"N.NN", MalformedPickleError),
    Case("MARK nesting too deep", b"(" * 200_000 + b".", LimitExceededError),
    Case("text INT with 100k digits", b"I" + b"9" * 100_000 + b"\n.", LimitExceededError),
    Case("text LONG with 100k digits", b"L" + b"9" * 100_000 + b"L\n.", LimitExceededError),
    Case("too many calls", stop(b"(" + b"".join(call(g("builtins", "slice"), i(1), i(2), i(3)) for _ in range(20)) + b"l"), LimitExceededError, limits=Limits(max_calls=10)),
    Case("too many global lookups", stop(b"(" + g("builtins", "Ellipsis") * 20 + b"l"), LimitExceededError, limits=Limits(max_globals=10)),
    Case("input over max_input_bytes", stop(u("x" * 1000)), LimitExceededError, limits=Limits(max_input_bytes=100)),
    # -- malformed streams -------------------------------------------------------------
    Case("empty input", b"", TruncatedPickleError),
    Case("no STOP", b"\x80\x04N", TruncatedPickleError),
    Case("protocol 6", b"\x80\x06N.", MalformedPickleError),
    Case("invalid opcode", b"\xff.", MalformedPickleError),
    Case("STACK_GLOBAL with non-str", stop(b"NN\x93", 4), MalformedPickleError),
    Case("STOP on empty stack", b".", MalformedPickleError),
    Case("DICT with odd items", b"(Nd.", MalformedPickleError),
]


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "canary"
    yield path


def _with_canary(data: bytes, canary: Path) -> bytes:
    """Substitute the canary path, fixing BINUNICODE length prefixes."""
    marker = CANARY.encode()
    out = bytearray()
    pos = 0
    while True:
        idx = data.find(b"X", pos)
        if idx < 0 or idx + 5 > len(data):
            break
        (length,) = struct.unpack("<I", data[idx + 1 : idx + 5])
        body = data[idx + 5 : idx + 5 + length]
        if marker in body and len(body) == length:
            out += data[pos:idx]
            new = body.replace(marker, str(canary).encode())
            out += b"X" + struct.pack("<I", len(new)) + new
            pos = idx + 5 + length
        else:
            out += data[pos : idx + 1]
            pos = idx + 1
    out += data[pos:]
    return bytes(out)


def test_the_table_is_large() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@contextlib.contextmanager
def _leaves_no_trace(canary: Path) -> Iterator[None]:
    """The block writes no canary file, imports no module, changes no watched object."""
    modules_before = set(sys.modules)
    classes_before = _snapshot()
    yield
    assert not canary.exists(), "the pickle wrote the canary file"
    assert set(sys.modules) - modules_before == set(), "the pickle imported modules"
    assert _snapshot() == classes_before, "the pickle changed an allowed class or function"


@pytest.mark.parametrize("key", ["__doc__", "__name__"])
@pytest.mark.parametrize("value", [b"N", u("some text")], ids=["None", "str"])
def test_inert_dunder_state_keys_holding_text_are_set_as_data(key: str, value: bytes) -> None:
    """The one allowance among dunder state keys: what scipy's distributions and numpy's
    vectorize pickle, a docstring or a name, set on the instance as plain data."""
    data = stop(g("argparse", "Namespace") + b")\x81}" + u(key) + value + b"sb", 2)
    loaded = picklefence.loads(data, policy=STDLIB)
    assert type(loaded) is argparse.Namespace
    assert vars(loaded)[key] == pickle.loads(data).__dict__[key]
    assert picklefence.audit(data, policy=STDLIB).safe


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_without_side_effects(case: Case, canary: Path) -> None:
    data = _with_canary(case.data, canary)
    with _leaves_no_trace(canary), pytest.raises(case.error) as info:
        picklefence.loads(data, policy=case.policy, limits=case.limits)  # type: ignore[arg-type]
    case.assert_refused(info.value)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_from_a_file_too(case: Case, canary: Path) -> None:
    import io

    data = _with_canary(case.data, canary)
    with pytest.raises(case.error) as info:
        picklefence.load(io.BytesIO(data), policy=case.policy, limits=case.limits)  # type: ignore[arg-type]
    case.assert_refused(info.value)
    assert not canary.exists()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_from_a_regular_file(case: Case, canary: Path, tmp_path: Path) -> None:
    # a small regular file takes the fast path first, then the strict engine on a refusal
    path = tmp_path / "case.pkl"
    path.write_bytes(_with_canary(case.data, canary))
    with _leaves_no_trace(canary), open(path, "rb") as f, pytest.raises(case.error) as info:
        picklefence.load(f, policy=case.policy, limits=case.limits)  # type: ignore[arg-type]
    case.assert_refused(info.value)
