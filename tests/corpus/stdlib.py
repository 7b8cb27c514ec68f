"""Standard-library objects, under ``policy="stdlib"``: values applications pickle
(caches, queues, multiprocessing results, logging over sockets) — dates, numbers,
containers, exceptions as a worker sends them back, log records, struct sequences,
URL parts, enums, arrays and compiled patterns."""

from __future__ import annotations

import array
import collections
import datetime
import decimal
import fractions
import http
import inspect
import ipaddress
import logging
import os
import pathlib
import re
import signal
import socket
import string
import time
import urllib.parse
import uuid
import zoneinfo
from collections.abc import Iterator
from typing import Any

from . import Artifact

#: pickle protocols every stdlib artifact is written in (protocol 0 and 1 rebuild
#: objects through copyreg, 2 through NEWOBJ, 4 and 5 through STACK_GLOBAL)
_ALL = ("p0", "p2", "p4", "p5")


def _same_exception(expected: Any, got: Any) -> None:
    """Exceptions compare by identity: the same class, arguments and attributes."""
    assert type(expected) is type(got), type(got)
    if isinstance(expected, BaseExceptionGroup):
        assert expected.message == got.message, got.message
    else:
        assert expected.args == got.args, got.args
    assert vars(expected) == vars(got), vars(got)
    assert (got.__cause__, got.__context__, got.__traceback__) == (None, None, None)
    if isinstance(expected, BaseExceptionGroup):
        for a, b in zip(expected.exceptions, got.exceptions, strict=True):
            _same_exception(a, b)
    if isinstance(expected, OSError):
        assert (expected.errno, expected.strerror, expected.filename) == (got.errno, got.strerror, got.filename)


def _same_exceptions(expected: Any, got: Any) -> None:
    assert type(got) is list and len(got) == len(expected)
    for a, b in zip(expected, got, strict=True):
        _same_exception(a, b)


def _same_record(expected: Any, got: Any) -> None:
    assert type(got) is logging.LogRecord
    assert vars(expected) == vars(got)
    assert expected.getMessage() == got.getMessage()
    assert logging.Formatter("%(levelname)s %(name)s %(message)s").format(got) == logging.Formatter(
        "%(levelname)s %(name)s %(message)s"
    ).format(expected)


def _same_template(expected: Any, got: Any) -> None:
    assert type(got) is string.Template and vars(got) == vars(expected)
    assert got.substitute(who="x") == expected.substitute(who="x")


def _same_context(expected: Any, got: Any) -> None:
    assert type(got) is decimal.Context and repr(got) == repr(expected)
    assert got.flags == expected.flags and got.traps == expected.traps
    assert got.sqrt(decimal.Decimal(4)) == expected.sqrt(decimal.Decimal(4))


def _same_pattern(expected: Any, got: Any) -> None:
    assert type(got) is re.Pattern and (got.pattern, got.flags) == (expected.pattern, expected.flags)
    sample = "Ab-12 ab" if isinstance(expected.pattern, str) else b"Ab-12 ab"
    assert [m.span() for m in got.finditer(sample)] == [m.span() for m in expected.finditer(sample)]


def _record() -> logging.LogRecord:
    record = logging.LogRecord(
        "app.db", logging.WARNING, "/srv/app/db.py", 42, "query %s took %.3f s (%d rows)", ("q1", 1.5, 7), None, "run"
    )
    record.getMessage()
    return record


def _record_mapping() -> logging.LogRecord:
    return logging.LogRecord(
        "app", logging.INFO, "app.py", 1, "%(user)s logged in %(n)d times", ({"user": "ann", "n": 3},), None
    )


def _exception_with_cause() -> Exception:
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError("outer") from inner
    except ValueError as exc:
        return exc


def _exception_with_notes() -> Exception:
    exc = ValueError("noted")
    exc.add_note("retry later")
    return exc


def _context() -> decimal.Context:
    ctx = decimal.Context(prec=12, rounding=decimal.ROUND_DOWN, Emin=-99, Emax=99, capitals=0, clamp=1)
    ctx.divide(decimal.Decimal(1), decimal.Decimal(3))  # sets the Inexact and Rounded flags
    ctx.traps[decimal.Inexact] = True
    return ctx


def _context_flags() -> decimal.Context:
    ctx = decimal.Context(traps=[decimal.DivisionByZero])
    ctx.divide(decimal.Decimal(1), decimal.Decimal(3))
    return ctx


def artifacts() -> Iterator[Artifact]:
    yield Artifact("stdlib/datetime", lambda: datetime.datetime(2024, 5, 6, 7, 8, 9, 10), "stdlib", _ALL)
    yield Artifact("stdlib/datetime-utc", lambda: datetime.datetime(2024, 5, 6, tzinfo=datetime.UTC), "stdlib", _ALL)
    yield Artifact(
        "stdlib/zoneinfo",
        lambda: datetime.datetime(2024, 5, 6, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        "stdlib",
        _ALL,
    )
    yield Artifact(
        "stdlib/date-time-delta",
        lambda: (datetime.date(2020, 1, 2), datetime.time(3, 4), datetime.timedelta(days=-3, seconds=5)),
        "stdlib",
        _ALL,
    )
    yield Artifact("stdlib/decimal", lambda: decimal.Decimal("1.25"), "stdlib", _ALL)
    yield Artifact("stdlib/fraction", lambda: fractions.Fraction(3, 7), "stdlib", _ALL)
    yield Artifact("stdlib/uuid", lambda: uuid.UUID(int=12345), "stdlib", _ALL)
    yield Artifact(
        "stdlib/ipaddress",
        lambda: [
            ipaddress.ip_address("10.0.0.1"),
            ipaddress.ip_network("2001:db8::/32"),
            ipaddress.ip_interface("10.1.2.3/24"),
        ],
        "stdlib",
        _ALL,
    )
    yield Artifact(
        "stdlib/pure-paths",
        lambda: [pathlib.PurePosixPath("/etc/x"), pathlib.PureWindowsPath("C:/x"), pathlib.Path("rel/p")],
        "stdlib",
        _ALL,
    )
    yield Artifact("stdlib/ordereddict", lambda: collections.OrderedDict(a=1, b=[2, 3]), "stdlib", _ALL)
    yield Artifact(
        "stdlib/containers",
        lambda: [
            collections.deque([1, 2], maxlen=5),
            collections.Counter("abca"),
            collections.defaultdict(list, a=[1]),
        ],
        "stdlib",
        _ALL,
    )
    # exceptions, as a process pool sends them back
    yield Artifact("stdlib/value-error", lambda: ValueError("bad value", 3), "stdlib", _ALL, _same_exception)
    yield Artifact("stdlib/key-error", lambda: KeyError("k"), "stdlib", _ALL, _same_exception)
    yield Artifact(
        "stdlib/oserror-file-not-found",
        lambda: FileNotFoundError(2, "No such file or directory", "/srv/x"),
        "stdlib",
        _ALL,
        _same_exception,
    )
    yield Artifact(
        "stdlib/oserror-two-files", lambda: OSError(17, "File exists", "a", None, "b"), "stdlib", _ALL, _same_exception
    )
    yield Artifact("stdlib/oserror-timeout", lambda: TimeoutError("timed out"), "stdlib", _ALL, _same_exception)
    yield Artifact(
        "stdlib/import-error",
        lambda: ImportError("no module", name="mod", path="/x/mod.py"),
        "stdlib",
        _ALL,
        _same_exception,
    )
    yield Artifact("stdlib/stop-iteration", lambda: StopIteration(5), "stdlib", _ALL, _same_exception)
    yield Artifact("stdlib/exception-with-cause", _exception_with_cause, "stdlib", _ALL, _same_exception)
    yield Artifact(
        "stdlib/exception-group",
        lambda: ExceptionGroup("several", [ValueError(1), TypeError("t"), ExceptionGroup("inner", [KeyError(2)])]),
        "stdlib",
        _ALL,
        _same_exception,
    )
    yield Artifact("stdlib/warning", lambda: DeprecationWarning("old"), "stdlib", _ALL, _same_exception)
    yield Artifact(
        "stdlib/exception-with-notes",
        _exception_with_notes,
        "stdlib",
        ("p5",),
        _same_exception,
        refused=(
            "exceptions are never BUILT (their `__setstate__` sets any attribute), "
            "and `__notes__` is a dunder key, which BUILD never sets"
        ),
    )
    # collections and text
    yield Artifact("stdlib/chainmap", lambda: collections.ChainMap({"a": 1}, {"b": 2, "a": 3}), "stdlib", _ALL)
    yield Artifact("stdlib/userdict", lambda: collections.UserDict(a=1, b=[2]), "stdlib", _ALL)
    yield Artifact("stdlib/userlist", lambda: collections.UserList([1, "two", 3.0]), "stdlib", _ALL)
    yield Artifact("stdlib/userstring", lambda: collections.UserString("text"), "stdlib", _ALL)
    yield Artifact("stdlib/template", lambda: string.Template("hello $who"), "stdlib", _ALL, _same_template)
    yield Artifact("stdlib/log-record", _record, "stdlib", _ALL, _same_record)
    yield Artifact("stdlib/log-record-mapping", _record_mapping, "stdlib", _ALL, _same_record)
    yield Artifact("stdlib/decimal-context", _context, "stdlib", _ALL, _same_context)
    yield Artifact("stdlib/decimal-context-flags", _context_flags, "stdlib", _ALL, _same_context)
    # struct sequences and namedtuples
    yield Artifact("stdlib/struct-time", lambda: time.localtime(1_700_000_000), "stdlib", _ALL)
    yield Artifact("stdlib/stat-result", lambda: os.stat(__file__), "stdlib", _ALL)
    yield Artifact("stdlib/terminal-size", lambda: os.terminal_size((80, 24)), "stdlib", _ALL)
    yield Artifact(
        "stdlib/url-results",
        lambda: [
            urllib.parse.urlsplit("https://u@h:8/p?q=1#f"),
            urllib.parse.urlparse("http://h/p;x?y"),
            urllib.parse.urldefrag("http://h/p#frag"),
        ],
        "stdlib",
        _ALL,
    )
    yield Artifact(
        "stdlib/url-results-bytes",
        lambda: [
            urllib.parse.urlsplit(b"https://h/p?q"),
            urllib.parse.urlparse(b"http://h/p"),
            urllib.parse.urldefrag(b"http://h/#f"),
        ],
        "stdlib",
        _ALL,
    )
    yield Artifact(
        "stdlib/platform-uname",
        lambda: __import__("platform").uname(),
        "stdlib",
        ("p5",),
        refused="`platform.uname_result` runs `uname -p` when its processor field is read (by repr or iteration)",
    )
    # enums
    yield Artifact(
        "stdlib/enums",
        lambda: [
            signal.SIGTERM,
            socket.AF_INET,
            socket.SOCK_DGRAM,
            http.HTTPStatus.NOT_FOUND,
            re.IGNORECASE | re.MULTILINE,
            inspect.Parameter.KEYWORD_ONLY,
        ],
        "stdlib",
        _ALL,
    )
    yield Artifact("stdlib/os-values", lambda: [os.statvfs("/"), os.times(), os.uname()], "stdlib", _ALL)
    yield Artifact(
        "stdlib/more-enums", lambda: [signal.SIG_IGN, http.HTTPMethod.GET, socket.AF_UNIX, re.NOFLAG], "stdlib", _ALL
    )
    yield Artifact(
        "stdlib/more-exceptions",
        lambda: [
            BlockingIOError(11, "busy", 5),
            ModuleNotFoundError("m", name="m"),
            ZeroDivisionError("z"),
            RuntimeWarning("w"),
        ],
        "stdlib",
        _ALL,
        _same_exceptions,
    )
    # arrays and patterns
    yield Artifact("stdlib/array-int", lambda: array.array("i", [1, -2, 3]), "stdlib", _ALL)
    yield Artifact("stdlib/array-double", lambda: array.array("d", [1.5, -0.25]), "stdlib", _ALL)
    yield Artifact("stdlib/array-bytes", lambda: array.array("B", b"\x00\xff"), "stdlib", _ALL)
    yield Artifact("stdlib/array-unicode", lambda: array.array("u", "h\u00e9"), "stdlib", _ALL)
    yield Artifact(
        "stdlib/regex", lambda: re.compile(r"(?P<word>[a-z]+)-(\d{1,3})", re.IGNORECASE), "stdlib", _ALL, _same_pattern
    )
    yield Artifact(
        "stdlib/array-wide",
        lambda: [array.array("q", [-(2**63), 2**63 - 1]), array.array("f", [0.5]), array.array("H", [65535])],
        "stdlib",
        _ALL,
    )
    yield Artifact(
        "stdlib/regex-flags",
        lambda: re.compile(r"^ \s* (?:\w+)? $", re.MULTILINE | re.VERBOSE | re.ASCII),
        "stdlib",
        _ALL,
        _same_pattern,
    )
    yield Artifact("stdlib/regex-bytes", lambda: re.compile(rb"[a-z]+\s"), "stdlib", _ALL, _same_pattern)
