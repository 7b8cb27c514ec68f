"""The fast path: CPython's C unpickler, for streams proven to be plain data.

The verifier (``_fastcheck``, compiled C) walks the bytes once and accepts only
pickles made of plain-data opcodes that are well formed and within the limits: no
global, call, BUILD, extension code, persistent id or buffer, no argument straddling
a FRAME, item opcodes only on containers the pickle built.  Nothing in such a stream
reaches the policy, so the C unpickler's result is the strict engine's.  Anything else,
and any error, goes to the strict engine, which gives the canonical result or error.
The C reader only ever gets verified bytes, never a file (cpython gh-154848).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

from .limits import Limits

_Verify = Callable[[bytes, int, int, int, int], int]
try:
    from ._fastcheck import verify as _verify

    verify: _Verify | None = _verify
except ImportError:  # built without a C compiler: the strict engine does everything
    verify = None

#: Returned when the fast path does not apply.
MISS = object()


def try_loads(data: bytes, limits: Limits, encoding: str, errors: str) -> Any:
    """The object ``data`` holds, if the fast path applies; otherwise :data:`MISS`."""
    if verify is None:
        return MISS
    end = verify(data, limits.max_memo_index, limits.max_memo_entries, limits.max_mark_depth, limits.max_string_bytes)
    if end < 0 or end > limits.max_input_bytes:
        return MISS
    try:
        return pickle.loads(data, encoding=encoding, errors=errors)
    except Exception:  # e.g. an unhashable dict key: the strict engine says it canonically
        return MISS
