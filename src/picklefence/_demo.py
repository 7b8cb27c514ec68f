"""The README's demo: a safe pickle loads, a hostile one is refused and does nothing."""

from __future__ import annotations

import os
import pickle
import tempfile

from . import loads
from .errors import PolicyViolation


def _hostile_pickle(path: str) -> bytes:
    """What an attacker sends: ``os.system("touch <path>")`` on load."""
    command = f"touch {path}".encode()
    return b"cos\nsystem\n(V" + command + b"\ntR."


def run() -> int:
    settings = {"name": "picklefence", "retries": 3, "ratio": 0.5, "tags": {"safe", "fast"}, "raw": b"\x00\x01"}
    data = pickle.dumps(settings, protocol=pickle.HIGHEST_PROTOCOL)
    loaded = loads(data)
    print(f"loaded a safe pickle ({len(data)} bytes): {loaded!r}")
    ok = loaded == settings

    with tempfile.TemporaryDirectory() as tmp:
        canary = os.path.join(tmp, "pwned")
        try:
            loads(_hostile_pickle(canary))
        except PolicyViolation as exc:
            print(f"refused a hostile pickle: {exc.name} ({exc.capability}) at byte {exc.offset}")
            print("  " + str(exc).replace("\n", "\n  "))
        else:
            print("ERROR: the hostile pickle was not refused")
            ok = False
        if os.path.exists(canary):
            print("ERROR: the hostile pickle ran a command")
            ok = False
        else:
            print("the command in the hostile pickle never ran")
    return 0 if ok else 1
