"""CPython's own pickling tests, run with picklefence's Pickler/dumps and
Unpickler/loads under Policy.unrestricted()."""

from __future__ import annotations

import io
import unittest

import pytest

import picklefence

pickletester = pytest.importorskip("test.pickletester", reason="the interpreter ships without the test package")

UNRESTRICTED = picklefence.Policy.unrestricted()


class UnrestrictedPickler(picklefence.Pickler):
    def __init__(self, file: object, protocol: int | None = None, **kwds: object) -> None:
        super().__init__(file, protocol, policy=UNRESTRICTED, **kwds)  # type: ignore[arg-type]


class UnrestrictedUnpickler(picklefence.Unpickler):
    def __init__(self, file: object, **kwds: object) -> None:
        super().__init__(file, policy=UNRESTRICTED, **kwds)  # type: ignore[arg-type]


class TestPickleUnrestricted(pickletester.AbstractPickleTests, unittest.TestCase):  # type: ignore[misc]
    pickler = UnrestrictedPickler
    unpickler = UnrestrictedUnpickler

    def dumps(self, arg: object, proto: int | None = None, **kwargs: object) -> bytes:
        stream = io.BytesIO()
        self.pickler(stream, proto, **kwargs).dump(arg)
        return stream.getvalue()

    def loads(self, buf: bytes, **kwds: object) -> object:
        return self.unpickler(io.BytesIO(buf), **kwds).load()


class TestDumpsLoadsUnrestricted(pickletester.AbstractPickleTests, unittest.TestCase):  # type: ignore[misc]
    """Through the module-level functions."""

    pickler = UnrestrictedPickler

    def dumps(self, arg: object, proto: int | None = None, **kwargs: object) -> bytes:
        return picklefence.dumps(arg, proto, policy=UNRESTRICTED, **kwargs)  # type: ignore[arg-type]

    def loads(self, buf: bytes, **kwds: object) -> object:
        return picklefence.loads(buf, policy=UNRESTRICTED, **kwds)  # type: ignore[arg-type]


class TestPicklerUnpicklerObjects(pickletester.AbstractPicklerUnpicklerObjectTests, unittest.TestCase):  # type: ignore[misc]
    pickler_class = UnrestrictedPickler
    unpickler_class = UnrestrictedUnpickler
