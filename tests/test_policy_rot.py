"""Shipped policies must not rot: every name they list resolves in the installed
versions of the libraries they cover, or is known to belong to another version."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import pytest

from picklefence import Policy

# Names that exist only in some versions, and why.
OTHER_VERSIONS = {
    "pytz:_p": "pytz comes with pandas 2 (tz-aware data of pandas 2 pickles), not pandas 3",
    "pytz:_UTC": "pytz comes with pandas 2 (tz-aware data of pandas 2 pickles), not pandas 3",
}

# Libraries a policy covers, whose rules are checked only where they are installed.
OPTIONAL_ROOTS = ("numpy", "pandas", "sklearn", "torch", "xgboost", "lightgbm", "statsmodels")


def _resolve(name: str) -> Any:
    module, _, qualname = name.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("policy", Policy.shipped_names())
def test_every_rule_resolves_in_the_installed_versions(policy: str) -> None:
    missing = []
    for rule in Policy.named(policy):
        root = rule.module.split(".")[0]
        if root in OPTIONAL_ROOTS:
            try:
                importlib.import_module(root)
            except ImportError:
                continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _resolve(rule.name)
        except (ImportError, AttributeError):
            if rule.name not in OTHER_VERSIONS:
                missing.append(rule.name)
    assert not missing, f"{policy} lists names that do not resolve here: {missing}"


def test_known_version_specific_names_are_still_listed() -> None:
    listed = {rule.name for name in Policy.shipped_names() for rule in Policy.named(name)}
    stale = set(OTHER_VERSIONS) - listed
    assert not stale, f"remove these from OTHER_VERSIONS: {stale}"
