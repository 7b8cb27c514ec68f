"""CPython's own unpickling tests, run against picklefence under Policy.unrestricted()."""

from __future__ import annotations

import io
import unittest

import pytest

import picklefence

pickletester = pytest.importorskip("test.pickletester", reason="the interpreter ships without the test package")


class UnrestrictedUnpickler(picklefence.Unpickler):
    """``picklefence.Unpickler`` with ``Policy.unrestricted()``: what the tests call ``unpickler``."""

    def __init__(self, file: object, **kwds: object) -> None:
        super().__init__(file, policy=picklefence.Policy.unrestricted(), **kwds)  # type: ignore[arg-type]


def _loads(buf: bytes, **kwds: object) -> object:
    return picklefence.load(io.BytesIO(buf), policy=picklefence.Policy.unrestricted(), **kwds)  # type: ignore[arg-type]


class TestLoadsUnrestricted(pickletester.AbstractUnpickleTests, unittest.TestCase):  # type: ignore[misc]
    """Through ``loads`` (the in-memory reader)."""

    bad_stack_errors = (picklefence.UnpicklingError,)
    truncated_errors = (picklefence.UnpicklingError,)
    unpickler = UnrestrictedUnpickler

    def loads(self, buf: bytes, **kwds: object) -> object:
        return picklefence.loads(buf, policy=picklefence.Policy.unrestricted(), **kwds)  # type: ignore[arg-type]


class TestLoadUnrestricted(pickletester.AbstractUnpickleTests, unittest.TestCase):  # type: ignore[misc]
    """Through ``load`` (the file reader)."""

    bad_stack_errors = (picklefence.UnpicklingError,)
    truncated_errors = (picklefence.UnpicklingError,)
    unpickler = UnrestrictedUnpickler

    def loads(self, buf: bytes, **kwds: object) -> object:
        return _loads(buf, **kwds)
