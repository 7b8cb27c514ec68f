"""The ``picklefence`` command: scan, explain, learn, policy tools, and the demo.

Nothing here executes a pickle: every command works from the static audit, which runs
the loader's own parser with globals and calls replaced by symbols.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickletools
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import _demo
from ._audit import JOBLIB_WRAPPER, Audit, audit_all
from ._containers import Source, file_contents
from ._danger import danger_of
from ._hints import allow_hint
from ._rules import CAPABILITIES, Rule
from ._toml import render
from .errors import UnpicklingError
from .policy import Policy, PolicyFileError, resolve_policy

EXIT_SAFE, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2
_USES = (*CAPABILITIES, "arguments")
SCHEMA = "picklefence.scan/1"
_PROGRESS_FILES = 10
_PROGRESS_BYTES = 64 * 1024**2


@dataclass
class _Found:
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
                    "uses": [c for c in _USES if c in use.uses],
                    "refused": [c for c in _USES if c in use.refused],
                    "allowed": use.allowed,
                    "offsets": list(use.offsets),
                }
                for use in sorted(audit.globals, key=lambda u: u.offsets[0] if u.offsets else 0)
            ],
        }


@dataclass
class _Scan:
    found: list[_Found] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    unscanned: list[dict[str, str | None]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.failures or any(f.verdict == "malformed" for f in self.found):
            return EXIT_ERROR
        return EXIT_REFUSED if any(f.verdict == "refused" for f in self.found) else EXIT_SAFE


def _files(paths: Sequence[str], recursive: bool) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            if not recursive:
                raise FileNotFoundError(f"{name} is a directory (use --recursive)")
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def _scan(paths: Sequence[str], policy: Policy, recursive: bool, progress: TextIO | None) -> _Scan:
    result = _Scan()
    files = list(_files(paths, recursive))
    for number, path in enumerate(files, 1):
        try:
            size = path.stat().st_size
            if progress is not None and (len(files) > _PROGRESS_FILES or size > _PROGRESS_BYTES):
                print(
                    f"picklefence: scanning [{number}/{len(files)}] {path} ({size:,} bytes)", file=progress, flush=True
                )
            _scan_file(path, policy, result)
        except (OSError, UnpicklingError, ValueError, MemoryError, RecursionError) as exc:
            result.failures.append({"path": str(path), "error": str(exc).split("\n")[0] or type(exc).__name__})
    return result


def _scan_file(path: Path, policy: Policy, result: _Scan) -> None:
    """Audit every pickle a consumer of ``path`` could read; a layer that cannot be
    parsed is a failure of the file, the parts no consumer reads as a pickle are listed."""
    contents = file_contents(path)
    for source in contents.sources:
        audits = audit_all(source.data, policy=policy, start=source.offset)
        if source.probe and not any(audit.globals or audit.problems for audit in audits):
            reason = "read as a pickle, reaches no global before it stops parsing"
            result.unscanned.append({"path": str(path), "member": source.member, "reason": reason})
            continue
        result.found.extend(_Found(str(path), source, audit, index) for index, audit in enumerate(audits))
        if any(use.name == JOBLIB_WRAPPER for audit in audits for use in audit.globals):
            result.found.extend(_as_plain_pickle(path, source, policy, audits))
    result.failures.extend({"path": str(path), "error": error} for error in contents.errors)
    result.unscanned.extend({"path": str(path), "member": u.member, "reason": u.reason} for u in contents.unscanned)


def _as_plain_pickle(path: Path, source: Source, policy: Policy, audits: list[Audit]) -> list[_Found]:
    """A joblib file read by ``pickle.load`` (or pandas): array bytes are opcodes then.
    Reported only if that reading reaches a global the joblib reading does not (a real
    joblib file stops at the padding byte after its first array)."""
    known = {(use.name, offset) for audit in audits for use in audit.globals for offset in use.offsets}
    plain = audit_all(source.data, policy=policy, start=source.offset, joblib_arrays=False)
    uses = {(use.name, offset) for audit in plain for use in audit.globals for offset in use.offsets}
    if uses <= known:
        return []
    read = dataclasses.replace(source, format=source.format + " (as pickle.load reads it)")
    return [_Found(str(path), read, audit, index) for index, audit in enumerate(plain)]


def _print_scan(scan: _Scan, out: TextIO) -> None:
    for found in scan.found:
        where = found.path + (f" :: {found.source.member}" if found.source.member else "")
        where += f" [{found.source.format}, pickle {found.index} at byte {found.audit.start}]"
        print(f"{found.verdict.upper():9} {where}", file=out)
        if found.audit.error is not None:
            print(f"          {str(found.audit.error).splitlines()[0]}", file=out)
        if found.audit.first_refusal is not None:
            print(f"          first refusal at byte {found.audit.first_refusal}", file=out)
        for problem in found.audit.problems:
            print(f"          problem: {problem}", file=out)
        for use in sorted(found.audit.globals, key=lambda u: u.offsets[0] if u.offsets else 0):
            uses = ", ".join(c for c in _USES if c in use.uses)
            mark = "allowed" if use.allowed else "REFUSED " + ", ".join(c for c in _USES if c in use.refused)
            print(f"          {use.name} ({uses}): {mark}", file=out)
    for failure in scan.failures:
        print(f"ERROR     {failure['path']}: {failure['error']}", file=out)
    counts = {v: sum(f.verdict == v for f in scan.found) for v in ("safe", "refused", "malformed")}
    print(
        f"{len(scan.found)} pickles: {counts['safe']} safe, {counts['refused']} refused, "
        f"{counts['malformed']} malformed; {len(scan.failures)} unreadable",
        file=out,
    )


def cmd_scan(args: argparse.Namespace) -> int:
    policy = _policy(args.policy)
    scan = _scan(args.paths, policy, args.recursive, None if args.quiet else sys.stderr)
    if args.json:
        document = {
            "schema": SCHEMA,
            "policy": args.policy or ["default"],
            "pickles": [f.as_json() for f in scan.found],
            "errors": scan.failures,
            "unscanned": scan.unscanned,
            "summary": {
                "pickles": len(scan.found),
                "safe": sum(f.verdict == "safe" for f in scan.found),
                "refused": sum(f.verdict == "refused" for f in scan.found),
                "malformed": sum(f.verdict == "malformed" for f in scan.found),
                "errors": len(scan.failures),
                "exit_code": scan.exit_code,
            },
        }
        json.dump(document, sys.stdout, indent=2)
        print()
    else:
        _print_scan(scan, sys.stdout)
    return scan.exit_code


def cmd_explain(args: argparse.Namespace) -> int:
    policy = _policy(args.policy)
    scan = _scan([args.file], policy, False, None)
    if scan.failures:
        print(f"picklefence: {scan.failures[0]['path']}: {scan.failures[0]['error']}", file=sys.stderr)
        return EXIT_ERROR
    needed: dict[str, set[str]] = {}
    for found in scan.found:
        _explain_one(found, sys.stdout)
        for use in found.audit.globals:
            needed.setdefault(use.name, set()).update(use.refused)
    refused = {name: caps for name, caps in needed.items() if caps}
    if refused:
        print("\nTo load it, the policy needs:")
        for name, caps in sorted(refused.items()):
            module, _, qualname = name.partition(":")
            if caps == {"arguments"}:
                print(f"\n{name}: the arguments at the offsets above break its rule's signatures")
                continue
            capability = next(c for c in reversed(CAPABILITIES) if c in caps)
            print("\n" + allow_hint(policy, module, qualname, capability))
    else:
        print("\nThe policy allows every global this file uses.")
    return scan.exit_code


def _explain_one(found: _Found, out: TextIO) -> None:
    audit = found.audit
    decisions: dict[int, list[str]] = {}
    for use in audit.globals:
        for offset in use.offsets:
            verdict = "REFUSED" if use.refused else "allowed"
            decisions.setdefault(offset, []).append(f"{verdict}: {use.name}")
    member = f" :: {found.source.member}" if found.source.member else ""
    print(f"== {found.path}{member} [pickle {found.index}, {found.verdict}]", file=out)
    data = found.source.data
    end = audit.end if audit.error is None else (audit.error.offset or audit.end)
    try:
        for opcode, arg, pos in pickletools.genops(bytes(data[audit.start : max(end, audit.start + 1) + 1])):
            offset = audit.start + (pos or 0)
            if audit.error is not None and offset > end:
                break
            text = "" if arg is None else (repr(arg) if len(repr(arg)) < 60 else repr(arg)[:57] + "...")
            note = "   <- " + "; ".join(decisions[offset]) if offset in decisions else ""
            print(f"{offset:>8}: {opcode.name:<16} {text}{note}", file=out)
    except ValueError:
        pass  # the malformed tail; the error below says why
    if audit.error is not None:
        print(f"   ERROR: {str(audit.error).splitlines()[0]}", file=out)
    for problem in audit.problems:
        print(f"   PROBLEM: {problem}", file=out)


def cmd_learn(args: argparse.Namespace) -> int:
    base = _policy([args.base])
    scan = _scan(args.files, base, False, None)
    for failure in scan.failures:
        print(f"picklefence: {failure['path']}: {failure['error']}", file=sys.stderr)
    needed: dict[str, dict[str, set[str]]] = {}
    for found in scan.found:
        if found.audit.error is not None:
            print(f"picklefence: {found.path} is not a well-formed pickle: {found.audit.error}", file=sys.stderr)
            return EXIT_ERROR
        for problem in found.audit.problems:
            print(f"picklefence: {found.path}: no policy can allow this: {problem}", file=sys.stderr)
            return EXIT_ERROR
        for use in found.audit.globals:
            if use.refused:
                per_file = needed.setdefault(use.name, {})
                per_file.setdefault(found.path, set()).update(use.uses - {"reference", "arguments"} or {"reference"})
    dangerous = {name: danger_of(*name.split(":", 1)) for name in needed}
    dangerous = {name: why for name, why in dangerous.items() if why}
    if dangerous and not args.force:
        for name, why in sorted(dangerous.items()):
            print(f"picklefence: refusing to learn {name}: it {why}", file=sys.stderr)
        print("picklefence: a pickle that needs these can do anything; --force learns them anyway", file=sys.stderr)
        return EXIT_ERROR
    text = _learned_toml(args.base, needed)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"picklefence: wrote {len(needed)} rules on top of {args.base!r} to {args.output}", file=sys.stderr)
    return EXIT_SAFE


def _learned_toml(base: str, needed: dict[str, dict[str, set[str]]]) -> str:
    lines = [
        f'description = "Learned by picklefence from {sum(len(f) for f in needed.values())} uses in trusted files."',
        f"include = [{json.dumps(base)}]",
    ]
    for name in sorted(needed):
        files = needed[name]
        caps = frozenset().union(*files.values())
        module, _, qualname = name.partition(":")
        rule = Rule(module, qualname, can=frozenset(caps), why=f"learned from {', '.join(sorted(files))}")
        lines.append("")
        lines.append(
            "# needed by: " + "; ".join(f"{path} ({', '.join(sorted(c))})" for path, c in sorted(files.items()))
        )
        lines.append(render([rule]).rstrip("\n"))
    return "\n".join(lines) + "\n"


def cmd_policy(args: argparse.Namespace) -> int:
    try:
        if args.action == "show":
            sys.stdout.write(resolve_policy(args.target).to_toml())
            return EXIT_SAFE
        policy = Policy.from_toml(Path(args.target))
    except (PolicyFileError, ValueError, OSError) as exc:
        print(f"picklefence: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"{args.target}: ok, {len(policy)} rules")
    return EXIT_SAFE


def _policy(names: Sequence[str] | None) -> Policy:
    return resolve_policy(list(names) if names else None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="picklefence", description="Load, write and vet pickles under an allowlist policy."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="load a safe pickle and refuse a hostile one")

    def add_policy(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--policy", action="append", metavar="NAME|FILE", help="shipped policy or TOML file (repeatable: union)"
        )

    scan = commands.add_parser("scan", help="vet pickle files without loading them")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    add_policy(scan)
    scan.add_argument("--json", action="store_true", help=f"one JSON document ({SCHEMA}) on stdout")
    scan.add_argument("--recursive", "-r", action="store_true", help="scan folders")
    scan.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")

    explain = commands.add_parser("explain", help="annotated disassembly with the policy's decisions")
    explain.add_argument("file")
    add_policy(explain)

    learn = commands.add_parser("learn", help="write the smallest policy that loads trusted files")
    learn.add_argument("files", nargs="+", metavar="FILE")
    learn.add_argument("--base", default="default", help="policy to build on (default: default)")
    learn.add_argument("-o", "--output", required=True, help="TOML file to write, or - for stdout")
    learn.add_argument("--force", action="store_true", help="learn names no policy should allow")

    policy = commands.add_parser("policy", help="show or check a policy")
    policy.add_argument("action", choices=["show", "check"])
    policy.add_argument("target", metavar="NAME|FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"demo": lambda _: _demo.run(), "scan": cmd_scan, "explain": cmd_explain}
    handlers.update({"learn": cmd_learn, "policy": cmd_policy})
    try:
        return int(handlers[args.command](args))
    except (PolicyFileError, ValueError, FileNotFoundError) as exc:
        print(f"picklefence: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
