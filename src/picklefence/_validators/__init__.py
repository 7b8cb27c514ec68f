"""Validators (G8): checks of a finished object that its library's compiled code can
use without reading or writing outside its memory.

A validator sees one object after the whole load is built (so nested state and other
objects it refers to are complete) and returns ``None`` when the object is safe to use,
or the invariant it breaks, in words.  A rule names one with ``validate = "name"``.
Each library's validators live in a module of their own and run only after one of that
library's globals was allowed and resolved, so they never import the library.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

from .._rules import Validator
from . import _gensim, _lightgbm, _numpy, _omegaconf, _pandas, _scipy, _sklearn, _stdlib, _torch, _xgboost

__all__ = ["LIBRARIES", "VALIDATORS", "merged"]

#: The per-library modules: each defines ``VALIDATORS`` and ``CHECKS`` (state and
#: argument checks, merged into the shipped checks).
LIBRARIES = (_numpy, _pandas, _scipy, _sklearn, _stdlib, _torch, _omegaconf, _gensim, _lightgbm, _xgboost)


_T = TypeVar("_T")


def merged(attribute: str, shipped: Mapping[str, _T]) -> Mapping[str, _T]:
    """``shipped`` and every library module's table named ``attribute``, as one
    read-only mapping; a name defined twice is an error, never a silent override."""
    table = dict(shipped)
    for module in LIBRARIES:
        for name, entry in getattr(module, attribute).items():
            if name in table:
                raise RuntimeError(f"{attribute[:-1].lower()} {name!r} is defined twice")
            table[name] = entry
    return MappingProxyType(table)


VALIDATORS: Mapping[str, Validator] = merged("VALIDATORS", {})
