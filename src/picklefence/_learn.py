"""``picklefence learn``: the smallest policy that loads trusted files, never looser than
a shipped one.

Users trust a learned policy as it is written, so a name a shipped policy has a rule for
is learned as that rule, whole (signatures, checks, state checks): learning from a numpy
array must keep the check on ``_reconstruct``'s shape, not write an unconstrained rule.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from ._audit import audit
from ._danger import danger_of
from ._rules import Rule
from ._scan import Found, allowed_by, shipped_by_size
from ._toml import render
from .policy import Policy


@dataclass(frozen=True)
class Learned:
    """One rule of a learned policy, the comment above it, and why it must not be
    learned without ``--force`` (a dangerous name, or more than the shipped rule grants)."""

    rule: Rule
    comment: str
    refusals: tuple[str, ...] = ()


def covering(base: Policy, found: list[Found]) -> list[str]:
    """The shipped policies (smallest first) that, added to ``base``, allow every use
    the files were refused for."""
    fixes = [names for item, names in zip(found, allowed_by(found, base), strict=True) if item.verdict == "refused"]
    return [name for name in fixes[0] if all(name in names for names in fixes[1:])] if fixes else []


def learn(needed: Mapping[str, Mapping[str, set[str]]]) -> list[Learned]:
    """The rules for ``needed`` (name -> file -> capabilities), one per rule name: two
    spellings of a name (``numpy.core``, ``numpy._core``) share one shipped rule."""
    learned: dict[str, Learned] = {}
    for name, files in sorted(needed.items()):
        for item in _learned(name, files):
            learned.setdefault(item.rule.name, item)
    return list(learned.values())


def _learned(name: str, files: Mapping[str, set[str]]) -> list[Learned]:
    caps = frozenset().union(*files.values())
    module, _, qualname = name.partition(":")
    needed_by = "; ".join(f"{path} ({', '.join(sorted(c))})" for path, c in sorted(files.items()))
    for policy_name in shipped_by_size():
        shipped_policy = Policy.named(policy_name)
        shipped = shipped_policy.rule(module, qualname)
        if shipped is None:
            continue
        comment = f"# the rule of the shipped policy {policy_name!r}; needed by: {needed_by}"
        instances = (
            [
                Learned(r, f"# the rule of the shipped policy {policy_name!r} for what calling {shipped.name} makes")
                for r in _instance_rules(shipped, shipped_policy)
            ]
            if {"call", "state"} <= caps
            else []
        )
        missing = sorted(caps - shipped.can) if shipped.can is not None else []
        if not missing:
            return [Learned(shipped, comment), *instances]
        wider = replace(shipped, can=shipped.can | caps if shipped.can is not None else None)
        why = f"{name}: its rule in the shipped policy {policy_name!r} does not grant {', '.join(missing)}"
        return [Learned(wider, comment + f" (widened by --force: {', '.join(missing)})", (why,)), *instances]
    danger = danger_of(module, qualname)
    rule = Rule(module, qualname, can=caps, why=f"learned from {', '.join(sorted(files))}")
    return [Learned(rule, f"# needed by: {needed_by}", (f"{name}: it {danger}",) if danger else ())]


def _instance_rules(rule: Rule, policy: Policy) -> list[Rule]:
    """``policy``'s state rules for the subclasses of the class ``rule`` names: calling a
    class can make an instance of a subclass (``numpy.dtype("f8")`` is a
    ``numpy.dtypes.Float64DType``), and BUILD is judged on the instance's class, which
    the audit cannot see without calling.  Such a rule grants no call or construction,
    so it only acts on what an allowed call made.  Only the modules of shipped rules
    are imported here, never a name from a pickle."""
    cls = _resolve(rule, load=True)
    if not isinstance(cls, type):
        return []
    found = []
    for other in policy:
        if other.can is None or "state" not in other.can or other.can & {"call", "construct"}:
            continue
        sub = _resolve(other, load=False)
        if isinstance(sub, type) and sub is not cls and issubclass(sub, cls):
            found.append(other)
    return found


def _resolve(rule: Rule, load: bool) -> object:
    """The object a shipped rule names (its module imported if ``load``, else only if
    it already is), or None."""
    try:
        obj: object = importlib.import_module(rule.module) if load else sys.modules.get(rule.module)
    except ImportError:
        return None
    for part in rule.qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def learned_toml(base: str, learned: list[Learned]) -> str:
    lines = [
        f'description = "Learned by picklefence from trusted files: {len(learned)} rules."',
        f"include = [{json.dumps(base)}]",
    ]
    for item in learned:
        lines.append("")
        lines.append(item.comment)
        lines.append(render([item.rule]).rstrip("\n"))
    return "\n".join(lines) + "\n"


def still_refused(found: Iterable[Found], learned: Policy) -> list[str]:
    """What the files use that the learned policy refuses (arguments a shipped rule's
    signatures refuse): a learned policy must load the files it was learned from."""
    still = []
    for item in found:
        data = memoryview(item.source.data)[item.audit.start : item.audit.end]
        for use in audit(data, policy=learned).refused:
            still.append(f"{use.name} ({', '.join(sorted(use.refused))}) in {item.path}")
    return still
