"""Argument checks shipped with picklefence, named from TOML as ``check = "name"``.

They cover calls whose safety depends on *which globals* are passed, which the
declarative ``Arg`` constraints cannot express.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._rules import Call, Check

# Bases copyreg._reconstructor may instantiate through, with the exact state type
# each accepts (``None`` for ``object``): never an int for bytes/bytearray, which
# would allocate that many bytes.
_RECONSTRUCTOR_BASES: Mapping[type, type] = {
    object: type(None),
    int: int,
    float: float,
    complex: complex,
    str: str,
    bytes: bytes,
    tuple: tuple,
    list: list,
    dict: dict,
    set: set,
    frozenset: frozenset,
}


def copyreg_reconstructor(call: Call) -> bool:
    """``copyreg._reconstructor(cls, base, state)``: protocol 0-1 object creation.

    It runs ``base.__new__(cls, state)``, so ``cls`` must be a class the policy lets be
    constructed, ``base`` one of its builtin bases, and ``state`` of ``base``'s type.
    """
    if len(call.args) != 3 or call.kwargs:
        return False
    cls, base, state = call.args
    if not isinstance(cls, type) or not call.allows(cls, "construct"):
        return False
    if call.global_name(base) is None:
        return False
    try:
        state_type = _RECONSTRUCTOR_BASES.get(base)
    except TypeError:  # an unhashable global
        return False
    return state_type is not None and issubclass(cls, base) and type(state) is state_type


CHECKS: Mapping[str, Check] = MappingProxyType({"copyreg_reconstructor": copyreg_reconstructor})
