"""The README's examples run, and its set-up commands are what CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(BLOCKS[index], encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_demo_command_loads_one_and_refuses_the_other(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "picklefence", "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "loaded a safe pickle" in result.stdout
    assert "refused a hostile pickle: os:system" in result.stdout
    assert "never ran" in result.stdout


def test_ci_runs_the_readme_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(python3 -m pip install .*)$", setup, flags=re.MULTILINE)
    assert len(commands) == 2
    for command in commands:
        assert any(line.startswith(command + " ") for line in ci), f"CI does not run the README command {command!r}"
