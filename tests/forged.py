"""Loading forged library state in subprocesses, so that a crash is a failed row.

The hostile-state tables of the validator tests build their forged pickles in the test
process (from real fitted objects, by editing their state) and never use them there.
:func:`outcomes` loads every row with picklefence in one child process (starting one
per row would cost a second each) and reports what happened to each; if the child dies,
the rows it did not report are run again one per child, so the row that crashed it is
the one that fails.  :func:`control` loads one row with plain ``pickle`` and performs
the ordinary use, to show what the refusal prevents.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from typing import Any

_TIMEOUT = 120

#: Child: load every (id, data, loader) row and print one JSON line per row.
_LOAD_ROWS = """
import io, json, pickle, sys
import picklefence, picklefence.torch
for row_id, data, policy in pickle.load(open(sys.argv[1], "rb")):
    try:
        if policy == "torch checkpoint":
            picklefence.torch.load(io.BytesIO(data))
        else:
            picklefence.loads(data, policy=policy)
        result = {"outcome": "accepted"}
    except picklefence.PolicyViolation as exc:
        result = {"outcome": "refused", "name": exc.name, "capability": exc.capability, "message": str(exc)}
    except Exception as exc:
        result = {"outcome": "error", "name": type(exc).__name__, "message": str(exc)}
    print(json.dumps({"id": row_id, **result}), flush=True)
"""


def _run(script: str, payload: Any, *argv: str) -> subprocess.CompletedProcess[str]:
    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as file:
        pickle.dump(payload, file)
    try:
        env = {**os.environ, "PYTHONFAULTHANDLER": ""}
        return subprocess.run(
            [sys.executable, "-c", script, file.name, *argv],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            env=env,
            check=False,
        )
    finally:
        os.unlink(file.name)


def _parse(stdout: str) -> dict[str, dict[str, Any]]:
    rows = (json.loads(line) for line in stdout.splitlines() if line.startswith("{"))
    return {row.pop("id"): row for row in rows}


def outcomes(rows: dict[str, tuple[bytes, str]]) -> dict[str, dict[str, Any]]:
    """What picklefence did with each row ``id -> (data, policy)``: ``{"outcome":
    "refused", "name": ..., "capability": ..., "message": ...}``, ``"accepted"``,
    ``"error"``, or ``"crashed"`` (with the child's return code and stderr)."""
    payload = [(key, data, policy) for key, (data, policy) in rows.items()]
    done = _parse(_run(_LOAD_ROWS, payload).stdout)
    for key, data, policy in payload:
        if key not in done:
            alone = _run(_LOAD_ROWS, [(key, data, policy)])
            done.update(_parse(alone.stdout))
            done.setdefault(key, {"outcome": "crashed", "returncode": alone.returncode, "stderr": alone.stderr[-2000:]})
    return done


#: Child: load one row with plain pickle (or torch.load), then run the use code on it.
_CONTROL = """
import io, pickle, sys
data, policy, use = pickle.load(open(sys.argv[1], "rb"))
if policy == "torch checkpoint":
    import torch
    obj = torch.load(io.BytesIO(data), weights_only=False)
else:
    obj = pickle.loads(data)
exec(use)
"""


def controls(rows: dict[str, tuple[bytes, str, str]]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each row ``id -> (data, policy, use)``: the forged object loaded as its library
    would load it, then used by ``use`` (Python source with the object as ``obj``; it
    prints what it saw).  The children run at once: each mostly waits on its imports."""
    files, running = [], {}
    try:
        for key, row in rows.items():
            with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as file:
                pickle.dump(row, file)
            files.append(file.name)
            running[key] = subprocess.Popen(
                [sys.executable, "-c", _CONTROL, file.name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONFAULTHANDLER": ""},
            )
        done = {}
        for key, child in running.items():
            out, err = child.communicate(timeout=_TIMEOUT)
            done[key] = subprocess.CompletedProcess(child.args, child.returncode, out, err)
        return done
    finally:
        for child in running.values():
            if child.poll() is None:
                child.kill()
        for name in files:
            os.unlink(name)


def control(data: bytes, policy: str, use: str) -> subprocess.CompletedProcess[str]:
    """One row of :func:`controls`."""
    return controls({"row": (data, policy, use)})["row"]
