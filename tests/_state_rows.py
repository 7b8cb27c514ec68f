"""Hostile-state tables for the validators (G8), run in subprocesses.

A row forges a pickle from a real library object (its state edited, or rebuilt through
a reducer that names the library's own functions), loads it with picklefence in a child
process and, if the load returns, performs the ordinary use there.  One child runs many
rows; when a row kills it (a segfault), that row is recorded as crashed and a new child
goes on with the rest, so a crash is one failed row, never a dead test run.  A row's
control loads the same bytes with plain ``pickle`` and uses the object, to show the
forged state really breaks the library.  A table is a module-level list of rows (``ROWS``
unless the runner is told another name): the children import the module and find the
row by its id, so a row's forge and use are ordinary functions of the test module.  A
table module may name its own loaders: ``LOAD(data)`` (picklefence's, default
``picklefence.loads`` under its ``POLICY``) and ``CONTROL_LOAD(data)`` (the library's,
default ``pickle.loads``), for formats such as torch checkpoints; a row whose load
differs from the rest of its module's (another policy) says so in its own ``load``.
:func:`row_tests` makes a table's fixture and its two tests, the same in every module.
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

import pytest

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
    load: Callable[[bytes], Any] | None = None  # picklefence's load where not the module's LOAD


def dumps(obj: object) -> bytes:
    return pickle.dumps(obj, protocol=4)


_CHILD = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
rows = {row.id: row for row in getattr(module, sys.argv[2])}
import picklefence
default = getattr(module, "LOAD", None) or (lambda data: picklefence.loads(data, policy=module.POLICY))
for ident in sys.argv[3:]:
    row = rows[ident]
    load = row.load or default
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


def run_rows(module: str, ids: Iterable[str], table: str = "ROWS") -> dict[str, dict[str, Any]]:
    """Each row's outcome under picklefence; children are restarted after a crash."""
    pending = list(ids)
    results: dict[str, dict[str, Any]] = {}
    while pending:
        proc = run_script(_CHILD, module, table, *pending)
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
row = {row.id: row for row in getattr(module, sys.argv[2])}[sys.argv[3]]
data = row.forge()
obj = getattr(module, "CONTROL_LOAD", pickle.loads)(data)
print("loaded", flush=True)
print("used", row.use(obj), flush=True)
"""


def run_control(module: str, ident: str, table: str = "ROWS") -> subprocess.CompletedProcess[str]:
    """Plain pickle on the row's bytes, then the ordinary use, in a child of its own."""
    return run_script(_CONTROL, module, table, ident, timeout=CONTROL_TIMEOUT)


def run_script(script: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter with the test environment, its output captured:
    for what a library does unguarded, which the test process must not risk."""
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
CONTROL_TRIES = 5
#: A write past an allocation can also leave the allocator spinning or deadlocked on its
#: own corrupted lists instead of faulting: a control still running after this long hung
#: the process, which is a break too (a row's own children load and use in seconds).
CONTROL_TIMEOUT = 60


def check_control(module: str, row: Row, table: str = "ROWS") -> None:
    """The row's control really breaks the library (in one of a few fresh processes)."""
    for _ in range(CONTROL_TRIES):
        try:
            proc = run_control(module, row.id, table)
        except subprocess.TimeoutExpired:
            return
        crashed = proc.returncode < 0  # killed by a signal, at load or at the use
        # an out-of-bounds read returns garbage, or crashes where the memory is unmapped
        if crashed or (row.control != "crash" and "GARBAGE" in proc.stdout):
            return
    raise AssertionError(
        f"{row.id}: plain pickle did not break it in {CONTROL_TRIES} runs\n" + proc.stdout + proc.stderr[-300:]
    )


def params(rows: Iterable[Row], why_not: Callable[[Row], str | None]) -> list[Any]:
    """The rows as test parameters named by their ids, each skipped where ``why_not``
    says why it cannot run under the installed library (``None``: it runs)."""
    return [
        pytest.param(row, id=row.id, marks=[pytest.mark.skip(reason=reason)] if (reason := why_not(row)) else [])
        for row in rows
    ]


def _runs(row: Row) -> str | None:
    """The default: a row runs, and its control breaks, under every supported version."""
    return None


def row_tests(
    module: str,
    table: str = "ROWS",
    *,
    skip: Callable[[Row], str | None] = _runs,
    skip_control: Callable[[Row], str | None] = _runs,
    refused: Callable[[Row, dict[str, Any]], None] = assert_refused,
) -> tuple[Any, Callable[..., None], Callable[..., None]]:
    """The fixture and the two tests of the table ``table`` of ``module`` (the module is
    still importing, its table already defined), for it to assign to its own names, under
    which pytest collects them: the fixture runs every row in children; one test a row
    asserts the refusal (``refused``: :func:`assert_refused`, or a module's own that also
    accepts its library's refusal); one test a control row shows plain pickle breaking.
    ``skip`` says why a row cannot run under the installed library, ``skip_control`` why
    only its control cannot (its library refuses the state itself, say)."""
    rows: list[Row] = getattr(sys.modules[module], table)
    fixture = f"{table}_outcomes"  # a module may have two tables

    @pytest.fixture(scope="module", name=fixture)
    def outcomes() -> dict[str, dict[str, Any]]:
        return run_rows(module, [row.id for row in rows if skip(row) is None], table)

    @pytest.mark.parametrize("row", params(rows, skip))
    def test_refused(row: Row, request: pytest.FixtureRequest) -> None:
        refused(row, request.getfixturevalue(fixture)[row.id])

    @pytest.mark.parametrize(
        "row", params([row for row in rows if row.control], lambda row: skip(row) or skip_control(row))
    )
    def test_control(row: Row) -> None:
        check_control(module, row, table)

    return outcomes, test_refused, test_control
