"""How a library's validators state invariants: ``need(condition, problem)`` stops at
the first broken one, and ``validator`` turns that into the validator protocol (the
problem's words, or None), so each library module writes only its invariants."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from .._rules import Validator

__all__ = ["Invalid", "need", "validator"]


class Invalid(Exception):
    """An invariant the object breaks; the validator returns its message."""


def validator(fn: Callable[[Any], None]) -> Validator:
    @wraps(fn)
    def run(obj: Any) -> str | None:
        try:
            fn(obj)
        except Invalid as problem:
            return str(problem)
        return None

    return run


def need(condition: object, problem: str) -> None:
    if not condition:
        raise Invalid(problem)
