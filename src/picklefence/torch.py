"""Loading PyTorch checkpoints (``torch.save``'s zip format) with picklefence.

``data.pkl`` (found by torch's own record lookup rule) runs on picklefence's engine under
the ``torch`` policy; tensors' storages come from the archive's ``data/<key>`` files
through ``persistent_load``.  The legacy (pre-1.6) formats are refused as malformed, and
``scan`` reports them so too.  Needs torch.  :func:`patch` routes third-party
``torch.load`` calls here.
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

from ._containers import ZIP, memory_file, open_zip, read_member, torch_record
from ._patch import torch_patch as patch
from ._unpickler import Unpickler
from .errors import MalformedPickleError
from .limits import Limits
from .policy import PolicyLike

__all__ = ["load", "patch"]


def load(
    f: str | os.PathLike[str] | Any,
    *,
    policy: PolicyLike = "torch",
    map_location: Any = None,
    limits: Limits | None = None,
) -> Any:
    """What ``torch.load(f, weights_only=True)`` returns, loaded under ``policy``.

    ``map_location`` is torch's: ``None``, a device, a string, a dict of location
    renames, or a function ``(storage, location) -> storage``.  The legacy (pre-1.6)
    format is not read: re-save such files with a current torch.
    """
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as handle:
            return _load_file(handle, policy, map_location, limits)
    return _load_file(f, policy, map_location, limits)


def _load_file(f: Any, policy: PolicyLike, map_location: Any, limits: Limits | None) -> Any:
    """:func:`load` of an open binary file."""
    torch: Any = importlib.import_module("torch")
    lim = limits if limits is not None else Limits()
    restore = torch.serialization._get_restore_location(map_location)
    head = f.read(len(ZIP))
    f.seek(-len(head), 1)
    if head != ZIP:  # torch.load's own test for its zip format
        raise MalformedPickleError("not a torch zip checkpoint (the legacy pre-1.6 format is not supported)")
    with open_zip(f) as archive:
        record = torch_record(archive.namelist(), "data.pkl")
        if record is None:
            raise MalformedPickleError("a torch checkpoint without a data.pkl record")
        loaded: dict[str, Any] = {}

        class _Loader(Unpickler):
            def persistent_load(self, pid: Any) -> Any:
                with warnings.catch_warnings():  # TypedStorage is deprecated, yet what torch.load builds too
                    warnings.simplefilter("ignore", UserWarning)
                    return self._storage(pid)

            def _storage(self, pid: Any) -> Any:
                if type(pid) is not tuple or len(pid) != 5 or pid[0] != "storage":
                    raise MalformedPickleError(f"unexpected persistent id {pid!r}")
                _, storage_type, key, location, _numel = pid
                # torch.save names an UntypedStorage for the dtypes without a typed storage
                # class (float8, uint16/32/64, bits): torch.load wraps its bytes as uint8
                if storage_type is torch.UntypedStorage:
                    dtype = torch.uint8
                elif isinstance(storage_type, torch.dtype):
                    dtype = storage_type
                else:
                    dtype = getattr(storage_type, "dtype", None)
                if not isinstance(dtype, torch.dtype) or type(key) is not str or type(location) is not str:
                    raise MalformedPickleError(f"unexpected persistent id {pid!r}")
                if key not in loaded:
                    name = torch_record(archive.namelist(), f"data/{key}")
                    if name is None:
                        raise MalformedPickleError(f"the checkpoint has no storage {key!r}")
                    raw = read_member(archive, archive.getinfo(name), lim)
                    untyped = (
                        torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else torch.UntypedStorage(0)
                    )
                    loaded[key] = restore(untyped, location)
                return torch.storage.TypedStorage(wrap_storage=loaded[key], dtype=dtype, _internal=True)

        data = read_member(archive, archive.getinfo(record), lim)
        # _rebuild_sparse_tensor queues what it makes for torch.load's own (off by default)
        # validation; picklefence validates before the call, so its entries are dropped
        queued = torch._utils._sparse_tensors_to_validate
        start = len(queued)
        try:
            return _Loader(memory_file(data), policy=policy, limits=lim).load()
        finally:
            del queued[start:]
