"""Hostile variants of the standard-library values ``policy="stdlib"`` allows, as a
table: every row is refused with the expected error type and says what was refused
(rule and capability), and leaves no trace — no module imported, no allowed class
changed, no logger registered, no pattern compiled, nothing printed, no signal handler
installed."""

from __future__ import annotations

import array
import collections
import contextlib
import decimal
import http
import inspect
import logging
import os
import pickle
import re
import signal
import socket
import string
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

import picklefence
from picklefence import LimitExceededError, Limits, PolicyViolation

from .hostile import call, g, i, stop, t, u
from .test_hostile import Case, _leaves_no_trace

_WATCHED: tuple[type, ...] = (
    logging.LogRecord,
    string.Template,
    collections.ChainMap,
    collections.UserDict,
    collections.UserList,
    collections.UserString,
    decimal.Context,
    urllib.parse.SplitResult,
    ValueError,
    ImportError,
    ExceptionGroup,
    signal.Signals,
    socket.AddressFamily,
    re.RegexFlag,
    http.HTTPStatus,
    inspect._ParameterKind,
    time.struct_time,
    os.stat_result,
    array.array,
)


def d(*pairs: bytes) -> bytes:
    """A dict of key, value, key, value, ... (EMPTY_DICT MARK ... SETITEMS)."""
    return b"}(" + b"".join(pairs) + b"u"


def newobj(module: str, name: str, state: bytes) -> bytes:
    """Protocol 2: ``cls.__new__(cls)`` then BUILD(state)."""
    return stop(g(module, name) + b")\x81" + state + b"b", 2)


def record(*pairs: bytes) -> bytes:
    return newobj("logging", "LogRecord", d(*pairs))


def lazy_range(n: int) -> bytes:
    return call(g("builtins", "range"), i(0), i(n), i(1))


def context(prec: int = 28, rounding: str = "ROUND_HALF_EVEN", flags: bytes = b"]", traps: bytes = b"]") -> bytes:
    return stop(call(g("decimal", "Context"), i(prec), u(rounding), i(-999999), i(999999), i(1), i(0), flags, traps))


def listing(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"l"


def reconstructed(typecode: str, code: int, data: bytes, cls: bytes = g("array", "array")) -> bytes:
    return stop(
        call(
            g("array", "_array_reconstructor"), cls, u(typecode), i(code), b"B" + len(data).to_bytes(4, "little") + data
        ),
        3,
    )


def compiled(pattern: str, flags: int = 32) -> bytes:
    return stop(call(g("re", "_compile"), u(pattern), i(flags)))


S = "stdlib"
_NATIVE_INT32, _FOREIGN_INT32 = (8, 9) if sys.byteorder == "little" else (9, 8)
_DECIMAL_BOMB = call(g("decimal", "Decimal"), u("1e999999999"))

ROWS: list[Case] = [
    # -- logging: a record's message is formatted by every handler ----------------------
    Case(
        "LogRecord %999999999d",
        record(u("msg"), u("%999999999d"), u("args"), t(i(1))),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord precision .999999999",
        record(u("msg"), u("%.999999999f"), u("args"), t(i(1))),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord width from the arguments",
        record(u("msg"), u("%*d"), u("args"), t(i(10**9), i(1))),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord width hidden behind a nested mapping key",
        record(u("msg"), u("%(a(b))999999999d"), u("args"), d(u("a(b)"), i(1))),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord precision from the arguments",
        record(u("msg"), u("%.*f"), u("args"), t(i(10**9), i(1))),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord %d of Decimal('1e999999999')",
        record(u("msg"), u("%d"), u("args"), t(_DECIMAL_BOMB)),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord %(n)d of a Decimal bomb",
        record(u("msg"), u("%(n)d"), u("args"), t(d(u("n"), _DECIMAL_BOMB))),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord message that is not a str",
        record(u("msg"), newobj("collections", "UserString", d(u("data"), u("x")))[2:-1]),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord with exc_info",
        record(u("msg"), u("m"), u("exc_info"), t(b"N", b"N", b"N")),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord args that is a list",
        record(u("msg"), u("%s"), u("args"), b"]"),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord levelno that is a str",
        record(u("msg"), u("m"), u("levelno"), u("10")),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "validation"),
    ),
    Case(
        "LogRecord state key outside its fields",
        record(u("getMessage"), u("x")),
        PolicyViolation,
        S,
        refused=("logging:LogRecord", "state"),
    ),
    Case(
        "LogRecord __class__ key",
        record(u("__class__"), g("string", "Template")),
        PolicyViolation,
        S,
        refused=(None, "state"),
    ),
    Case(
        "logging.getLogger registers a logger",
        stop(call(g("logging", "getLogger"), u("pwned"))),
        PolicyViolation,
        S,
        refused=("logging:getLogger", "reference"),
    ),
    Case(
        "logging.FileHandler opens a file",
        stop(call(g("logging", "FileHandler"), u("pwned.log"))),
        PolicyViolation,
        S,
        refused=("logging:FileHandler", "reference"),
    ),
    Case(
        "logging.StreamHandler",
        newobj("logging", "StreamHandler", b"}"),
        PolicyViolation,
        S,
        refused=("logging:StreamHandler", "reference"),
    ),
    Case(
        "threading.Thread",
        stop(call(g("threading", "Thread"))),
        PolicyViolation,
        S,
        refused=("threading:Thread", "reference"),
    ),
    Case(
        "_thread.allocate_lock",
        stop(call(g("_thread", "allocate_lock"))),
        PolicyViolation,
        S,
        refused=("_thread:allocate_lock", "reference"),
    ),
    # -- string.Template: only its text --------------------------------------------------
    Case(
        "Template with its own pattern",
        newobj("string", "Template", d(u("template"), u("$a"), u("pattern"), u("(a+)+$"))),
        PolicyViolation,
        S,
        refused=("string:Template", "state"),
    ),
    Case(
        "Template with its own delimiter",
        newobj("string", "Template", d(u("template"), u("$a"), u("delimiter"), u("%"))),
        PolicyViolation,
        S,
        refused=("string:Template", "state"),
    ),
    Case(
        "Template text that is not a str",
        newobj("string", "Template", d(u("template"), b"]")),
        PolicyViolation,
        S,
        refused=("string:Template", "validation"),
    ),
    Case(
        "a Template subclass from elsewhere",
        newobj("picklefence_tests_evil", "Template", d(u("template"), u("$a"))),
        PolicyViolation,
        S,
        refused=("picklefence_tests_evil:Template", "reference"),
    ),
    Case(
        "string.Formatter",
        stop(call(g("string", "Formatter"))),
        PolicyViolation,
        S,
        refused=("string:Formatter", "reference"),
    ),
    # -- containers ----------------------------------------------------------------------
    Case(
        "ChainMap maps a str",
        newobj("collections", "ChainMap", d(u("maps"), u("abc"))),
        PolicyViolation,
        S,
        refused=("collections:ChainMap", "validation"),
    ),
    Case(
        "ChainMap maps empty",
        newobj("collections", "ChainMap", d(u("maps"), b"]")),
        PolicyViolation,
        S,
        refused=("collections:ChainMap", "validation"),
    ),
    Case(
        "ChainMap maps holding an int",
        newobj("collections", "ChainMap", d(u("maps"), listing(i(1)))),
        PolicyViolation,
        S,
        refused=("collections:ChainMap", "validation"),
    ),
    Case(
        "ChainMap holding itself",
        stop(g("collections", "ChainMap") + b")\x81q\x00" + d(u("maps"), b"]h\x00a") + b"b", 2),
        PolicyViolation,
        S,
        refused=("collections:ChainMap", "validation"),
    ),
    Case(
        "ChainMap extra state key",
        newobj("collections", "ChainMap", d(u("maps"), listing(b"}"), u("parents"), b"N")),
        PolicyViolation,
        S,
        refused=("collections:ChainMap", "state"),
    ),
    Case(
        "UserDict data a list",
        newobj("collections", "UserDict", d(u("data"), b"]")),
        PolicyViolation,
        S,
        refused=("collections:UserDict", "validation"),
    ),
    Case(
        "UserList data a dict",
        newobj("collections", "UserList", d(u("data"), b"}")),
        PolicyViolation,
        S,
        refused=("collections:UserList", "validation"),
    ),
    Case(
        "UserString data an int",
        newobj("collections", "UserString", d(u("data"), i(1))),
        PolicyViolation,
        S,
        refused=("collections:UserString", "validation"),
    ),
    Case(
        "UserString never BUILT",
        stop(g("collections", "UserString") + b")\x81", 2),
        PolicyViolation,
        S,
        refused=("collections:UserString", "validation"),
    ),
    # -- exceptions: never BUILT beyond ImportError's names ---------------------------
    Case(
        "exception args from a lazy range",
        stop(call(g("builtins", "ValueError"), u("x")) + d(u("args"), lazy_range(10**12)) + b"b"),
        PolicyViolation,
        S,
        refused=("builtins:ValueError", "state"),
    ),
    Case(
        "exception __traceback__ key",
        stop(call(g("builtins", "KeyError"), u("x")) + d(u("__traceback__"), b"N") + b"b"),
        PolicyViolation,
        S,
        refused=("builtins:KeyError", "state"),
    ),
    Case(
        "exception group __cause__ key",
        stop(
            call(g("builtins", "ExceptionGroup"), u("g"), listing(call(g("builtins", "ValueError"))))
            + d(u("__cause__"), b"N")
            + b"b"
        ),
        PolicyViolation,
        S,
        refused=("builtins:ExceptionGroup", "state"),
    ),
    Case(
        "ImportError __class__ key",
        stop(call(g("builtins", "ImportError"), u("x")) + d(u("__class__"), g("builtins", "KeyError")) + b"b"),
        PolicyViolation,
        S,
        refused=(None, "state"),
    ),
    Case(
        "ImportError args key",
        stop(call(g("builtins", "ImportError"), u("x")) + d(u("args"), lazy_range(10**12)) + b"b"),
        PolicyViolation,
        S,
        refused=("builtins:ImportError", "state"),
    ),
    Case(
        "OSError BUILD of its errno",
        stop(call(g("builtins", "OSError"), i(2), u("x")) + d(u("errno"), i(1)) + b"b"),
        PolicyViolation,
        S,
        refused=("builtins:FileNotFoundError", "state"),
    ),
    Case(
        "ExceptionGroup of a str",
        stop(call(g("builtins", "ExceptionGroup"), u("g"), u("abc"))),
        PolicyViolation,
        S,
        refused=("builtins:ExceptionGroup", "arguments"),
    ),
    Case(
        "SystemExit",
        stop(call(g("builtins", "SystemExit"), i(0))),
        PolicyViolation,
        S,
        refused=("builtins:SystemExit", "reference"),
    ),
    Case(
        "KeyboardInterrupt",
        stop(call(g("exceptions", "KeyboardInterrupt")), 2),
        PolicyViolation,
        S,
        refused=("builtins:KeyboardInterrupt", "reference"),
    ),
    Case(
        "UnicodeDecodeError positions",
        stop(call(g("builtins", "UnicodeDecodeError"), u("utf-8"), b"C\x01x", i(-5), i(10**9), u("r")), 3),
        PolicyViolation,
        S,
        refused=("builtins:UnicodeDecodeError", "reference"),
    ),
    Case(
        "SyntaxError offsets",
        stop(call(g("builtins", "SyntaxError"), u("x"), t(u("f"), i(1), i(10**9), u("t")))),
        PolicyViolation,
        S,
        refused=("builtins:SyntaxError", "reference"),
    ),
    # -- decimal -------------------------------------------------------------------------
    Case("Context prec 10**18", context(prec=10**18), PolicyViolation, S, refused=("decimal:Context", "arguments")),
    Case(
        "Context prec 100,000 (exp takes minutes)",
        context(prec=100_000),
        PolicyViolation,
        S,
        refused=("decimal:Context", "arguments"),
    ),
    Case(
        "Context rounding unknown",
        context(rounding="pwned"),
        PolicyViolation,
        S,
        refused=("decimal:Context", "arguments"),
    ),
    Case(
        "Context flags holding a non-signal",
        context(flags=listing(g("builtins", "ValueError"))),
        PolicyViolation,
        S,
        refused=("decimal:Context", "arguments"),
    ),
    Case(
        "Context traps a lazy range",
        context(traps=lazy_range(10**12)),
        PolicyViolation,
        S,
        refused=("decimal:Context", "arguments"),
    ),
    Case("Context traps a dict", context(traps=b"}"), PolicyViolation, S, refused=("decimal:Context", "arguments")),
    Case(
        "Context traps repeating a signal",
        context(traps=listing(g("decimal", "Inexact"), g("decimal", "Inexact"))),
        PolicyViolation,
        S,
        refused=("decimal:Context", "arguments"),
    ),
    Case(
        "decimal.setcontext",
        stop(call(g("decimal", "setcontext"), context()[:-1])),
        PolicyViolation,
        S,
        refused=("decimal:setcontext", "reference"),
    ),
    Case(
        "BUILD on a decimal signal class",
        stop(g("decimal", "Inexact") + d(u("x"), i(1)) + b"b"),
        PolicyViolation,
        S,
        refused=("decimal:Inexact", "state"),
    ),
    # -- struct sequences and namedtuples ------------------------------------------------
    Case(
        "struct_time from a lazy range",
        stop(call(g("time", "struct_time"), lazy_range(10**12))),
        PolicyViolation,
        S,
        refused=("time:struct_time", "arguments"),
    ),
    Case(
        "struct_time of 20 fields",
        stop(call(g("time", "struct_time"), t(*[i(0)] * 20))),
        PolicyViolation,
        S,
        refused=("time:struct_time", "arguments"),
    ),
    Case(
        "struct_time of 3 fields",
        stop(call(g("time", "struct_time"), t(i(0), i(0), i(0)))),
        PolicyViolation,
        S,
        refused=("time:struct_time", "arguments"),
    ),
    Case(
        "struct_time field a Decimal bomb",
        stop(call(g("time", "struct_time"), t(_DECIMAL_BOMB, *[i(0)] * 8))),
        PolicyViolation,
        S,
        refused=("time:struct_time", "arguments"),
    ),
    Case(
        "stat_result hidden __class__ field",
        stop(call(g("os", "stat_result"), t(*[i(0)] * 10), d(u("__class__"), i(0)))),
        PolicyViolation,
        S,
        refused=("os:stat_result", "arguments"),
    ),
    Case("os.stat", stop(call(g("os", "stat"), u("/"))), PolicyViolation, S, refused=("os:stat", "reference")),
    Case(
        "os.get_terminal_size",
        stop(call(g("os", "get_terminal_size"))),
        PolicyViolation,
        S,
        refused=("os:get_terminal_size", "reference"),
    ),
    Case(
        "platform.uname_result (runs uname -p)",
        stop(call(g("platform", "uname_result"), *[u("x")] * 5)),
        PolicyViolation,
        S,
        refused=("platform:uname_result", "reference"),
    ),
    Case(
        "SplitResult of ints",
        stop(g("urllib.parse", "SplitResult") + t(*[i(1)] * 5) + b"\x81", 2),
        PolicyViolation,
        S,
        refused=("urllib.parse:SplitResult", "arguments"),
    ),
    Case(
        "SplitResult of one field through copyreg",
        stop(call(g("copy_reg", "_reconstructor"), g("urlparse", "SplitResult"), g("__builtin__", "tuple"), t(u("a")))),
        PolicyViolation,
        S,
        refused=("urllib.parse:SplitResult", "validation"),
    ),
    Case(
        "SplitResultBytes of str through copyreg",
        stop(
            call(
                g("copy_reg", "_reconstructor"),
                g("urlparse", "SplitResultBytes"),
                g("__builtin__", "tuple"),
                t(*[u("a")] * 5),
            )
        ),
        PolicyViolation,
        S,
        refused=("urllib.parse:SplitResultBytes", "validation"),
    ),
    Case(
        "urllib.request.urlopen",
        stop(call(g("urllib.request", "urlopen"), u("http://127.0.0.1/"))),
        PolicyViolation,
        S,
        refused=("urllib.request:urlopen", "reference"),
    ),
    # -- enums: members that exist ------------------------------------------------------
    Case(
        "Signals(999)",
        stop(call(g("signal", "Signals"), i(999))),
        PolicyViolation,
        S,
        refused=("signal:Signals", "arguments"),
    ),
    Case(
        "Signals('SIGKILL')",
        stop(call(g("signal", "Signals"), u("SIGKILL"))),
        PolicyViolation,
        S,
        refused=("signal:Signals", "arguments"),
    ),
    Case(
        "Signals(True)",
        stop(b"\x80\x02" + call(g("signal", "Signals"), b"\x88")),
        PolicyViolation,
        S,
        refused=("signal:Signals", "arguments"),
    ),
    Case(
        "AddressFamily(12345)",
        stop(call(g("socket", "AddressFamily"), i(12345))),
        PolicyViolation,
        S,
        refused=("socket:AddressFamily", "arguments"),
    ),
    Case(
        "SocketKind(-1)",
        stop(call(g("socket", "SocketKind"), i(-1))),
        PolicyViolation,
        S,
        refused=("socket:SocketKind", "arguments"),
    ),
    Case(
        "RegexFlag of an unknown bit",
        stop(call(g("re", "RegexFlag"), i(1 << 20))),
        PolicyViolation,
        S,
        refused=("re:RegexFlag", "arguments"),
    ),
    Case(
        "RegexFlag(-1)",
        stop(call(g("re", "RegexFlag"), i(-1))),
        PolicyViolation,
        S,
        refused=("re:RegexFlag", "arguments"),
    ),
    Case(
        "HTTPStatus(999)",
        stop(call(g("http", "HTTPStatus"), i(999))),
        PolicyViolation,
        S,
        refused=("http:HTTPStatus", "arguments"),
    ),
    Case(
        "_ParameterKind(7)",
        stop(call(g("inspect", "_ParameterKind"), i(7))),
        PolicyViolation,
        S,
        refused=("inspect:_ParameterKind", "arguments"),
    ),
    Case(
        "signal.signal installs a handler",
        stop(call(g("signal", "signal"), i(2), i(1))),
        PolicyViolation,
        S,
        refused=("signal:signal", "reference"),
    ),
    Case(
        "socket.create_connection",
        stop(call(g("socket", "create_connection"), t(u("127.0.0.1"), i(9)))),
        PolicyViolation,
        S,
        refused=("socket:create_connection", "reference"),
    ),
    # -- array.array ---------------------------------------------------------------------
    Case(
        "array forged typecode",
        stop(call(g("array", "array"), u("x"), listing(i(1)))),
        PolicyViolation,
        S,
        refused=("array:array", "arguments"),
    ),
    Case(
        "array two-letter typecode",
        stop(call(g("array", "array"), u("ii"), listing(i(1)))),
        PolicyViolation,
        S,
        refused=("array:array", "arguments"),
    ),
    Case(
        "array item out of range",
        stop(call(g("array", "array"), u("b"), listing(i(1000)))),
        PolicyViolation,
        S,
        refused=("array:array", "arguments"),
    ),
    Case(
        "array float item for an int typecode",
        stop(call(g("array", "array"), u("i"), listing(b"G" + b"\x3f\xf0" + b"\0" * 6))),
        PolicyViolation,
        S,
        refused=("array:array", "arguments"),
    ),
    Case(
        "array items from a lazy range",
        stop(call(g("array", "array"), u("i"), lazy_range(10**12))),
        PolicyViolation,
        S,
        refused=("array:array", "arguments"),
    ),
    Case(
        "array with a length for items",
        stop(call(g("array", "array"), u("d"), i(10**9))),
        PolicyViolation,
        S,
        refused=("array:array", "arguments"),
    ),
    Case(
        "array reconstructor size mismatch",
        reconstructed("i", _NATIVE_INT32, b"\0" * 5),
        PolicyViolation,
        S,
        refused=("array:_array_reconstructor", "arguments"),
    ),
    Case(
        "array reconstructor float format for ints",
        reconstructed("i", 16, b"\0" * 8),
        PolicyViolation,
        S,
        refused=("array:_array_reconstructor", "arguments"),
    ),
    Case(
        "array reconstructor format 99",
        reconstructed("i", 99, b"\0" * 4),
        PolicyViolation,
        S,
        refused=("array:_array_reconstructor", "arguments"),
    ),
    Case(
        "array reconstructor forged typecode",
        reconstructed("x", _NATIVE_INT32, b"\0" * 4),
        PolicyViolation,
        S,
        refused=("array:_array_reconstructor", "arguments"),
    ),
    Case(
        "array reconstructor of another class",
        reconstructed("i", _NATIVE_INT32, b"\0" * 4, g("collections", "UserList")),
        PolicyViolation,
        S,
        refused=("array:_array_reconstructor", "arguments"),
    ),
    Case(
        "array reconstructor foreign byte order past the budget",
        reconstructed("i", _FOREIGN_INT32, b"\0" * 40_000),
        LimitExceededError,
        S,
        Limits(amplification_floor=0, max_amplification=4),
    ),
    Case(
        "array.array as a value",
        stop(listing(g("array", "array"))),
        PolicyViolation,
        S,
        refused=("array:array", "value"),
    ),
    # -- re.compile ----------------------------------------------------------------------
    Case(
        "re pattern of 5,000 characters", compiled("a" * 5000), PolicyViolation, S, refused=("re:_compile", "arguments")
    ),
    Case("re nested quantifier (a+)+$", compiled("(a+)+$"), PolicyViolation, S, refused=("re:_compile", "arguments")),
    Case(
        "re nested quantifier (\\w+\\s*)*",
        compiled(r"^(\w+\s*)*$"),
        PolicyViolation,
        S,
        refused=("re:_compile", "arguments"),
    ),
    Case(
        "re nested quantifier through a lookahead",
        compiled(r"(?:(?=x)(a*)b?)+c"),
        PolicyViolation,
        S,
        refused=("re:_compile", "arguments"),
    ),
    Case(
        "re DEBUG flag prints while compiling",
        compiled("a", 32 | 128),
        PolicyViolation,
        S,
        refused=("re:_compile", "arguments"),
    ),
    Case("re unknown flag bits", compiled("a", 1 << 20), PolicyViolation, S, refused=("re:_compile", "arguments")),
    Case(
        "re 100 nested groups",
        compiled("(" * 100 + ")" * 100),
        PolicyViolation,
        S,
        refused=("re:_compile", "arguments"),
    ),
    Case("re invalid pattern", compiled("(a"), PolicyViolation, S, refused=("re:_compile", "arguments")),
    Case(
        "re pattern that is a list",
        stop(call(g("re", "_compile"), listing(u("a")), i(0))),
        PolicyViolation,
        S,
        refused=("re:_compile", "arguments"),
    ),
    Case(
        "re.compile (pickle writes re._compile)",
        stop(call(g("re", "compile"), u("a"))),
        PolicyViolation,
        S,
        refused=("re:compile", "reference"),
    ),
    Case(
        "re._compile as a value",
        stop(listing(g("re", "_compile"))),
        PolicyViolation,
        S,
        refused=("re:_compile", "value"),
    ),
]


def _state() -> dict[str, object]:
    snap: dict[str, object] = {f"{c.__module__}.{c.__qualname__}": dict(vars(c)) for c in _WATCHED}
    snap["loggers"] = sorted(logging.Logger.manager.loggerDict)
    snap["root handlers"] = list(logging.getLogger().handlers)
    snap["signals"] = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)]
    snap["decimal context"] = repr(decimal.getcontext())
    return snap


@contextlib.contextmanager
def _no_effects(data: bytes, canary: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    before, patterns = _state(), set(re._cache)  # type: ignore[attr-defined]
    with _leaves_no_trace(canary):
        yield
    assert _state() == before, "the pickle changed process state"
    compiled = [key[1] for key in set(re._cache) - patterns]  # type: ignore[attr-defined]
    assert not [p for p in compiled if (p.encode() if isinstance(p, str) else p) in data], (
        "the pickle compiled a pattern"
    )
    assert capsys.readouterr() == ("", ""), "the pickle printed something"


def test_the_table_covers_every_area() -> None:
    assert len(ROWS) >= 80
    assert len({r.id for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_hostile_stdlib_value_is_refused_without_effects(
    row: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with _no_effects(row.data, tmp_path / "canary", capsys), pytest.raises(row.error) as info:
        picklefence.loads(row.data, policy=row.policy, limits=row.limits)  # type: ignore[arg-type]
    row.assert_refused(info.value)
    assert not list(tmp_path.iterdir()), "the pickle wrote a file"


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_hostile_stdlib_value_is_refused_from_a_regular_file(
    row: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a regular file takes the fast path first, then the strict engine on a refusal
    path = tmp_path / "row.pkl"
    path.write_bytes(row.data)
    monkeypatch.chdir(tmp_path)
    with _no_effects(row.data, tmp_path / "canary", capsys), open(path, "rb") as f, pytest.raises(row.error) as info:
        picklefence.load(f, policy=row.policy, limits=row.limits)  # type: ignore[arg-type]
    row.assert_refused(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["row.pkl"], "the pickle wrote a file"


#: Each row's control: the same shape with honest values loads (so a row is refused for
#: what it forges, not for its shape).
CONTROLS: dict[str, bytes] = {
    "LogRecord": record(u("msg"), u("%5d|%-10s|%.3f"), u("args"), t(i(1), u("a"), b"G" + b"\x3f\xf0" + b"\0" * 6)),
    "LogRecord mapping": record(u("msg"), u("%(n)d"), u("args"), t(d(u("n"), i(3)))),
    "Template": newobj("string", "Template", d(u("template"), u("$a"))),
    "ChainMap": newobj("collections", "ChainMap", d(u("maps"), listing(b"}", b"}"))),
    "exception": stop(call(g("builtins", "ValueError"), u("x"), i(1))),
    "ImportError": stop(call(g("builtins", "ImportError"), u("x")) + d(u("name"), u("m"), u("path"), b"N") + b"b"),
    "Context": context(flags=listing(g("decimal", "Inexact")), traps=listing(g("decimal", "Overflow"))),
    "struct_time": stop(
        call(g("time", "struct_time"), t(*[i(1)] * 9), d(u("tm_zone"), u("UTC"), u("tm_gmtoff"), i(0)))
    ),
    "SplitResult": stop(g("urllib.parse", "SplitResult") + t(*[u("a")] * 5) + b"\x81", 2),
    "Signals": stop(call(g("signal", "Signals"), i(int(signal.SIGTERM)))),
    "RegexFlag": stop(call(g("re", "RegexFlag"), i(2 | 8))),
    "array": stop(call(g("array", "array"), u("b"), listing(i(-128), i(127)))),
    "array reconstructor": reconstructed("i", _NATIVE_INT32, b"\1\0\0\0"),
    "array foreign byte order": reconstructed("i", _FOREIGN_INT32, b"\0\0\0\1"),
    "re": compiled(r"(?:ab|c)+\d{1,3}$"),
    "re possessive": compiled(r"(?:a++b)*"),
}


@pytest.mark.parametrize("name", list(CONTROLS))
def test_the_honest_shape_of_each_row_loads(name: str) -> None:
    picklefence.loads(CONTROLS[name], policy="stdlib")


def test_a_loaded_log_record_formats_as_logging_does() -> None:
    rec = picklefence.loads(CONTROLS["LogRecord"], policy="stdlib")
    assert rec.getMessage() == "    1|a         |1.000"
    assert picklefence.loads(CONTROLS["array foreign byte order"], policy="stdlib") == array.array("i", [1])


def _use(obj: object, how: str) -> object:
    """What user code does with such a value: format the record, look a key up, ..."""
    if how == "message":
        return obj.getMessage()  # type: ignore[attr-defined]
    if how == "len":
        return len(obj)  # type: ignore[arg-type]
    if how == "substitute":
        return obj.substitute(a=1)  # type: ignore[attr-defined]
    if how == "geturl":
        return obj.geturl()  # type: ignore[attr-defined]
    if how == "args":
        return obj.args  # type: ignore[attr-defined]
    raise AssertionError(how)


# (row id, pickle at a harmless scale, use, what plain pickle's copy does when used)
PLAIN_PICKLE = [
    ("LogRecord %999999999d", record(u("msg"), u("%9999999d"), u("args"), t(i(1))), "message", "10 MB"),
    (
        "LogRecord width hidden behind a nested mapping key",
        record(u("msg"), u("%(a(b))9999999d"), u("args"), d(u("a(b)"), i(1))),
        "message",
        "10 MB",
    ),
    (
        "exception args from a lazy range",
        stop(call(g("builtins", "ValueError"), u("x")) + d(u("args"), lazy_range(10**6)) + b"b"),
        "args",
        "10 MB",
    ),
    (
        "ChainMap holding itself",
        stop(g("collections", "ChainMap") + b")\x81q\x00" + d(u("maps"), b"]h\x00a") + b"b", 2),
        "len",
        RecursionError,
    ),
    (
        "Template with its own pattern",
        newobj("string", "Template", d(u("template"), u("$a"), u("pattern"), u("(a+)+$"))),
        "substitute",
        AttributeError,
    ),
    ("UserString data an int", newobj("collections", "UserString", d(u("data"), i(1))), "len", TypeError),
    (
        "SplitResult of one field through copyreg",
        stop(call(g("copy_reg", "_reconstructor"), g("urlparse", "SplitResult"), g("__builtin__", "tuple"), t(u("a")))),
        "geturl",
        ValueError,
    ),
]


@pytest.mark.parametrize(("row_id", "data", "how", "effect"), PLAIN_PICKLE, ids=[p[0] for p in PLAIN_PICKLE])
def test_plain_pickle_hands_out_what_the_row_refuses(row_id: str, data: bytes, how: str, effect: object) -> None:
    """The control: ``pickle`` loads the same shape, and using its copy fails or builds
    a value a million times the pickle's size (at full scale, gigabytes)."""
    assert row_id in {r.id for r in ROWS}
    obj = pickle.loads(data)
    if isinstance(effect, type):
        with pytest.raises(effect):
            _use(obj, how)
    else:
        result = _use(obj, how)
        assert len(result) >= 10**6 > 1000 * len(data), len(result)  # type: ignore[arg-type]
