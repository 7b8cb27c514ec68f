"""Policies as TOML: parsing with line-numbered errors, and rendering back.

Format::

    include = ["stdlib"]                 # shipped names or paths relative to this file
    description = "what this policy is for"

    [allow."myapp.models:User"]          # one table per allowed global
    why = "our own model class"          # one-line justification
    can = ["call", "state"]              # optional; defaults depend on the object's kind
    state_keys = ["name", "email"]       # optional: attributes BUILD may set
    state_check = "numpy_ndarray_state"  # optional: a shipped check of BUILD's state
    validate = "numpy_bit_generator"     # optional: a shipped validator of finished instances
    signatures = [                       # optional: accepted argument lists
      { args = [{ type = ["bytes"] }] },
      { args = [{ type = ["str"] }, { value = ["latin-1"] }] },
      { check = "copyreg_reconstructor" },
      { args = [], varargs = { type = ["str"] } },   # any number of str arguments
    ]

    [exclude."myapp.models:Secret"]      # a class deliberately not allowed
    why = "holds a live connection"      # said in the refusal of a pickle that names it

Argument constraint keys: ``type``, ``value``, ``global``, ``max_len``, ``min``, ``max``,
``pattern``.  Unknown keys are errors: a typo must never widen a policy.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from ._checks import CHECKS
from ._names import join_name, split_name
from ._rules import CAPABILITIES, Arg, Exclusion, Rule, Signature
from ._validators import VALIDATORS

_TOP_KEYS = {"include", "description", "allow", "exclude"}
_SIG_KEYS = {"args", "varargs", "kwargs", "check"}
_ARG_KEYS = {"type", "value", "global", "max_len", "min", "max", "pattern"}


class PolicyFileError(ValueError):
    """A policy file is malformed; the message names the file and line."""


class _Located:
    """Maps a rule name to the line of its table header, for error messages."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    def line_of(self, name: str | None, key: str | None = None, table: str = "allow") -> int | None:
        start = 0
        if name is not None:
            header = re.compile(r"^\s*\[\s*" + table + r"\s*\.\s*[\"']" + re.escape(name) + r"[\"']\s*\]")
            for i, line in enumerate(self.lines):
                if header.match(line):
                    start = i
                    break
            else:
                return None
        if key is None:
            return start + 1
        pattern = re.compile(r"(^|[\s{,])" + re.escape(key) + r"\s*=")
        for i in range(start, len(self.lines)):
            if i > start and name is not None and self.lines[i].lstrip().startswith("["):
                break
            if pattern.search(self.lines[i]):
                return i + 1
        return start + 1

    def error(
        self, message: str, name: str | None = None, key: str | None = None, table: str = "allow"
    ) -> PolicyFileError:
        line = self.line_of(name, key, table)
        where = f"{self.source}, line {line}" if line else self.source
        return PolicyFileError(f"{where}: {message}")


class Included(Protocol):
    """What an ``include`` gives: its rules, and the names it excludes."""

    def __iter__(self) -> Iterator[Rule]: ...

    @property
    def exclusions(self) -> Mapping[tuple[str, str], Exclusion]: ...


def parse(
    text: str, source: str, load_include: Callable[[str], Included]
) -> tuple[list[Rule], str, dict[tuple[str, str], Exclusion]]:
    """Rules defined by ``text`` (includes first), its description, and the names it
    excludes.  The file has the last word on what it includes: its exclusions drop the
    included rules of those names, its rules lift the included exclusions."""
    loc = _Located(text, source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{source}: {exc}") from None
    for key in doc:
        if key not in _TOP_KEYS:
            raise loc.error(f"unknown top-level key {key!r} (allowed: {', '.join(sorted(_TOP_KEYS))})", key=key)
    rules: list[Rule] = []
    excludes: dict[tuple[str, str], Exclusion] = {}
    includes = doc.get("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise loc.error("'include' must be a list of policy names or paths", key="include")
    for inc in includes:
        included = load_include(inc)
        rules.extend(included)
        excludes.update(included.exclusions)
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise loc.error("'description' must be a string", key="description")
    allow = doc.get("allow", {})
    if not isinstance(allow, dict):
        raise loc.error("'allow' must be a table of [allow.\"module:qualname\"] tables", key="allow")
    own = _parse_excludes(doc.get("exclude", {}), loc, source)
    rules = [r for r in rules if (r.module, r.qualname) not in own]  # this file's word on an included name
    for name, body in allow.items():
        rule = _parse_rule(name, body, loc)
        if (rule.module, rule.qualname) in own:
            raise loc.error(
                f'{name!r} is both allowed and excluded; keep one of [allow."{name}"] and [exclude."{name}"]', name
            )
        rules.append(rule)
        excludes.pop((rule.module, rule.qualname), None)
    excludes.update(own)
    return rules, description, excludes


def _parse_excludes(table: Any, loc: _Located, source: str) -> dict[tuple[str, str], Exclusion]:
    if not isinstance(table, dict):
        raise loc.error("'exclude' must be a table of [exclude.\"module:qualname\"] tables", key="exclude")
    found: dict[tuple[str, str], Exclusion] = {}
    for name, body in table.items():
        try:
            key = split_name(name)
        except ValueError as exc:
            raise loc.error(str(exc), name, table="exclude") from None
        if not isinstance(body, dict) or set(body) != {"why"}:
            raise loc.error(f'[exclude."{name}"] must have exactly one key, why', name, table="exclude")
        why = body["why"]
        if not isinstance(why, str) or not why.strip():
            raise loc.error("'why' must say why the name is excluded", name, "why", table="exclude")
        found[key] = Exclusion(why, source)
    return found


def _parse_rule(name: str, body: Any, loc: _Located) -> Rule:
    try:
        module, qualname = split_name(name)
    except ValueError as exc:
        raise loc.error(str(exc), name) from None
    if not isinstance(body, dict):
        raise loc.error(f"[allow.{name!r}] must be a table", name)
    for key in body:
        if key not in _RULE_PARSERS:
            raise loc.error(
                f'unknown key {key!r} in [allow."{name}"] (allowed: {", ".join(sorted(_RULE_PARSERS))})', name, key
            )
    parsed: dict[str, Any] = {}
    for key, value in body.items():
        try:
            parsed[_FIELDS.get(key, str(key))] = _RULE_PARSERS[key](value)
        except (ValueError, TypeError) as exc:
            raise loc.error(str(exc), name, key) from None
    try:
        return Rule(module, qualname, **parsed)
    except (ValueError, TypeError) as exc:
        raise loc.error(str(exc), name) from None


def _parse_why(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("'why' must be a string")
    return value


def _parse_can(value: Any) -> frozenset[str]:
    can = frozenset(_str_list(value, "can"))
    unknown = sorted(can - set(CAPABILITIES))
    if unknown:
        raise ValueError(f"unknown capability {unknown[0]!r} (use {', '.join(CAPABILITIES)})")
    return can


def _parse_signatures(value: Any) -> tuple[Signature, ...]:
    if not isinstance(value, list):
        raise ValueError("'signatures' must be a list of inline tables")
    if not value:
        raise ValueError("an empty 'signatures' list allows no call at all; leave it out to allow any arguments")
    return tuple(_parse_signature(s) for s in value)


def _validator_name(value: Any) -> str:
    if not isinstance(value, str) or value not in VALIDATORS:
        raise ValueError(f"unknown 'validate' {value!r} (shipped validators: {', '.join(sorted(VALIDATORS))})")
    return value


_RULE_PARSERS: dict[str, Callable[[Any], Any]] = {
    "why": _parse_why,
    "can": _parse_can,
    "signatures": _parse_signatures,
    "state_keys": lambda value: frozenset(_str_list(value, "state_keys")),
    "state_check": lambda value: _check_name(value, "state_check"),
    "validate": _validator_name,
}

#: TOML keys whose Rule field has another name.
_FIELDS: dict[str, str] = {"validate": "validator"}


def _check_name(value: Any, key: str) -> str:
    if not isinstance(value, str) or value not in CHECKS:
        raise ValueError(f"unknown '{key}' {value!r} (shipped checks: {', '.join(sorted(CHECKS))})")
    return value


def _str_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{key}' must be a list of strings")
    return value


def _parse_signature(sig: Any) -> Signature:
    if not isinstance(sig, dict):
        raise ValueError("each entry of 'signatures' must be an inline table like { args = [...] }")
    for key in sig:
        if key not in _SIG_KEYS:
            raise ValueError(f"unknown key '{key}' in a signature (allowed: {', '.join(sorted(_SIG_KEYS))})")
    args = sig.get("args")
    if args is not None:
        if not isinstance(args, list):
            raise ValueError("'args' must be a list of argument constraints")
        args = tuple(_parse_arg(a) for a in args)
    kwargs = sig.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ValueError("'kwargs' must be a table of argument constraints")
    check = sig.get("check")
    if check is not None:
        _check_name(check, "check")
    varargs = sig.get("varargs")
    return Signature(
        args,
        {k: _parse_arg(v) for k, v in kwargs.items()},
        check,
        _parse_arg(varargs) if varargs is not None else None,
    )


def _parse_arg(arg: Any) -> Arg:
    if not isinstance(arg, dict):
        raise ValueError('an argument constraint must be an inline table like { type = ["int"] }')
    for key in arg:
        if key not in _ARG_KEYS:
            raise ValueError(f"unknown key '{key}' in an argument constraint (allowed: {', '.join(sorted(_ARG_KEYS))})")
    types = arg.get("type")
    globals_ = arg.get("global")
    values = arg.get("value")
    if values is not None and not isinstance(values, list):
        raise ValueError("'value' must be a list of literals")
    for bound in ("max_len", "min", "max"):
        v = arg.get(bound)
        if v is not None and (type(v) not in (int, float) or (bound == "max_len" and type(v) is not int)):
            raise ValueError(f"'{bound}' must be a number")
    pattern = arg.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise ValueError("'pattern' must be a string")
    if globals_ is not None:
        for g in _str_list(globals_, "global"):
            split_name(g)
    return Arg(
        types=frozenset(_str_list(types, "type")) if types is not None else None,
        values=tuple(values) if values is not None else None,
        globals=frozenset(globals_) if globals_ is not None else None,
        max_len=arg.get("max_len"),
        min=arg.get("min"),
        max=arg.get("max"),
        pattern=pattern,
    )


def render(
    rules: Iterable[Rule], description: str = "", excludes: Mapping[tuple[str, str], Exclusion] | None = None
) -> str:
    """TOML text that parses back to the same rules and exclusions."""
    out: list[str] = []
    if description:
        out.append(f"description = {quote(description)}")
    for (module, qualname), exclusion in sorted((excludes or {}).items()):
        out.append("")
        out.append(render_exclude(join_name(module, qualname), exclusion.why))
    for rule in sorted(rules, key=lambda r: r.name):
        out.append("")
        out.append(f"[allow.{quote(rule.name)}]")
        if rule.why:
            out.append(f"why = {quote(rule.why)}")
        if rule.can is not None:
            out.append(f"can = [{', '.join(quote(c) for c in CAPABILITIES if c in rule.can)}]")
        if rule.state_keys is not None:
            out.append(f"state_keys = [{', '.join(quote(k) for k in sorted(rule.state_keys))}]")
        if rule.state_check is not None:
            if not isinstance(rule.state_check, str):
                raise ValueError(f"the rule for {rule.name} has a Python state check, which TOML cannot hold")
            out.append(f"state_check = {quote(rule.state_check)}")
        if rule.validator is not None:
            if not isinstance(rule.validator, str):
                raise ValueError(f"the rule for {rule.name} has a Python validator, which TOML cannot hold")
            out.append(f"validate = {quote(rule.validator)}")
        if rule.signatures is not None:
            out.append("signatures = [")
            for sig in rule.signatures:
                out.append(f"  {_render_signature(sig, rule.name)},")
            out.append("]")
    return "\n".join(out).lstrip("\n") + "\n"


def render_exclude(name: str, why: str) -> str:
    return f"[exclude.{quote(name)}]\nwhy = {quote(why)}"


def _render_signature(sig: Signature, name: str) -> str:
    parts = []
    if sig.args is not None:
        parts.append(f"args = [{', '.join(_render_arg(a) for a in sig.args)}]")
    if sig.varargs is not None:
        parts.append(f"varargs = {_render_arg(sig.varargs)}")
    if sig.kwargs:
        inner = ", ".join(f"{quote(k)} = {_render_arg(v)}" for k, v in sorted(sig.kwargs.items()))
        parts.append(f"kwargs = {{ {inner} }}")
    if sig.check is not None:
        if not isinstance(sig.check, str):
            raise ValueError(
                f"the rule for {name} has a Python check function, which TOML cannot hold; keep that rule in code"
            )
        parts.append(f"check = {quote(sig.check)}")
    return "{ " + ", ".join(parts) + " }" if parts else "{}"


def _render_arg(arg: Arg) -> str:
    parts = []
    if arg.types is not None:
        parts.append(f"type = [{', '.join(quote(t) for t in sorted(arg.types))}]")
    if arg.values is not None:
        parts.append(f"value = [{', '.join(_literal(v) for v in arg.values)}]")
    if arg.globals is not None:
        parts.append(f"global = [{', '.join(quote(g) for g in sorted(arg.globals))}]")
    for key in ("max_len", "min", "max"):
        value = getattr(arg, key)
        if value is not None:
            parts.append(f"{key} = {_literal(value)}")
    if arg.pattern is not None:
        parts.append(f"pattern = {quote(arg.pattern)}")
    return "{ " + ", ".join(parts) + " }" if parts else "{}"


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (int, float)):
        return repr(value)
    raise ValueError(f"{value!r} cannot be written as a TOML literal")


def as_mapping(rules: Iterable[Rule]) -> Mapping[tuple[str, str], Rule]:
    """Rules keyed by name; a name given twice keeps the union of both rules."""
    merged: dict[tuple[str, str], Rule] = {}
    for rule in rules:
        key = (rule.module, rule.qualname)
        merged[key] = merged[key].union(rule) if key in merged else rule
    return merged
