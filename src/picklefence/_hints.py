"""How to allow what was refused: the lines of Python and TOML in refusal messages."""

from __future__ import annotations

from ._danger import danger_of
from ._names import join_name
from ._rules import CAPABILITIES, Exclusion
from ._toml import quote
from .policy import Policy


def allow_hint(policy: Policy, module: str, qualname: str, capability: str) -> str:
    """The Python and TOML that would let ``policy`` grant ``capability`` on the global."""
    name = join_name(module, qualname)
    danger = danger_of(module, qualname)
    if danger is not None:
        intro = f"Do not allow it: {name} {danger}, so a pickle using it can do anything.\nIf you must:"
    else:
        intro = "To allow it, if you trust every pickle that uses this policy:"
    rule = policy.rule(module, qualname)
    toml = [f"[allow.{quote(name)}]"]
    if rule is None or rule.can is None:
        python = f"{policy.expression()}.allow({name!r})"
    else:
        caps = [c for c in CAPABILITIES if c in rule.can or c == capability]
        python = f"{policy.expression()}.allow({name!r}, can={caps!r})"
        toml.append("can = [" + ", ".join(quote(c) for c in caps) + "]")
    return f"{intro}\n  Python: {python}\n  TOML:\n    " + "\n    ".join(toml)


def arguments_hint(policy: Policy, name: str) -> str:
    """How to widen the argument rules of ``name``'s rule."""
    return (
        f"To accept these arguments, widen its rule: {policy.expression()}.allow({name!r}, signatures=[...]) "
        "in Python (this replaces the rule), or add an entry to its 'signatures' list in TOML."
    )


def exclusion_words(exclusion: Exclusion) -> str:
    """``the shipped policy 'sklearn' excludes it on purpose: <why>``."""
    source = exclusion.source
    if source.startswith("<"):
        who = "the policy"  # given as text: it has no name
    elif "/" in source or source.endswith(".toml"):
        who = f"the policy {source}"
    else:
        who = f"the shipped policy {source!r}"
    return f"{who} excludes it on purpose: {exclusion.why}"
