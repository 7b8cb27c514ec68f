"""Validators and checks for numpy objects (see the package docstring)."""

from __future__ import annotations

from .._rules import Check, Validator

VALIDATORS: dict[str, Validator] = {}
CHECKS: dict[str, Check] = {}
