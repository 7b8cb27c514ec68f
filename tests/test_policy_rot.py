"""Shipped policies must not rot: every name they list resolves in the installed
versions of the libraries they cover, or is known to belong to another version; and
every class the policy generator finds in an installed library is either allowed or
excluded by its shipped policy (a new class must be decided on, not overlooked)."""

from __future__ import annotations

import importlib
import re
import warnings
from typing import Any

import pytest

from picklefence import Policy

from ._drafts import by_name, draft

# Names that exist only in some versions, and why.
OTHER_VERSIONS = {
    "pytz:_p": "pytz comes with pandas 2 (tz-aware data of pandas 2 pickles), not pandas 3",
    "pytz:_UTC": "pytz comes with pandas 2 (tz-aware data of pandas 2 pickles), not pandas 3",
    "dateutil.tz.tz:_ttinfo": "dateutil 2.x's tzfile local time types (dateutil 4 pickles zones through _unpickle)",
    "dateutil.tz._tzfile:_unpickle": "dateutil 4's tzfile unpickler (dateutil 2.x pickles tzfile(None, filename))",
    "dateutil.tz._tzfile:tzfile": "dateutil 4's tzfile module (dateutil 2.x defines tzfile in dateutil.tz.tz)",
    "scipy._external.array_api_compat.numpy._aliases:asarray": "scipy 1.18's array namespace (1.17's is an alias)",
    "scipy.interpolate._bsplines:_BSpline": "scipy 1.18's NumPy delegate (1.17 pickles the arrays on the BSpline)",
    "scipy.interpolate._interpolate:_PPoly": "scipy 1.18's NumPy delegate (1.17 pickles the arrays on the PPoly)",
    "scipy.interpolate._interpolate:_BPoly": "scipy 1.18's NumPy delegate (1.17 pickles the arrays on the BPoly)",
}

# Libraries a policy covers, whose rules are checked only where they are installed.
OPTIONAL_ROOTS = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "sklearn",
    "torch",
    "omegaconf",
    "xgboost",
    "lightgbm",
    "statsmodels",
    "gensim",
)


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


def _drafted_table(toml: str, name: str) -> str:
    """The generator's draft for ``name``: its [allow] or [exclude] table, commented out or not."""
    found = re.search(rf'^(?:# )?\[(?:allow|exclude)\."{re.escape(name)}"\]\n(?:.+\n)*', toml, re.MULTILINE)
    return found.group(0) if found else f"(no table drafted for {name})\n"


def test_every_class_the_generator_finds_in_sklearn_is_allowed_or_excluded() -> None:
    pytest.importorskip("sklearn")
    shipped = Policy.named("sklearn")
    undecided = {
        name for name in by_name(("sklearn",)) if name not in shipped and shipped.exclusion(*name.split(":", 1)) is None
    }
    drafted = "\n".join(_drafted_table(draft("sklearn")["toml"], name) for name in sorted(undecided))
    assert not undecided, (
        f"sklearn.toml neither allows nor excludes {len(undecided)} names the generator finds; give each an [allow] "
        f"or an [exclude] table (the generator's drafts):\n\n{drafted}"
    )
