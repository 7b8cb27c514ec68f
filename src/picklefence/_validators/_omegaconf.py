"""Validators for omegaconf configs (see the package docstring).

omegaconf is pure Python, so a forged config cannot corrupt memory; what it can do is
make omegaconf *call* what the pickle chose later: a container's ``object_type`` is the
class ``OmegaConf.to_object`` instantiates, and the reference, key and element types are
called to convert and validate values.  Every node is checked to name plain value types
only, to carry flags that are flags, and to hold nodes (or omegaconf's markers for
missing values and interpolations) as children.
"""

from __future__ import annotations

import sys
import typing
from collections import defaultdict
from typing import Any

from .._rules import Check, Validator

__all__ = ["CHECKS", "VALIDATORS"]

#: the types a config may name as its reference, key or element type
_TYPES: tuple[object, ...] = (typing.Any, typing.Dict, typing.List, dict, list, str, int, float, bool, bytes)  # noqa: UP006
#: what each value node class may hold (a str is omegaconf's "???" or "${...}" marker too)
_VALUES: dict[str, tuple[type, ...]] = {
    "AnyNode": (str, int, float, bool, bytes, type(None)),
    "StringNode": (str, type(None)),
    "IntegerNode": (int, str, type(None)),
    "FloatNode": (float, str, type(None)),
    "BooleanNode": (bool, str, type(None)),
    "BytesNode": (bytes, str, type(None)),
}
_KEYS = (str, int, float, bool, bytes, type(None))


def _known(value: object) -> bool:
    return any(value is t for t in _TYPES)


def _metadata_problem(meta: Any, container: bool) -> str | None:
    """The metadata dataclass of a node: plain value types, a key, flags of booleans,
    an empty-by-default resolver cache of dicts."""
    base = sys.modules["omegaconf.base"]
    expected = base.ContainerMetadata if container else base.Metadata
    if type(meta) is not expected:
        return f"its metadata is a {type(meta).__name__}, not {expected.__name__}"
    fields = vars(meta)
    names = {"ref_type", "object_type", "optional", "key", "flags", "flags_root", "resolver_cache"}
    if container:
        names |= {"key_type", "element_type"}
    if set(fields) != names:
        return f"its metadata has the fields {sorted(fields)}"
    types = [fields["ref_type"]] + ([fields["key_type"], fields["element_type"]] if container else [])
    if not all(_known(t) for t in types):
        return f"its metadata names a type that is not a plain value type: {types!r}"
    allowed_objects = (None, dict, list) if container else (None,)
    if not any(fields["object_type"] is t for t in allowed_objects):
        return f"its object type {fields['object_type']!r} is not a plain dict or list"
    if type(fields["optional"]) is not bool or type(fields["flags_root"]) is not bool:
        return "its optional and flags_root fields are not booleans"
    if type(fields["key"]) not in _KEYS:
        return f"its key is a {type(fields['key']).__name__}"
    flags = fields["flags"]
    if type(flags) is not dict or not all(type(k) is str and type(v) in (bool, type(None)) for k, v in flags.items()):
        return "its flags are not a dict of str to bool"
    cache = fields["resolver_cache"]
    if type(cache) is not defaultdict or cache.default_factory is not dict:
        return "its resolver cache is not a defaultdict of dicts"
    return None


def omegaconf_node(obj: object) -> str | None:
    """A ``DictConfig``/``ListConfig`` or value node: its metadata (above), a parent that
    is a container or none, and children that are nodes (containers) or a value of the
    node's type (value nodes)."""
    omegaconf = sys.modules["omegaconf"]
    container = isinstance(obj, omegaconf.Container)
    state = vars(obj)
    own = "_content" if container else "_val"
    if set(state) != {"_metadata", "_parent", "_flags_cache", own}:
        return f"its attributes are {sorted(state)}"
    if state["_flags_cache"] is not None:
        return "its flags cache is set"
    problem = _metadata_problem(state["_metadata"], container)
    if problem is not None:
        return problem
    problem = _parents_problem(obj, omegaconf)
    if problem is not None:
        return problem
    value = state[own]
    if not container:
        allowed = _VALUES.get(type(obj).__name__, ())
        return None if type(value) in allowed else f"its value is a {type(value).__name__}"
    if value is None or type(value) is str:  # a missing (None, "???") or interpolated container
        return None
    children: Any
    if isinstance(obj, omegaconf.DictConfig):
        if type(value) is not dict or not all(type(k) in _KEYS for k in value):
            return "its content is not a dict of plain keys"
        children = value.values()
    elif type(value) is not list:
        return "its content is not a list"
    else:
        children = value
    if not all(isinstance(child, omegaconf.Node) and vars(child).get("_parent") is obj for child in children):
        return "its content holds something that is not a config node whose parent it is"
    return None


def _parents_problem(obj: object, omegaconf: Any) -> str | None:
    """The parent chain: containers up to a root, without a cycle (omegaconf walks it
    to the root in a loop on every full-key or interpolation lookup)."""
    seen = {id(obj)}
    node = vars(obj)["_parent"]
    while node is not None:
        if not isinstance(node, omegaconf.Container):
            return f"its parent is a {type(node).__name__}"
        if id(node) in seen:
            return "its parents form a cycle"
        seen.add(id(node))
        node = vars(node).get("_parent")
    return None


VALIDATORS: dict[str, Validator] = {"omegaconf_node": omegaconf_node}
CHECKS: dict[str, Check] = {}
