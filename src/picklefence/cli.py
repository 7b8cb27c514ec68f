"""The ``picklefence`` command: scan, explain, learn, policy tools, and the demo.

Nothing here executes a pickle: every command works from the static audit, which runs
the loader's own parser with globals and calls replaced by symbols.
"""

from __future__ import annotations

import argparse
import json
import os
import pickletools
import shlex
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from . import _demo
from ._generate import generate, to_toml
from ._hints import allow_hint, exclusion_words
from ._learn import covering, learn, learned_toml, still_refused
from ._rules import CAPABILITIES
from ._sarif import sarif
from ._scan import (
    EXIT_ERROR,
    EXIT_SAFE,
    SCHEMA,
    Found,
    exit_code,
    find,
    scan_path,
)
from .policy import Policy, PolicyFileError, resolve_policy

_PROGRESS_FILES = 10
_PROGRESS_BYTES = 64 * 1024**2


@dataclass
class _Scan:
    found: list[Found] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return exit_code((f.verdict for f in self.found), len(self.failures))


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
    for path in _progress(list(_files(paths, recursive)), progress):
        found, failures, _ = find(path, policy)
        result.found.extend(found)
        result.failures.extend(failures)
    return result


def _progress(files: list[Path], progress: TextIO | None) -> Iterator[Path]:
    """The files, with a progress line on ``progress`` before each, for many or large files."""
    for number, path in enumerate(files, 1):
        if progress is not None:
            try:
                size = path.stat().st_size
            except OSError:
                size = 0  # the scan reports why
            if len(files) > _PROGRESS_FILES or size > _PROGRESS_BYTES:
                print(
                    f"picklefence: scanning [{number}/{len(files)}] {path} ({size:,} bytes)", file=progress, flush=True
                )
        yield path


def _records(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One :func:`scan_path` record per file, in the order of the files, from ``--jobs`` processes."""
    files = list(_files(args.paths, args.recursive))
    spec = tuple(args.policy) if args.policy else None
    _resolved(spec)  # a bad policy is a usage error before any work starts
    progress = None if args.quiet else sys.stderr
    if args.jobs <= 1 or len(files) <= 1:
        return [_scan_one(path, spec) for path in _progress(files, progress)]
    chunk = max(1, min(16, len(files) // (args.jobs * 4)))
    try:
        with ProcessPoolExecutor(min(args.jobs, len(files))) as pool:
            results = pool.map(_scan_one, files, [spec] * len(files), chunksize=chunk)
            return [record for _, record in zip(_progress(files, progress), results, strict=True)]
    except BrokenProcessPool as exc:
        raise _ScanFailed(f"a scanning process died ({exc}); scan without --jobs to find the file") from None


class _ScanFailed(Exception):
    """The scan could not finish: a usage-level error (exit 2), not a verdict."""


def _scan_one(path: Path, spec: tuple[str, ...] | None) -> dict[str, Any]:
    """The work of one file, in this process or a worker (policies go to workers by name)."""
    return scan_path(path, policy=_resolved(spec))


@cache
def _resolved(spec: tuple[str, ...] | None) -> Policy:
    return resolve_policy(list(spec) if spec else None)


def _document(args: argparse.Namespace, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``scan --json`` document: every record's pickles and errors, a summary, and the fix."""
    pickles = [p for r in records for p in r["pickles"]]
    errors = [e for r in records for e in r["errors"]]
    unscanned = [u for r in records for u in r["unscanned"]]
    verdicts = [p["verdict"] for p in pickles]
    return {
        "schema": SCHEMA,
        "policy": args.policy or ["default"],
        "pickles": pickles,
        "errors": errors,
        "unscanned": unscanned,
        "summary": {
            "pickles": len(pickles),
            "safe": verdicts.count("safe"),
            "refused": verdicts.count("refused"),
            "malformed": verdicts.count("malformed"),
            "errors": len(errors),
            "exit_code": exit_code(verdicts, len(errors)),
        },
        "suggestion": _suggestion(args.policy, pickles),
    }


def _suggestion(names: list[str] | None, pickles: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The shipped policies that allow everything every refused pickle was refused for,
    and the ``--policy`` list that adds the smallest of them; None if there is no such fix."""
    refused = [p for p in pickles if p["verdict"] == "refused"]
    if not refused:
        return None
    common = [name for name in refused[0]["allowed_by"] if all(name in p["allowed_by"] for p in refused)]
    if not common:
        return None
    shipped = Policy.named(common[0])
    current = _resolved(tuple(names) if names else None)
    policy = [common[0]] if current | shipped == shipped else [*(names or ["default"]), common[0]]
    return {"allowed_by": common, "policy": policy}


def _print_scan(document: dict[str, Any], out: TextIO) -> None:
    for found in document["pickles"]:
        where = found["path"] + (f" :: {found['member']}" if found["member"] else "")
        where += f" [{found['format']}, pickle {found['index']} at byte {found['start']}]"
        print(f"{found['verdict'].upper():9} {where}", file=out)
        if found["error"] is not None:
            print(f"          {found['error']}", file=out)
        if found["first_refusal"] is not None:
            print(f"          first refusal at byte {found['first_refusal']}", file=out)
        for problem in found["problems"]:
            print(f"          problem: {problem}", file=out)
        for use in found["globals"]:
            mark = "allowed" if use["allowed"] else "REFUSED " + ", ".join(use["refused"])
            print(f"          {use['name']} ({', '.join(use['uses'])}): {mark}", file=out)
        if found["allowed_by"]:
            print(f"          allowed by the shipped policy {_names(found['allowed_by'])}", file=out)
    for failure in document["errors"]:
        print(f"ERROR     {failure['path']}: {failure['error']}", file=out)
    summary = document["summary"]
    print(
        f"{summary['pickles']} pickles: {summary['safe']} safe, {summary['refused']} refused, "
        f"{summary['malformed']} malformed; {summary['errors']} unreadable",
        file=out,
    )
    suggestion = document["suggestion"]
    if suggestion is not None:
        options = " ".join(f"--policy {shlex.quote(name)}" for name in suggestion["policy"])
        print(
            f"Every refusal is allowed by the shipped policy {_names(suggestion['allowed_by'])}: "
            f"scan with {options} (policy={_python_policy(suggestion['policy'])} when loading), "
            "if you trust what it allows.",
            file=out,
        )


def _names(names: list[str]) -> str:
    """``'numpy' (also 'pandas', 'sklearn')``."""
    also = f" (also {', '.join(repr(n) for n in names[1:])})" if names[1:] else ""
    return f"{names[0]!r}{also}"


def _python_policy(names: list[str]) -> str:
    return repr(names[0]) if len(names) == 1 else repr(names)


def cmd_scan(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, not {args.jobs}")
    document = _document(args, _records(args))
    if args.format == "text":
        _print_scan(document, sys.stdout)
    else:
        json.dump(document if args.format == "json" else sarif(document), sys.stdout, indent=2)
        print()
    return int(document["summary"]["exit_code"])


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
            exclusion = policy.exclusion(module, qualname)
            if exclusion is not None:
                print(f"\n{name}: {exclusion_words(exclusion)}", end="")
            print("\n" + allow_hint(policy, module, qualname, capability))
    else:
        print("\nThe policy allows every global this file uses.")
    return scan.exit_code


def _explain_one(found: Found, out: TextIO) -> None:
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
    common = covering(base, scan.found)
    if common:  # said first: a shipped policy's rules carry their checks, a learned one only what the files showed
        shipped = Policy.named(common[0])
        how = f"use --base {common[0]}" if base | shipped == shipped else f'add include = ["{common[0]}"]'
        print(f"picklefence: every use is allowed by the shipped policy {_names(common)}; {how}", file=sys.stderr)
    learned = learn(needed)
    refusals = [why for item in learned for why in item.refusals]
    if refusals and not args.force:
        for why in refusals:
            print(f"picklefence: refusing to learn {why}", file=sys.stderr)
        print("picklefence: a pickle that needs these can do anything; --force learns them anyway", file=sys.stderr)
        return EXIT_ERROR
    text = learned_toml(args.base, learned)
    still = still_refused(scan.found, base | Policy.from_toml(text))
    if still and not args.force:
        for why in still:
            print(f"picklefence: the learned policy would still refuse {why}", file=sys.stderr)
        print(
            "picklefence: a shipped rule's signatures refuse those arguments; --force writes it anyway", file=sys.stderr
        )
        return EXIT_ERROR
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"picklefence: wrote {len(learned)} rules on top of {args.base!r} to {args.output}", file=sys.stderr)
    return EXIT_SAFE


def cmd_policy(args: argparse.Namespace) -> int:
    if args.action == "generate":
        return _generate_policy(args.packages, args.output)
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


def _generate_policy(packages: Sequence[str], output: str) -> int:
    generated = generate(packages)
    text = to_toml(generated)
    Policy.from_toml(text)  # a draft that does not load would be worse than none
    for module, error in generated.failures:
        print(f"picklefence: not imported: {module}: {error}", file=sys.stderr)
    for name, error in generated.skipped:
        print(f"picklefence: not drafted: {name}: {error}", file=sys.stderr)
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(generated.counts().items()))
    review = sum(1 for d in generated.drafts if d.review is not None)
    where = "" if output == "-" else f" to {output}"
    print(
        f"picklefence: drafted {len(generated.drafts)} tables{where} ({kinds}); {review} are marked REVIEW "
        "and commented out until someone reviews them",
        file=sys.stderr,
    )
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
    scan.add_argument(
        "--format", choices=["text", "json", "sarif"], default="text", help=f"text, JSON ({SCHEMA}) or SARIF 2.1.0"
    )
    scan.add_argument("--json", dest="format", action="store_const", const="json", help="--format json")
    scan.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="scan files in N processes")
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

    policy = commands.add_parser("policy", help="show, check or draft a policy")
    actions = policy.add_subparsers(dest="action", required=True)
    actions.add_parser("show", help="print a policy as TOML").add_argument("target", metavar="NAME|FILE")
    actions.add_parser("check", help="check a policy file").add_argument("target", metavar="NAME|FILE")
    generate = actions.add_parser(
        "generate", help="draft a policy for trusted, installed libraries from their classes (imports them)"
    )
    generate.add_argument("packages", nargs="+", metavar="PACKAGE")
    generate.add_argument("-o", "--output", default="-", help="TOML file to write, or - for stdout (the default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"demo": lambda _: _demo.run(), "scan": cmd_scan, "explain": cmd_explain}
    handlers.update({"learn": cmd_learn, "policy": cmd_policy})
    try:
        return int(handlers[args.command](args))
    except (PolicyFileError, ValueError, FileNotFoundError, _ScanFailed) as exc:
        print(f"picklefence: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
