"""The immutable :class:`Policy`: which globals a pickle may use, and how."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Union

from . import _toml
from ._aliases import canonical
from ._names import join_name, split_name
from ._rules import Arg, ArgLike, Check, Exclusion, Rule, Signature, Validator, make_signatures

__all__ = ["Arg", "Policy", "PolicyFileError", "PolicyLike", "Rule", "Signature"]

PolicyFileError = _toml.PolicyFileError

_SHIPPED_NAME = re.compile(r"[a-z][a-z0-9_-]*")


class Policy:
    """An allowlist of globals, each with the capabilities a pickle may use.

    Policies are values: every method returns a new policy and never changes the
    receiver, so the shipped policies and any policy shared between threads stay as
    they are.  ``a | b`` allows what either allows.
    """

    __slots__ = ("_description", "_excludes", "_hash", "_label", "_rules", "_unrestricted")

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        description: str = "",
        _label: str = "",
        _unrestricted: bool = False,
        _excludes: Mapping[tuple[str, str], Exclusion] | None = None,
    ) -> None:
        self._rules: Mapping[tuple[str, str], Rule] = MappingProxyType(dict(_toml.as_mapping(rules)))
        # A name some rule allows is not excluded: the allow is the later, explicit word.
        self._excludes: Mapping[tuple[str, str], Exclusion] = MappingProxyType(
            {key: e for key, e in (_excludes or {}).items() if key not in self._rules}
        )
        self._unrestricted = _unrestricted
        self._label = _label
        self._description = description

    # -- construction -----------------------------------------------------------------

    @classmethod
    def named(cls, name: str) -> Policy:
        """A policy shipped with picklefence (``"default"``, ``"stdlib"``, ...)."""
        return _shipped(name)

    @classmethod
    def shipped_names(cls) -> tuple[str, ...]:
        """Names accepted by :meth:`named`."""
        return tuple(sorted(p.name[: -len(".toml")] for p in _policy_dir().iterdir() if p.name.endswith(".toml")))

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> Policy:
        """A policy from a TOML file path or from TOML text.

        A ``str`` is read as a path when it names an existing file or ends in
        ``.toml`` and has no newline; otherwise it is the TOML text itself.
        """
        if isinstance(source, os.PathLike) or (
            "\n" not in source and (source.endswith(".toml") or os.path.isfile(source))
        ):
            path = Path(source)
            return _from_file(path, _label=str(path), _seen=())
        rules, description, excludes = _toml.parse(source, "<policy text>", lambda inc: _include(inc, None, ()))
        return cls(rules, description=description, _label="policy", _excludes=excludes)

    @classmethod
    def unrestricted(cls) -> Policy:
        """Allows everything, exactly like :mod:`pickle`. For trusted data only."""
        return cls(_label="Policy.unrestricted()", _unrestricted=True)

    # -- queries ---------------------------------------------------------------------

    @property
    def is_unrestricted(self) -> bool:
        return self._unrestricted

    @property
    def description(self) -> str:
        return self._description

    @property
    def rules(self) -> Mapping[str, Rule]:
        """Every rule, keyed by ``"module:qualname"``."""
        return MappingProxyType({rule.name: rule for rule in self._rules.values()})

    def rule(self, module: str, qualname: str) -> Rule | None:
        """The rule for exactly this name, or for the canonical name it is a known
        alias of (``numpy.core`` for ``numpy._core``, ...); never a prefix match."""
        rule = self._rules.get((module, qualname))
        if rule is None:
            alias = canonical(module, qualname)
            if alias is not None:
                rule = self._rules.get(alias)
        return rule

    @property
    def exclusions(self) -> Mapping[tuple[str, str], Exclusion]:
        """Names the policy's files deliberately do not allow (``[exclude."m:q"]``), keyed
        like the rules; refusing one says why."""
        return self._excludes

    def exclusion(self, module: str, qualname: str) -> Exclusion | None:
        """Why this name, or the canonical name it is an alias of, is excluded, if it is."""
        found = self._excludes.get((module, qualname))
        if found is None:
            alias = canonical(module, qualname)
            if alias is not None:
                found = self._excludes.get(alias)
        return found

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        module, _, qualname = name.partition(":")
        return (module, qualname) in self._rules

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    # -- derivation ------------------------------------------------------------------

    def allow(
        self,
        *targets: object,
        can: Iterable[str] | None = None,
        args: Sequence[ArgLike] | None = None,
        signatures: Iterable[Signature | Iterable[ArgLike]] | None = None,
        check: Check | str | None = None,
        state_keys: Iterable[str] | None = None,
        state_check: Check | str | None = None,
        validator: Validator | str | None = None,
        why: str = "",
    ) -> Policy:
        """A new policy that also allows ``targets``; a listed name's old rule is replaced.

        ``targets`` are classes, functions or ``"module:qualname"`` strings.
        ``args=[bytes]`` is shorthand for one signature taking exactly one ``bytes``.
        """
        if not targets:
            raise TypeError("allow() needs at least one class, function or 'module:qualname'")
        sigs = make_signatures(args, signatures, check)
        new = dict(self._rules)
        for target in targets:
            module, qualname = _name_of(target)
            rule = Rule(
                module,
                qualname,
                frozenset(can) if can is not None else None,
                sigs,
                frozenset(state_keys) if state_keys is not None else None,
                why,
                state_check,
                validator,
            )
            new[(module, qualname)] = rule
        return self._derive(new.values())

    def deny(self, *targets: object) -> Policy:
        """A new policy without the rules for ``targets``."""
        drop = {_name_of(t) for t in targets}
        return self._derive(r for key, r in self._rules.items() if key not in drop)

    def union(self, *others: PolicyLike) -> Policy:
        """A policy allowing whatever any of the policies allows."""
        policies = [self, *(resolve_policy(o) for o in others)]
        if any(p._unrestricted for p in policies):
            return Policy.unrestricted()
        rules = [r for p in policies for r in p._rules.values()]
        excludes = {key: e for p in policies for key, e in p._excludes.items()}
        label = " | ".join(p._label or "Policy()" for p in policies)
        return Policy(rules, _label=label, _excludes=excludes)

    def __or__(self, other: object) -> Policy:
        if not isinstance(other, Policy):
            return NotImplemented
        return self.union(other)

    def _derive(self, rules: Iterable[Rule]) -> Policy:
        if self._unrestricted:
            return self
        return Policy(rules, description=self._description, _label=self._label, _excludes=self._excludes)

    # -- rendering -------------------------------------------------------------------

    def to_toml(self) -> str:
        """The policy as TOML text that :meth:`from_toml` reads back to an equal policy."""
        if self._unrestricted:
            raise ValueError("Policy.unrestricted() allows everything and has no TOML form")
        return _toml.render(self._rules.values(), self._description, self._excludes)

    def expression(self) -> str:
        """Python that evaluates to this policy, where it has a name (for hints)."""
        if _SHIPPED_NAME.fullmatch(self._label):
            return f"Policy.named({self._label!r})"
        if self._label.startswith("Policy"):
            return self._label
        return "policy"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return (
            self._unrestricted == other._unrestricted
            and dict(self._rules) == dict(other._rules)
            and {k: e.why for k, e in self._excludes.items()} == {k: e.why for k, e in other._excludes.items()}
        )

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            self._hash: int = hash((self._unrestricted, frozenset(self._rules)))
            return self._hash

    def __repr__(self) -> str:
        if self._unrestricted:
            return "Policy.unrestricted()"
        return f"<Policy {self._label or 'custom'}: {len(self._rules)} rules>"


def _name_of(target: object) -> tuple[str, str]:
    if isinstance(target, str):
        return split_name(target)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"{target!r} has no __module__/__qualname__; name it as 'module:qualname'")
    return split_name(join_name(module, qualname))


def _policy_dir() -> resources.abc.Traversable:
    return resources.files("picklefence") / "policies"


@cache
def _shipped(name: str) -> Policy:
    if not _SHIPPED_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a shipped policy name")
    resource = _policy_dir() / f"{name}.toml"
    if not resource.is_file():
        known = ", ".join(Policy.shipped_names())
        raise ValueError(f"no shipped policy named {name!r} (shipped: {known})")
    text = resource.read_text(encoding="utf-8")
    rules, description, excludes = _toml.parse(text, f"policies/{name}.toml", lambda inc: _include(inc, None, (name,)))
    return Policy(rules, description=description, _label=name, _excludes=_relabelled(excludes, name))


def _from_file(path: Path, *, _label: str, _seen: tuple[str, ...]) -> Policy:
    key = str(path.resolve())
    if key in _seen:
        raise PolicyFileError(f"{path}: include cycle ({' -> '.join((*_seen, key))})")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyFileError(f"{path}: cannot read policy file: {exc.strerror}") from None
    rules, description, excludes = _toml.parse(text, str(path), lambda inc: _include(inc, path.parent, (*_seen, key)))
    return Policy(rules, description=description, _label=_label, _excludes=excludes)


def _relabelled(excludes: Mapping[tuple[str, str], Exclusion], name: str) -> dict[tuple[str, str], Exclusion]:
    """A shipped file's own exclusions, said to come from the shipped name (not its path)."""
    source = f"policies/{name}.toml"
    return {key: Exclusion(e.why, name) if e.source == source else e for key, e in excludes.items()}


def _include(ref: str, base: Path | None, seen: tuple[str, ...]) -> Policy:
    if _SHIPPED_NAME.fullmatch(ref):
        if ref in seen:
            raise PolicyFileError(f"include cycle through shipped policy {ref!r}")
        return _shipped(ref)
    path = Path(ref) if base is None else base / ref
    return _from_file(path, _label=str(path), _seen=seen)


@cache
def _shipped_names() -> frozenset[str]:
    return frozenset(Policy.shipped_names())


# Shipped policies by name, as resolve_policy hands them out: a name costs one lookup
# per load, no file-system call (a shipped name always means the shipped policy; a file
# of the same name is named as a path, "./stdlib", or ends in ".toml").
_NAMED: dict[str, Policy] = {}

PolicyLike = Union[Policy, str, "os.PathLike[str]", Sequence[Union[Policy, str, "os.PathLike[str]"]], None]


def resolve_policy(policy: PolicyLike) -> Policy:
    """What the ``policy=`` argument of every entry point accepts, as a Policy."""
    if policy is None:
        return _shipped("default")
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, os.PathLike):
        return Policy.from_toml(policy)
    if isinstance(policy, str):
        named = _NAMED.get(policy)
        if named is not None:
            return named
        if policy in _shipped_names():
            named = _NAMED[policy] = _shipped(policy)
            return named
        if os.path.isfile(policy) or policy.endswith(".toml"):
            return Policy.from_toml(Path(policy))
        if _SHIPPED_NAME.fullmatch(policy):
            return _shipped(policy)  # says which names are shipped
        raise ValueError(f"{policy!r} is neither a shipped policy ({', '.join(Policy.shipped_names())}) nor a file")
    if isinstance(policy, Sequence):
        if not policy:
            raise ValueError("an empty sequence of policies allows nothing; pass Policy() for that")
        first, *rest = (resolve_policy(p) for p in policy)
        return first.union(*rest) if rest else first
    raise TypeError(f"policy must be a Policy, a shipped name, a TOML path or a sequence of these, not {policy!r}")
