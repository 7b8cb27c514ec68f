"""Hostile-state tables for the validators (G8), run in subprocesses.

A row forges a pickle from a real library object (its state edited, or rebuilt through
a reducer that names the library's own functions), loads it with picklefence in a child
process and, if the load returns, performs the ordinary use there.  One child runs many
rows; when a row kills it (a segfault), that row is recorded as crashed and a new child
goes on with the rest, so a crash is one failed row, never a dead test run.  A row's
control loads the same bytes with plain ``pickle`` and uses the object, to show the
forged state really breaks the library.  A table module may name its own loaders:
``LOAD(data)`` (picklefence's, default ``picklefence.loads`` under its ``POLICY``) and
``CONTROL_LOAD(data)`` (the library's, default ``pickle.loads``), for formats such as
torch checkpoints.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# one thread per native library in the children: the suite runs on both cores already
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT), "OMP_NUM_THREADS": "1"}
TIMEOUT = 120


class Forged:
    """An object that pickles as the reduce tuple it is given.  For ``copyreg.__newobj__``
    (NEWOBJ) pickle wants the object's ``__class__`` to be the class made, so it says so."""

    def __init__(self, *reduced: Any) -> None:
        self.reduced = reduced

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        args = self.reduced[1]
        return args[0] if getattr(self.reduced[0], "__name__", "") == "__newobj__" else Forged

    def __reduce__(self) -> tuple[Any, ...]:
        return self.reduced


@dataclass(frozen=True)
class Row:
    """One forged state: what must be refused, and how the object is ordinarily used."""

    id: str
    forge: Callable[[], bytes]
    name: str  # the rule the refusal names
    words: str  # in its message
    capability: str = "validation"
    use: Callable[[Any], object] = repr
    # what plain pickle plus the use does (shown by a test): "crash" (killed by a signal)
    # or "garbage" (the use prints GARBAGE: it read memory outside the object's own)
    control: str | None = None
    error: str = "PolicyViolation"  # another picklefence error where the library's own check refuses


def dumps(obj: object) -> bytes:
    return pickle.dumps(obj, protocol=4)


_CHILD = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
rows = {row.id: row for row in module.ROWS}
import picklefence
load = getattr(module, "LOAD", None) or (lambda data: picklefence.loads(data, policy=module.POLICY))
for ident in sys.argv[2:]:
    row = rows[ident]
    print(json.dumps({"id": ident, "started": True}), flush=True)
    try:
        data = row.forge()
    except Exception as exc:
        print(json.dumps({"id": ident, "error": "forge failed", "message": repr(exc)}), flush=True)
        continue
    try:
        obj = load(data)
    except picklefence.PolicyViolation as exc:
        out = {"error": "PolicyViolation", "name": exc.name, "capability": exc.capability, "message": str(exc)}
    except picklefence.UnpicklingError as exc:
        out = {"error": type(exc).__name__, "message": str(exc)}
    else:
        try:
            row.use(obj)
            out = {"error": None, "message": "loaded and used"}
        except Exception as exc:
            out = {"error": None, "message": "loaded; the use raised " + type(exc).__name__}
    print(json.dumps({"id": ident, **out}), flush=True)
"""


def run_rows(module: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each row's outcome under picklefence; children are restarted after a crash."""
    pending = list(ids)
    results: dict[str, dict[str, Any]] = {}
    while pending:
        proc = _child(_CHILD, module, *pending)
        started = None
        for line in proc.stdout.splitlines():
            record = json.loads(line)
            if record.pop("started", False):
                started = record["id"]
            else:
                results[record["id"]] = record
                started = None
        if proc.returncode != 0:
            crashed = started if started is not None else next(i for i in pending if i not in results)
            results[crashed] = {"error": "crashed", "message": f"exit {proc.returncode}: {proc.stderr[-500:]}"}
        pending = [i for i in pending if i not in results]
    return results


_CONTROL = """
import importlib, pickle, sys
module = importlib.import_module(sys.argv[1])
row = {row.id: row for row in module.ROWS}[sys.argv[2]]
data = row.forge()
obj = getattr(module, "CONTROL_LOAD", pickle.loads)(data)
print("loaded", flush=True)
print("used", row.use(obj), flush=True)
"""


def run_control(module: str, ident: str) -> subprocess.CompletedProcess[str]:
    """Plain pickle on the row's bytes, then the ordinary use, in a child of its own."""
    return _child(_CONTROL, module, ident, timeout=CONTROL_TIMEOUT)


def _child(script: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter with the test environment, its output captured."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=ROOT,
        check=False,
    )


def assert_refused(row: Row, outcome: dict[str, Any]) -> None:
    """The row's forged pickle was refused at load as the row says: by a policy refusal
    naming the class and capability, or by the library's own check during the load."""
    assert outcome["error"] == row.error, outcome["message"]
    assert row.words in outcome["message"]
    if row.error == "PolicyViolation":
        assert outcome["name"] == row.name
        assert outcome["capability"] == row.capability


#: A read past an allocation faults only where the memory after it is unmapped, which
#: the allocator decides anew in every process: a control may take a few tries.
CONTROL_TRIES = 3
#: A write past an allocation can also leave the allocator spinning or deadlocked on its
#: own corrupted lists instead of faulting: a control still running after this long hung
#: the process, which is a break too (a row's own children load and use in seconds).
CONTROL_TIMEOUT = 60


def check_control(module: str, row: Row) -> None:
    """The row's control really breaks the library (in one of a few fresh processes)."""
    for _ in range(CONTROL_TRIES):
        try:
            proc = run_control(module, row.id)
        except subprocess.TimeoutExpired:
            return
        crashed = proc.returncode < 0  # killed by a signal, at load or at the use
        # an out-of-bounds read returns garbage, or crashes where the memory is unmapped
        if crashed or (row.control != "crash" and "GARBAGE" in proc.stdout):
            return
    raise AssertionError(
        f"{row.id}: plain pickle did not break it in {CONTROL_TRIES} runs\n" + proc.stdout + proc.stderr[-300:]
    )
