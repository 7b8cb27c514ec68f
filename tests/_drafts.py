"""The generator's draft for an installed library, made once per test session in a child
process (importing every submodule of a library is not something the test process
should keep), as plain data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

_CHILD = """
import json, sys
from picklefence._generate import generate, to_toml
from picklefence._toml import _render_signature
generated = generate(sys.argv[1:])

def signatures(rule):
    if rule is None or rule.signatures is None:
        return None
    return [_render_signature(s, rule.name) for s in rule.signatures]

drafts = [
    {"name": d.name, "kind": d.kind, "review": d.review, "why": d.why,
     "can": sorted(d.rule.can) if d.rule is not None and d.rule.can is not None else None,
     "signatures": signatures(d.rule)}
    for d in generated.drafts
]
json.dump({"drafts": drafts, "failures": generated.failures, "toml": to_toml(generated)}, sys.stdout)
"""

SRC = Path(__file__).resolve().parent.parent / "src"


@cache
def draft(*packages: str) -> dict[str, Any]:
    """``{"drafts": [...], "failures": [...], "toml": text}`` for ``packages``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *packages], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def by_name(packages: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in draft(*packages)["drafts"]}
