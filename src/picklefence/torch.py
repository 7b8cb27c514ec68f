"""Loading PyTorch checkpoints (``torch.save``'s zip format) with picklefence.

``data.pkl`` runs on picklefence's engine under the ``torch`` policy; tensors' storages
come from the archive's ``data/<key>`` files through ``persistent_load``.  Needs torch.
:func:`patch` routes third-party ``torch.load`` calls here.
"""

from __future__ import annotations

import importlib
import io
import os
import warnings
import zipfile
from typing import Any

from ._patch import torch_patch as patch
from ._unpickler import Unpickler
from .errors import LimitExceededError, MalformedPickleError
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
    torch: Any = importlib.import_module("torch")
    lim = limits if limits is not None else Limits()
    restore = torch.serialization._get_restore_location(map_location)
    try:
        archive = zipfile.ZipFile(f)
    except zipfile.BadZipFile:
        raise MalformedPickleError("not a torch zip checkpoint (the legacy pre-1.6 format is not supported)") from None
    with archive:
        names = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(names) != 1:
            raise MalformedPickleError(f"a torch checkpoint holds one data.pkl, not {len(names)}")
        prefix = names[0][: -len("data.pkl")]
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
                dtype = storage_type if isinstance(storage_type, torch.dtype) else getattr(storage_type, "dtype", None)
                if not isinstance(dtype, torch.dtype) or type(key) is not str or type(location) is not str:
                    raise MalformedPickleError(f"unexpected persistent id {pid!r}")
                if key not in loaded:
                    info = archive.getinfo(f"{prefix}data/{key}")
                    if info.file_size > lim.max_decompressed_bytes:
                        raise LimitExceededError(
                            f"storage {key!r} unpacks to {info.file_size} bytes",
                            limit="max_decompressed_bytes",
                            value=info.file_size,
                        )
                    raw = archive.read(info)
                    untyped = (
                        torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else torch.UntypedStorage(0)
                    )
                    loaded[key] = restore(untyped, location)
                return torch.storage.TypedStorage(wrap_storage=loaded[key], dtype=dtype, _internal=True)

        return _Loader(io.BytesIO(archive.read(names[0])), policy=policy, limits=lim).load()
