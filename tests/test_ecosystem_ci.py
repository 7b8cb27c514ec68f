"""The CI script and the packaging say the same thing as pyproject."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_linters_are_pinned_to_the_same_versions_in_ci_and_the_dev_extra() -> None:
    dev = {re.split("==", spec)[0]: spec for spec in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    ci = (ROOT / ".ci" / "run").read_text()
    for tool in ("mypy", "ruff"):
        assert re.fullmatch(rf"{tool}==[0-9][0-9.]*", dev[tool]), dev[tool]
        assert f" {dev[tool]}" in ci, f"{dev[tool]} not in .ci/run"


def test_the_license_file_is_mit_as_pyproject_says() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_typing_extensions_is_declared_because_it_is_imported() -> None:
    declared = any(d.startswith("typing-extensions") for d in PYPROJECT["project"]["dependencies"])
    imported = any("typing_extensions" in p.read_text() for p in (ROOT / "src" / "picklefence").glob("*.py"))
    assert declared == imported
