"""The public loading API: ``loads``, ``load`` and ``Unpickler``, mirroring :mod:`pickle`."""

from __future__ import annotations

import contextlib
import mmap
from collections.abc import Iterable
from typing import Any

from ._containers import is_wrapped, unwrap
from ._engine import NOT_OVERRIDDEN, Engine, real_global
from ._fast import MISS, try_loads_at
from ._reader import BytesReader, FileReader, Reader, regular_file_size
from .errors import MalformedPickleError
from .limits import Limits
from .policy import PolicyLike, resolve_policy

_DEFAULT_LIMITS = Limits()


class Unpickler:
    """Reads pickles from a binary file under a policy, like :class:`pickle.Unpickler`.

    ``persistent_load`` may be overridden (or assigned) with the same contract as in
    :mod:`pickle`.  ``find_class`` may be overridden too, but only to *narrow* the
    policy: it is called after the policy allowed a global, and returning anything
    but that same object (rather than raising) is refused.  Under
    ``Policy.unrestricted()`` an override behaves exactly as in :mod:`pickle`.
    """

    def __init__(
        self,
        file: Any,
        *,
        policy: PolicyLike = None,
        limits: Limits | None = None,
        fix_imports: bool = True,
        encoding: str = "ASCII",
        errors: str = "strict",
        buffers: Iterable[Any] | None = None,
    ) -> None:
        self._setup(FileReader(file), policy, limits, fix_imports, encoding, errors, buffers)

    def _setup(
        self,
        reader: Reader,
        policy: PolicyLike,
        limits: Limits | None,
        fix_imports: bool,
        encoding: str,
        errors: str,
        buffers: Iterable[Any] | None,
    ) -> None:
        self._engine = Engine(
            reader,
            resolve_policy(policy),
            limits if limits is not None else _DEFAULT_LIMITS,
            fix_imports=fix_imports,
            encoding=encoding,
            errors=errors,
            buffers=iter(buffers) if buffers is not None else None,
            persistent_load=self._persistent_load,
        )
        self._engine.find_class_hook = self._find_class

    def find_class(self, module: str, name: str) -> Any:
        """The global ``module.name`` if the policy allows it (after Python 2 renames
        when ``fix_imports`` applies); raises :class:`PolicyViolation` otherwise."""
        return real_global(self._engine.lookup(module, name))

    def _find_class(self, module: str, name: str) -> Any:
        """An override's answer (set on the class or the instance), or NOT_OVERRIDDEN."""
        find_class = self.find_class
        if getattr(find_class, "__func__", None) is Unpickler.find_class:
            return NOT_OVERRIDDEN
        return find_class(module, name)

    @property
    def memo(self) -> dict[int, Any]:
        """The memo, kept across ``load()`` calls as :mod:`pickle` keeps it."""
        return self._engine.memo

    @memo.setter
    def memo(self, value: dict[int, Any]) -> None:
        """Prime the memo (e.g. with another unpickler's); under a policy, the primed
        objects can be referenced but never called or changed."""
        self._engine.prime_memo(value)

    def load(self) -> Any:
        """Read one pickle from the file and return the object it describes, leaving
        the file just after STOP."""
        result = self._engine.load()
        reader = self._engine.reader
        if isinstance(reader, FileReader):
            reader.give_back_frame()
        return result

    def _persistent_load(self, pid: Any) -> Any:
        return self.persistent_load(pid)

    def persistent_load(self, pid: Any) -> Any:
        raise MalformedPickleError(
            "A load persistent id instruction was encountered, but no persistent_load function was specified."
        )


def loads(
    data: bytes | bytearray | memoryview,
    /,
    *,
    policy: PolicyLike = None,
    limits: Limits | None = None,
    fix_imports: bool = True,
    encoding: str = "ASCII",
    errors: str = "strict",
    buffers: Iterable[Any] | None = None,
) -> Any:
    """Load one pickle from ``data`` under ``policy`` (default: ``"default"``).

    gzip, bz2, xz and single-file zip data is unwrapped first (told by magic bytes,
    as ``pandas.read_pickle`` does), up to ``Limits.max_decompressed_bytes``."""
    if isinstance(data, str):
        raise TypeError("Can't load pickle from unicode string")
    raw = data if type(data) is bytes else bytes(memoryview(data))
    limits = limits if limits is not None else _DEFAULT_LIMITS
    if raw[:1] != b"\x80" and is_wrapped(raw[:6]):  # PROTO starts no compressed data
        raw = unwrap(raw, limits) or raw
    policy = resolve_policy(policy)  # a bad policy argument is an error even for plain data
    if buffers is None:
        result = try_loads_at(raw, policy, limits, fix_imports, encoding, errors)[0]
        if result is not MISS:
            return result
    unpickler = Unpickler.__new__(Unpickler)
    unpickler._setup(BytesReader(raw), policy, limits, fix_imports, encoding, errors, buffers)
    return unpickler.load()


def _peek(file: Any, n: int) -> bytes:
    """The next ``n`` bytes of ``file``, left unread (through peek or seek, as the file
    allows; a file that allows neither is not checked for compression)."""
    peek = getattr(file, "peek", None)
    if peek is not None:
        return bytes(peek(n)[:n])
    seekable = getattr(file, "seekable", None)
    if seekable is not None and seekable():
        head = file.read(n)
        file.seek(-len(head), 1)
        return bytes(head)
    return b""


def load(
    file: Any,
    /,
    *,
    policy: PolicyLike = None,
    limits: Limits | None = None,
    fix_imports: bool = True,
    encoding: str = "ASCII",
    errors: str = "strict",
    buffers: Iterable[Any] | None = None,
) -> Any:
    """Load one pickle from the binary file ``file``, leaving it just after STOP.

    A gzip, bz2, xz or single-file zip file is unwrapped first, as by :func:`loads`."""
    options: dict[str, Any] = {
        "policy": resolve_policy(policy),  # once, for whichever path loads
        "limits": limits if limits is not None else _DEFAULT_LIMITS,
        "fix_imports": fix_imports,
        "encoding": encoding,
        "errors": errors,
        "buffers": buffers,
    }
    if is_wrapped(_peek(file, 6)):
        return loads(file.read(), **options)
    if buffers is None:
        result = _try_regular_file(file, options)
        if result is not MISS:
            return result
    return Unpickler(file, **options).load()


#: A regular file's first bytes are read for the fast path (files may hold many small
#: pickles); when its pickle is longer, the rest of the file is mapped instead.
_FIRST_READ = 64 << 10


def _try_regular_file(file: Any, options: dict[str, Any]) -> Any:
    """The fast path on the rest of a regular file, leaving the file just after STOP;
    :data:`MISS` (with the file where it was) when it does not apply."""
    size, tell = regular_file_size(file)
    if size is None or tell is None:
        return MISS
    start = tell()
    rest = size - start
    if rest <= 0:
        return MISS
    settings = options["policy"], options["limits"], options["fix_imports"], options["encoding"], options["errors"]
    file.seek(start)
    result, end = try_loads_at(file.read(min(rest, _FIRST_READ)), *settings)
    if result is MISS and end < 0 and rest > _FIRST_READ:  # longer than that: map the rest
        result, end = _try_mapped(file, start, size, settings)
    file.seek(start + end if result is not MISS else start)
    return result


def _try_mapped(file: Any, start: int, size: int, settings: tuple[Any, ...]) -> tuple[Any, int]:
    """The fast path over a read-only mapping of the file from ``start``: the C
    unpickler reads the verifier's copy of the opcodes and the payloads straight from
    the mapping, so no second copy of the file is held."""
    offset = start - start % mmap.ALLOCATIONGRANULARITY
    try:
        mapping = mmap.mmap(file.fileno(), size - offset, access=mmap.ACCESS_READ, offset=offset)
    except (OSError, ValueError, OverflowError):  # e.g. a file system that cannot map
        return MISS, -1
    view = memoryview(mapping)[start - offset :]
    try:
        return try_loads_at(view, *settings)
    finally:
        with contextlib.suppress(BufferError):  # (an export still alive: the mapping closes when it goes)
            view.release()
            mapping.close()
