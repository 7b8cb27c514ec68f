"""Loading ``joblib.dump`` files with picklefence, without joblib.

joblib writes a pickle in which each numpy array is a ``NumpyArrayWrapper`` whose bytes
follow its BUILD opcode in the file (after an optional alignment padding), and object
arrays as a nested pickle there.  Here the wrapper is picklefence's own stand-in, the
array bytes are read with their size checked against the shape and dtype, and every
pickle runs on picklefence's engine under the policy.  Compressed files (zlib, gzip,
bz2, xz, lzma) are unpacked first, up to ``Limits.max_decompressed_bytes``.  Needs numpy.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from ._containers import inflate, is_wrapped, memory_file
from ._engine import Engine, build_dispatch
from ._reader import FileReader
from ._rules import Rule
from .errors import MalformedPickleError, PolicyViolation
from .limits import Limits
from .policy import PolicyLike, resolve_policy

__all__ = ["load"]

_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_WRAPPER_STATE = frozenset({"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"})
_WRAPPER_RULE = Rule(*_WRAPPER, can=frozenset({"construct", "state"}), state_keys=_WRAPPER_STATE)


class _ArrayWrapper:
    """picklefence's stand-in for joblib's NumpyArrayWrapper: where an array's bytes are."""

    subclass: Any = None
    shape: Any = None
    order: Any = "C"
    dtype: Any = None
    numpy_array_alignment_bytes: Any = None


class _JoblibEngine(Engine):
    def __init__(self, reader: FileReader, file: Any, **kwargs: Any) -> None:
        super().__init__(reader, **kwargs)
        self.file = file
        self.found[_WRAPPER] = _ArrayWrapper
        self.globals[id(_ArrayWrapper)] = (_ArrayWrapper, ((":".join(_WRAPPER), _WRAPPER_RULE),))

    def op_BUILD(self) -> None:
        Engine.op_BUILD(self)
        if type(self.stack[-1]) is _ArrayWrapper:
            self.stack[-1] = self.read_array(self.stack[-1])

    def read_array(self, wrapper: _ArrayWrapper) -> Any:
        numpy: Any = importlib.import_module("numpy")
        shape, dtype = wrapper.shape, wrapper.dtype
        if type(shape) is not tuple or not all(type(d) is int and d >= 0 for d in shape):
            raise MalformedPickleError(f"joblib array shape {shape!r} is not a shape")
        if not isinstance(dtype, numpy.dtype) or wrapper.order not in ("C", "F"):
            raise MalformedPickleError("joblib array without a numpy dtype and order")
        if wrapper.subclass not in (numpy.ndarray, numpy.memmap):
            raise PolicyViolation("joblib arrays are read as numpy.ndarray only", capability="construct")
        count = 1
        for dim in shape:
            count *= dim
        if dtype.hasobject:
            nested = Engine(
                FileReader(self.file),
                self.policy,
                self.limits,
                fix_imports=True,
                encoding="ASCII",
                errors="strict",
                buffers=None,
                persistent_load=self.persistent_load,
            )
            array = nested.load()
            if not isinstance(array, numpy.ndarray) or array.shape != shape or array.dtype != dtype:
                raise MalformedPickleError("joblib's nested pickle is not the object array its wrapper describes")
            return array
        if dtype.itemsize == 0 and count:
            raise MalformedPickleError("joblib array of a zero-size dtype claims elements")
        if wrapper.numpy_array_alignment_bytes is not None:
            padding = self.read(1)[0]
            if padding > 64:
                raise MalformedPickleError(f"joblib padding of {padding} bytes")
            self.read(padding)
        data = bytearray(self.read(self.length(count * dtype.itemsize)))
        array = numpy.frombuffer(data, dtype=dtype, count=count)
        if wrapper.order == "F":
            return array.reshape(shape[::-1]).transpose()
        return array.reshape(shape)


_JoblibEngine.dispatch = build_dispatch(_JoblibEngine)


def load(
    filename: str | os.PathLike[str] | Any, *, policy: PolicyLike = "sklearn", limits: Limits | None = None
) -> Any:
    """What ``joblib.load(filename)`` returns, loaded under ``policy``."""
    if isinstance(filename, (str, os.PathLike)):
        with open(filename, "rb") as handle:
            return load(handle, policy=policy, limits=limits)
    lim = limits if limits is not None else Limits()
    file = _unpacked(filename, lim)
    engine = _JoblibEngine(
        FileReader(file),
        file,
        policy=resolve_policy(policy),
        limits=lim,
        fix_imports=True,
        encoding="ASCII",
        errors="strict",
        buffers=None,
        persistent_load=_no_persistent_ids,
    )
    return engine.load()


def _no_persistent_ids(pid: Any) -> Any:
    raise MalformedPickleError("joblib files have no persistent ids")


def _unpacked(file: Any, limits: Limits) -> Any:
    """``file`` itself, or its contents unpacked if joblib compressed them."""
    head = file.read(6)
    file.seek(-len(head), 1)
    if not is_wrapped(head):
        return file
    unpacked = inflate(file.read(), limits)
    if unpacked is None:
        raise MalformedPickleError("not a joblib file")
    return memory_file(unpacked[1])
