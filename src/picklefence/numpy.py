"""Loading numpy ``.npy`` and ``.npz`` files, object arrays included, with picklefence.

numpy refuses object arrays unless ``allow_pickle=True``, which runs any pickle; here
their pickle runs on picklefence's engine under the ``numpy`` policy instead.  Needs numpy.
"""

from __future__ import annotations

import importlib
import io
import os
import zipfile
from typing import Any

from ._unpickler import load as _load_pickle
from .errors import MalformedPickleError
from .limits import Limits
from .policy import PolicyLike

__all__ = ["load"]

_NPY = b"\x93NUMPY"
_ZIP = b"PK\x03\x04"


def load(file: str | os.PathLike[str] | Any, *, policy: PolicyLike = "numpy", limits: Limits | None = None) -> Any:
    """The array of a ``.npy`` file, or a dict of the arrays of a ``.npz`` file."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as handle:
            return load(handle, policy=policy, limits=limits)
    head = file.read(6)
    file.seek(-len(head), 1)
    if head.startswith(_ZIP):
        with zipfile.ZipFile(file) as archive:
            return {
                name[: -len(".npy")]: _load_npy(io.BytesIO(archive.read(name)), policy, limits)
                for name in archive.namelist()
                if name.endswith(".npy")
            }
    if head == _NPY:
        return _load_npy(file, policy, limits)
    raise MalformedPickleError("not a .npy or .npz file")


def _load_npy(file: Any, policy: PolicyLike, limits: Limits | None) -> Any:
    npy: Any = importlib.import_module("numpy.lib.format")
    start = file.tell()
    version = npy.read_magic(file)
    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, _fortran, dtype = read_header(file)  # numpy's own parser, which evaluates only literals
    if not dtype.hasobject:
        file.seek(start)
        return npy.read_array(file, allow_pickle=False)
    array = _load_pickle(file, policy=policy, limits=limits)
    if not isinstance(array, importlib.import_module("numpy").ndarray) or array.shape != shape or array.dtype != dtype:
        raise MalformedPickleError("the pickle in the .npy file is not the array its header describes")
    return array
