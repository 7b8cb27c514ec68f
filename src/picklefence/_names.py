"""Names of globals: the ``"module:qualname"`` spelling, validation, Python 2 renames."""

from __future__ import annotations

import _compat_pickle

_FORBIDDEN_PARTS = frozenset({"<locals>"})


def split_name(name: str) -> tuple[str, str]:
    """``"pkg.mod:Outer.Inner"`` -> ``("pkg.mod", "Outer.Inner")``, validated."""
    if not isinstance(name, str):
        raise TypeError(f"a global is named by a 'module:qualname' string, not {name!r}")
    module, sep, qualname = name.partition(":")
    if not sep:
        raise ValueError(
            f"{name!r} is not of the form 'module:qualname' (use a colon between the "
            "module and the name, e.g. 'collections:OrderedDict')"
        )
    check_name(module, qualname)
    return module, qualname


def join_name(module: str, qualname: str) -> str:
    return f"{module}:{qualname}"


def is_dunder(name: object) -> bool:
    """``__class__``, ``__dict__``, ...: names that reach a class's machinery, never data
    (the one definition: qualnames, getattr and BUILD state keys all use it)."""
    return type(name) is str and len(name) > 4 and name[:2] == "__" and name[-2:] == "__"


def check_name(module: str, qualname: str) -> None:
    """Refuse names a rule must never match: malformed parts and dunder walks (G1)."""
    for part in module.split("."):
        if not part.isidentifier():
            raise ValueError(f"module name {module!r} is not a dotted identifier")
    for part in qualname.split("."):
        if part in _FORBIDDEN_PARTS or not part.isidentifier():
            raise ValueError(f"qualname {qualname!r} is not a dotted identifier")
        if is_dunder(part):
            raise ValueError(
                f"qualname {qualname!r} walks through the special attribute {part!r}; "
                "rules never resolve dunder attributes"
            )


#: The modules of the Python 2 names ``fix_imports`` maps (a hot caller skips
#: :func:`python2_rename` for every other module).
RENAMED_MODULES = frozenset(_compat_pickle.IMPORT_MAPPING) | frozenset(m for m, _ in _compat_pickle.NAME_MAPPING)


def python2_rename(module: str, qualname: str) -> tuple[str, str]:
    """The Python 3 name CPython's ``fix_imports`` maps a Python 2 name to."""
    if module not in RENAMED_MODULES:
        return module, qualname
    key = (module, qualname)
    if key in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[key]
    if module in _compat_pickle.IMPORT_MAPPING:
        return _compat_pickle.IMPORT_MAPPING[module], qualname
    return module, qualname
