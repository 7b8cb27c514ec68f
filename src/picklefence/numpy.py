"""Loading numpy ``.npy`` and ``.npz`` files, object arrays included, with picklefence.

numpy refuses object arrays unless ``allow_pickle=True``, which runs any pickle; here
their pickle runs on picklefence's engine under the ``numpy`` policy instead.  The header
is read by numpy's own parser; an ``.npz`` member is an array when its content starts
like a ``.npy`` file (as ``numpy.load`` decides), whatever its name.  Needs numpy.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, BinaryIO

from ._containers import NPY, ZIP, memory_file, npy_header, open_zip, read_member
from ._unpickler import load as _load_pickle
from .errors import MalformedPickleError
from .limits import Limits
from .policy import PolicyLike

__all__ = ["load"]


def load(file: str | os.PathLike[str] | Any, *, policy: PolicyLike = "numpy", limits: Limits | None = None) -> Any:
    """The array of a ``.npy`` file, or a dict of the members of a ``.npz`` file (keyed
    as ``numpy.load`` keys them: arrays for ``.npy`` content, bytes for the rest)."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as handle:
            return load(handle, policy=policy, limits=limits)
    lim = limits if limits is not None else Limits()
    head = file.read(6)
    file.seek(-len(head), 1)
    if head.startswith(ZIP):
        members: dict[str, Any] = {}
        with open_zip(file) as archive:
            for info in archive.infolist():
                raw = read_member(archive, info, lim)
                key = info.filename[: -len(".npy")] if info.filename.endswith(".npy") else info.filename
                members[key] = _load_npy(memory_file(raw), policy, lim) if raw.startswith(NPY) else bytes(raw)
        return members
    if head == NPY:
        return _load_npy(file, policy, lim)
    raise MalformedPickleError("not a .npy or .npz file")


def _load_npy(file: BinaryIO, policy: PolicyLike, limits: Limits) -> Any:
    npy: Any = importlib.import_module("numpy.lib.format")
    start = file.tell()
    shape, _fortran, dtype = npy_header(file)
    if not dtype.hasobject:
        file.seek(start)
        try:
            return npy.read_array(file, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise MalformedPickleError(f"unreadable .npy data: {exc}") from None
    array = _load_pickle(file, policy=policy, limits=limits)
    if not isinstance(array, importlib.import_module("numpy").ndarray) or array.shape != shape or array.dtype != dtype:
        raise MalformedPickleError("the pickle in the .npy file is not the array its header describes")
    return array
