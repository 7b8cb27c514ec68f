"""Zero-config coverage: every artifact of the corpus (``tests/corpus``), made by the
libraries themselves, loads with the shipped policy a user would name and is the same
value the real consumer returns for the same bytes; the few refused on purpose are
refused, and the README lists each with its reason."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

from picklefence import PolicyViolation, UnpicklingError

from . import corpus
from .corpus import Artifact, assert_same, dumped, loaded

README = Path(__file__).resolve().parent.parent / "README.md"


def _artifacts() -> list[Artifact]:
    found: list[Artifact] = []
    for info in sorted(pkgutil.iter_modules(corpus.__path__), key=lambda m: m.name):
        module: Any = importlib.import_module(f"{corpus.__name__}.{info.name}")
        found.extend(module.artifacts())
    return found


ARTIFACTS = _artifacts()
CASES = [case for artifact in ARTIFACTS for case in artifact.ids()]


def test_names_are_unique() -> None:
    names = [a.name for a in ARTIFACTS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize(("artifact", "fmt"), CASES, ids=[f"{a.name}-{f}" for a, f in CASES])
def test_artifact_loads_as_the_consumer_loads_it(artifact: Artifact, fmt: str) -> None:
    for library in artifact.requires:
        pytest.importorskip(library)
    data = dumped(artifact, fmt)
    expected = loaded(data, fmt, None)
    if artifact.refused is not None:
        with pytest.raises((PolicyViolation, UnpicklingError)):
            loaded(data, fmt, artifact.policy)
        return
    got = loaded(data, fmt, artifact.policy)
    (artifact.same or assert_same)(expected, got)


def test_at_least_95_percent_of_the_corpus_loads() -> None:
    refused = [a for a, _ in CASES if a.refused is not None]
    assert len(refused) <= 0.05 * len(CASES), f"{len(refused)} of {len(CASES)} refused"


def test_the_readme_lists_every_refusal_with_its_reason() -> None:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^### What does not load\n(.*?)(?=^#)", text, re.S | re.M)
    assert section is not None, "README has no 'What does not load' section"
    for artifact in ARTIFACTS:
        if artifact.refused is not None:
            assert artifact.name in section.group(1) and artifact.refused in section.group(1), artifact.name
