"""Scanning one file: every pickle in it audited, as the JSON-able record that
``picklefence scan --json`` prints.  A record is the unit of work of every scan — the
command's sequential and ``--jobs`` runs, and a distributed map over a tree of files —
so all of them report the same thing in the same words.

Nothing here executes a pickle: the audit runs the loader's own parser with globals and
calls replaced by symbols.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from ._audit import JOBLIB_WRAPPER, Audit, audit_all
from ._containers import Source, file_contents
from ._rules import CAPABILITIES
from .errors import UnpicklingError
from .policy import Policy, PolicyLike, resolve_policy

__all__ = ["SCHEMA", "scan_path"]

SCHEMA = "picklefence.scan/1"
USES = (*CAPABILITIES, "arguments")


@dataclass
class Found:
    """One pickle in one file, audited."""

    path: str
    source: Source
    audit: Audit
    index: int

    @property
    def verdict(self) -> str:
        if self.audit.error is not None:
            return "malformed"
        return "safe" if self.audit.safe else "refused"

    def as_json(self) -> dict[str, Any]:
        audit = self.audit
        return {
            "path": self.path,
            "format": self.source.format,
            "member": self.source.member,
            "index": self.index,
            "start": audit.start,
            "verdict": self.verdict,
            "first_refusal": audit.first_refusal,
            "error": None if audit.error is None else str(audit.error).split("\n")[0],
            "problems": list(audit.problems),
            "globals": [
                {
                    "name": use.name,
                    "uses": [c for c in USES if c in use.uses],
                    "refused": [c for c in USES if c in use.refused],
                    "allowed": use.allowed,
                    "offsets": list(use.offsets),
                }
                for use in sorted(audit.globals, key=lambda u: u.offsets[0] if u.offsets else 0)
            ],
        }


def find(path: Path, policy: Policy) -> tuple[list[Found], list[dict[str, str]], list[dict[str, str | None]]]:
    """Every pickle a consumer of the file at ``path`` could read, audited; the file's
    failures (a layer that cannot be parsed, or the file itself); and the parts no
    consumer reads as a pickle."""
    found: list[Found] = []
    failures: list[dict[str, str]] = []
    unscanned: list[dict[str, str | None]] = []
    try:
        contents = file_contents(path)
        for source in contents.sources:
            audits = audit_all(source.data, policy=policy, start=source.offset)
            if source.probe and not any(audit.globals or audit.problems for audit in audits):
                reason = "read as a pickle, reaches no global before it stops parsing"
                unscanned.append({"path": str(path), "member": source.member, "reason": reason})
                continue
            found.extend(Found(str(path), source, audit, index) for index, audit in enumerate(audits))
            if any(use.name == JOBLIB_WRAPPER for audit in audits for use in audit.globals):
                found.extend(_as_plain_pickle(path, source, policy, audits))
        failures.extend({"path": str(path), "error": error} for error in contents.errors)
        unscanned.extend({"path": str(path), "member": u.member, "reason": u.reason} for u in contents.unscanned)
    except (OSError, UnpicklingError, ValueError, MemoryError, RecursionError) as exc:
        failures.append({"path": str(path), "error": str(exc).split("\n")[0] or type(exc).__name__})
    return found, failures, unscanned


def _as_plain_pickle(path: Path, source: Source, policy: Policy, audits: list[Audit]) -> list[Found]:
    """A joblib file read by ``pickle.load`` (or pandas): array bytes are opcodes then.
    Reported only if that reading reaches a global the joblib reading does not (a real
    joblib file stops at the padding byte after its first array)."""
    known = {(use.name, offset) for audit in audits for use in audit.globals for offset in use.offsets}
    plain = audit_all(source.data, policy=policy, start=source.offset, joblib_arrays=False)
    uses = {(use.name, offset) for audit in plain for use in audit.globals for offset in use.offsets}
    if uses <= known:
        return []
    read = dataclasses.replace(source, format=source.format + " (as pickle.load reads it)")
    return [Found(str(path), read, audit, index) for index, audit in enumerate(plain)]


def scan_path(path: str | os.PathLike[str], *, policy: PolicyLike = None) -> dict[str, Any]:
    """Scan one file without loading it: ``{"path", "pickles", "errors", "unscanned"}``.

    ``pickles`` holds one record per pickle found (the records of ``scan --json``,
    each with ``allowed_by``: the shipped policies that, added to ``policy``, would
    allow everything it was refused for); ``errors`` the file's failure to be read, if
    any; ``unscanned`` the parts of the file no consumer reads as a pickle.  Records are
    plain JSON-able data, so the call maps over processes and
    clusters, and the command's output is made from them alone.
    """
    pol = resolve_policy(policy)
    found, failures, unscanned = find(Path(path), pol)
    pickles = []
    for item, names in zip(found, allowed_by(found, pol), strict=True):
        record = item.as_json()
        record["allowed_by"] = list(names)
        pickles.append(record)
    return {"path": str(path), "pickles": pickles, "errors": failures, "unscanned": unscanned}


EXIT_SAFE, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2


def exit_code(verdicts: Iterable[str], unreadable: int) -> int:
    """The command's exit status: 0 if every pickle is safe, 1 if one is refused, 2 if
    one is malformed or a file is unreadable (2 wins over 1)."""
    seen = set(verdicts)
    if unreadable or "malformed" in seen:
        return EXIT_ERROR
    return EXIT_REFUSED if "refused" in seen else EXIT_SAFE


def allowed_by(found: list[Found], policy: Policy) -> list[tuple[str, ...]]:
    """For each pickle of ``found``: the shipped policies (smallest first) that, added to
    ``policy``, allow every use it was refused for; none for a safe, malformed or
    unfixable pickle.  Each shipped policy audits a stream again at most once, in place
    (whatever the number of pickles in it; a slice per pickle would copy a large one)."""
    result: list[list[str]] = [[] for _ in found]
    by_source: dict[int, list[int]] = {}
    for index, item in enumerate(found):
        if item.verdict == "refused" and not item.audit.problems:
            by_source.setdefault(id(item.source), []).append(index)
    for indices in by_source.values():
        source = found[indices[0]].source
        for name in shipped_by_size():
            shipped = Policy.named(name)
            candidates = [
                i for i in indices if all(shipped.rule(*_split(use.name)) for use in found[i].audit.refused)
            ]  # a pickle using a name the policy has no rule for needs no second audit
            if candidates:
                again = audit_all(source.data, policy=_widened(policy, name), start=source.offset)
                safe = {report.start for report in again if report.safe}
                for i in candidates:
                    if found[i].audit.start in safe:
                        result[i].append(name)
    return [tuple(_general_first(names)) for names in result]


#: Shipped policies named on purpose (one library's models, whole torch modules), never
#: part of ``ml``: suggested for a pickle only when no general policy allows it (an
#: xgboost model), never as one more choice.
OPT_IN = frozenset({"gensim", "lightgbm", "statsmodels", "torch_modules", "xgboost"})


def _general_first(names: list[str]) -> list[str]:
    general = [name for name in names if name not in OPT_IN]
    return general or names


@cache
def shipped_by_size() -> tuple[str, ...]:
    """Shipped policy names, the smallest (the fewest rules) first: the narrowest fix comes first."""
    return tuple(sorted(Policy.shipped_names(), key=lambda name: (len(Policy.named(name)), name)))


@lru_cache(maxsize=64)
def _widened(policy: Policy, name: str) -> Policy:
    return policy | Policy.named(name)


def _split(name: str) -> tuple[str, str]:
    module, _, qualname = name.partition(":")
    return module, qualname
