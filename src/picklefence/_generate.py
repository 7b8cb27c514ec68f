"""Drafting a policy for a trusted library from its code (``picklefence policy generate``).

A policy written by hand rots: a library adds classes and the policy does not learn of
them, or a class changes how it pickles and its rule no longer says what happens.  This
module imports the library (it must be trusted: importing runs its code), finds every
class a pickle could name, and tells from the class itself how pickle rebuilds it:

- ``default``: ``object``'s reduction, NEWOBJ with no arguments, then BUILD of a dict;
- ``container``: the same on a ``dict`` or ``list`` subclass, plus its items;
- ``namedtuple``: NEWOBJ with its fields;
- ``exception``: called with its ``args``, then BUILD of its ``__dict__``;
- ``enum``: called with a member's value;
- ``cython``: Cython's generated ``__reduce_cython__``, rebuilt by the module's
  ``__pyx_unpickle_<Class>(cls, checksum, state)``, which writes C fields unchecked;
- ``custom``: its own ``__reduce__`` / ``__reduce_ex__`` / ``__getnewargs__`` in Python,
  which decides what the pickle calls;
- ``native``: its reduction comes from compiled code (a C or Cython base, ``ndarray``);
- ``callables``: rebuilt like ``default``, but its parameters accept functions, which a
  pickle stores as globals (and the library calls later);
- ``abstract``, ``protocol``, ``unpicklable``: no pickle holds an instance.

Rules of the first four kinds are written as they are; the others are written commented
out under a ``# REVIEW:`` line, since each needs a person: signatures the code does not
show, a validator for the state compiled code trusts, or a decision about which
functions may be values.  A draft never allows what nobody looked at.  Classes no pickle
can hold (abstract classes, typing protocols, Cython classes that refuse to pickle) are
written as ``[exclude."..."]`` tables.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import importlib
import inspect
import pkgutil
import sys
import types
import typing
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ._names import join_name, split_name
from ._rules import Arg, Rule, Signature
from ._toml import quote, render, render_exclude

__all__ = ["Draft", "Generated", "classify", "generate", "to_toml"]

#: Module names never imported: test suites, and ``__main__``, which runs a program.
_SKIPPED_MODULES = frozenset({"tests", "test", "conftest", "__main__"})

_HEAPTYPE = 1 << 9
_IMMUTABLETYPE = 1 << 8
_CONTAINERS = (dict, list)
_LITERALS = (str, int, float, bool)
_EXCEPTION_ARGS = Signature((), varargs=Arg(types=frozenset({"str", "int", "float", "NoneType"})))
_NO_ARGS = Signature(())


@dataclass(frozen=True)
class Draft:
    """One drafted table: a rule, or (``rule`` None) an exclusion.  ``review`` says what a
    person must decide before the rule may be used; such rules are written commented out."""

    name: str
    kind: str
    why: str
    rule: Rule | None = None
    review: str | None = None


@dataclass(frozen=True)
class Generated:
    """Drafts for every class found, the modules that could not be imported, and the
    classes no table can name or that could not be classified (each with why)."""

    packages: tuple[str, ...]
    versions: tuple[str, ...]
    drafts: tuple[Draft, ...]
    failures: tuple[tuple[str, str], ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def counts(self) -> dict[str, int]:
        """How many classes of each kind (a Cython class and its unpickling helper count once)."""
        found: dict[str, int] = {}
        for draft in self.drafts:
            if not draft.name.split(":")[1].startswith("__pyx_unpickle_"):
                found[draft.kind] = found.get(draft.kind, 0) + 1
        return found


def generate(packages: Sequence[str]) -> Generated:
    """Drafts for every class of ``packages`` (imported, with all their submodules)."""
    drafts: dict[str, Draft] = {}
    failures: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    for package in packages:
        for cls in _classes(package, failures):
            name = join_name(cls.__module__, cls.__qualname__)
            try:
                split_name(name)
                found = classify(cls)
            except Exception as exc:  # a dunder name no rule resolves, or a class whose attributes raise
                skipped.append((name, f"{type(exc).__name__}: {exc}".splitlines()[0]))
                continue
            for draft in found:
                drafts.setdefault(draft.name, draft)
    versions = tuple(str(getattr(sys.modules[p], "__version__", "")) for p in packages)
    return Generated(tuple(packages), versions, tuple(drafts.values()), tuple(failures), tuple(skipped))


# -- finding classes -------------------------------------------------------------------


def _modules(package: str, failures: list[tuple[str, str]]) -> Iterator[types.ModuleType]:
    """The package and its submodules, depth first; a module that fails to import is
    reported in ``failures`` and its submodules are not looked at."""
    try:
        root = _import(package)
    except Exception as exc:
        raise ValueError(f"cannot import {package!r}: {type(exc).__name__}: {exc}") from None
    pending = [root]
    while pending:
        module = pending.pop()
        yield module
        path = getattr(module, "__path__", None)
        if path is None:
            continue
        children = []
        for info in pkgutil.iter_modules(path, module.__name__ + "."):
            leaf = info.name.rpartition(".")[2]
            if leaf in _SKIPPED_MODULES or leaf.startswith("test_"):
                continue
            try:
                children.append(_import(info.name))
            except BaseException as exc:  # a module may exit or raise anything when imported
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append((info.name, f"{type(exc).__name__}: {exc}".splitlines()[0]))
        pending.extend(reversed(children))


def _import(name: str) -> types.ModuleType:
    """Import quietly: what a module prints goes to stderr, so a draft on stdout stays TOML."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def _classes(package: str, failures: list[tuple[str, str]]) -> Iterator[type]:
    """Every class defined in the package that a pickle can name: found by its
    ``__module__`` and ``__qualname__`` (nested classes too), never a local class."""
    seen: set[int] = set()
    for module in _modules(package, failures):
        for cls in _defined_in(module, vars(module), ""):
            if id(cls) not in seen and _named(cls):
                seen.add(id(cls))
                yield cls


def _defined_in(module: types.ModuleType, namespace: dict[str, Any], prefix: str) -> Iterator[type]:
    for name, value in list(namespace.items()):
        if isinstance(value, type) and value.__module__ == module.__name__ and value.__qualname__ == prefix + name:
            yield value
            yield from _defined_in(module, dict(vars(value)), value.__qualname__ + ".")


def _named(cls: type) -> bool:
    """Whether pickle finds ``cls`` again by its name (what a rule matches)."""
    obj: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        obj = getattr(obj, part, None)
    return obj is cls


# -- classifying -----------------------------------------------------------------------


def classify(cls: type) -> list[Draft]:
    """The drafts for one class: its rule or exclusion, and the Cython helper that
    rebuilds it, if it has one."""
    name = join_name(cls.__module__, cls.__qualname__)
    module, qualname = cls.__module__, cls.__qualname__
    if inspect.isabstract(cls):
        return [Draft(name, "abstract", "abstract class: Python makes no instance of it, so no pickle holds one")]
    if getattr(cls, "_is_protocol", False):
        return [Draft(name, "protocol", "a typing protocol: it has no instances")]
    if typing.is_typeddict(cls):
        return [Draft(name, "protocol", "a TypedDict: its instances are plain dicts")]
    reducer = _reducer(cls)
    if reducer is not None and getattr(reducer, "__name__", "") == "__reduce_cython__":
        return _cython(cls, name)
    if _namedtuple(cls, reducer):
        return [_named_tuple(cls, name)]
    if isinstance(reducer, types.FunctionType) and not issubclass(cls, enum.Enum):
        owner = reducer.__qualname__
        return [
            Draft(
                name,
                "custom",
                f"its own {owner} decides what the pickle calls",
                Rule(module, qualname, frozenset({"call", "construct", "state"}), why=f"rebuilt by {owner}"),
                f"read {owner}: write the signatures of what it returns, and a validator if compiled code "
                "uses the state",
            )
        ]
    if issubclass(cls, BaseException):
        why = "exception: called with its args, then BUILD of its attributes"
        return [
            Draft(
                name,
                "exception",
                why,
                Rule(module, qualname, frozenset({"call", "state"}), (_EXCEPTION_ARGS,), why=why),
            )
        ]
    if issubclass(cls, enum.Enum):
        return [_enum(cls, name)]
    base = _native_base(cls)
    if reducer is not None or base is not None:
        return [_native(cls, name, base, reducer)]
    callables = _callable_parameters(cls)
    container = next((c.__name__ for c in _CONTAINERS if issubclass(cls, c)), None)
    setstate = _python_setstate(cls)
    why = "NEWOBJ with no arguments, then BUILD of its attributes" + (f" (through {setstate})" if setstate else "")
    can = {"construct", "state"}
    if container is not None:
        why += f" and its {container} items"
        can.add("items")
    rule = Rule(module, qualname, frozenset(can), (_NO_ARGS,), why=why)
    if callables:
        listed = ", ".join(callables)
        review = (
            f"its parameters accept functions ({listed}): a pickle stores them as globals and the library calls "
            'them later; allow only pure functions, as values (can = ["reference"])'
        )
        return [Draft(name, "callables", why, rule, review)]
    return [Draft(name, "container" if container else "default", why, rule)]


def _reducer(cls: type) -> Any:
    """``cls``'s own reduction (``__reduce_ex__`` or ``__reduce__``), None for ``object``'s."""
    if cls.__reduce_ex__ is not object.__reduce_ex__:  # type: ignore[comparison-overlap]
        return cls.__reduce_ex__
    if cls.__reduce__ is not object.__reduce__:  # type: ignore[comparison-overlap]
        return cls.__reduce__
    for hook in ("__getnewargs_ex__", "__getnewargs__"):
        found = getattr(cls, hook, None)
        if found is not None:
            return found
    return None


def _native_base(cls: type) -> type | None:
    """The first compiled class ``cls`` is made of, other than ``object``, ``dict`` and ``list``."""
    for base in cls.__mro__:
        if base is not object and base not in _CONTAINERS and _compiled(base):
            return base
    return None


def _compiled(cls: type) -> bool:
    """Whether ``cls`` is made by C code: a static type, or a heap type made from a spec
    (immutable, unlike every class statement's)."""
    return not cls.__flags__ & _HEAPTYPE or bool(cls.__flags__ & _IMMUTABLETYPE)


def _cython(cls: type, name: str) -> list[Draft]:
    module, qualname = cls.__module__, cls.__qualname__
    helper = f"__pyx_unpickle_{qualname}"
    if helper not in vars(sys.modules[module]):
        return [Draft(name, "unpicklable", "a Cython class whose generated __reduce_cython__ refuses to pickle it")]
    review = (
        f"{helper} writes the state tuple into C fields without checks: give the class a validator of "
        "what its compiled code trusts"
    )
    class_why = f"Cython class: {helper} makes it, BUILD may give the rest of its state to __setstate_cython__"
    helper_why = f"Cython's unpickler of {qualname}: {qualname}.__new__ for exactly that class, then its state"
    signature = Signature(
        (Arg(globals=frozenset({name})), Arg(types=frozenset({"int"})), Arg(types=frozenset({"tuple", "NoneType"})))
    )
    return [
        Draft(
            name, "cython", class_why, Rule(module, qualname, frozenset({"reference", "state"}), why=class_why), review
        ),
        Draft(
            join_name(module, helper),
            "cython",
            helper_why,
            Rule(module, helper, frozenset({"call"}), (signature,), why=helper_why),
            review,
        ),
    ]


def _enum(cls: type[enum.Enum], name: str) -> Draft:
    values = [member.value for member in cls]
    if not values:
        return Draft(name, "abstract", "an enum without members: no value of it exists")
    why = "enum: called with a member's value"
    if all(type(v) in _LITERALS for v in values):
        signature = Signature((Arg(values=tuple(values)),))
        return Draft(
            name, "enum", why, Rule(cls.__module__, cls.__qualname__, frozenset({"call"}), (signature,), why=why)
        )
    rule = Rule(cls.__module__, cls.__qualname__, frozenset({"call"}), why=why)
    return Draft(name, "custom", why, rule, "its member values are not literals: write the signatures they need")


def _namedtuple(cls: type, reducer: object) -> bool:
    """Whether ``cls`` is a namedtuple (or ``typing.NamedTuple``) pickled as namedtuple
    pickles: NEWOBJ with its fields, from the ``__getnewargs__`` namedtuple made."""
    return (
        issubclass(cls, tuple)
        and isinstance(getattr(cls, "_fields", None), tuple)
        and isinstance(reducer, types.FunctionType)
        and reducer.__name__ == "__getnewargs__"
        and reducer.__module__ == "collections"
    )


def _named_tuple(cls: type, name: str) -> Draft:
    fields: tuple[str, ...] = getattr(cls, "_fields", ())
    why = f"namedtuple: NEWOBJ with its {len(fields)} fields"
    can = {"construct"}
    if cls.__dictoffset__:
        why += ", then BUILD of its attributes"
        can.add("state")
    signature = Signature(tuple(Arg() for _ in fields))
    return Draft(name, "namedtuple", why, Rule(cls.__module__, cls.__qualname__, frozenset(can), (signature,), why=why))


def _native(cls: type, name: str, base: type | None, reducer: object) -> Draft:
    module, qualname = cls.__module__, cls.__qualname__
    if base is not None and join_name(base.__module__, base.__qualname__) == "numpy:ndarray":
        why = "ndarray subclass: numpy's _reconstruct(cls, (0,), b'b') makes it, then BUILD of its data"
        rule = Rule(module, qualname, frozenset({"reference", "state"}), why=why)
        review = "needs numpy's _reconstruct rule and the numpy_ndarray_state check, and a validator of its own fields"
        return Draft(name, "native", why, rule, review)
    origin = base if base is not None else cls
    made = join_name(origin.__module__, origin.__qualname__)
    how = getattr(reducer, "__qualname__", None)
    why = f"compiled code decides how it pickles ({made}" + (f", {how})" if how else ")")
    rule = Rule(module, qualname, frozenset({"call", "construct", "state"}), why=why)
    review = (
        f"see what {made} writes (pickletools.dis of an instance): write the signatures, and a validator of "
        "the state its compiled code trusts"
    )
    return Draft(name, "native", why, rule, review)


def _python_setstate(cls: type) -> str | None:
    """The ``__setstate__`` written in Python that BUILD goes through, if any."""
    found = getattr(cls, "__setstate__", None)
    return found.__qualname__ if isinstance(found, types.FunctionType) else None


def _callable_parameters(cls: type) -> list[str]:
    """Parameters and class attributes of ``cls`` that hold or accept functions: defaults
    that are functions, annotations naming ``Callable``, scikit-learn's
    ``_parameter_constraints`` listing ``callable``, class attributes that are callables
    but not methods."""
    found: list[str] = []
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        parameters = ()  # type: ignore[assignment]
    for param in parameters:
        default, annotation = param.default, param.annotation
        if _is_function(default) or "Callable" in str(annotation) or "callable" in str(annotation):
            found.append(param.name)
    constraints = getattr(cls, "_parameter_constraints", None)
    if isinstance(constraints, dict):
        for key, options in constraints.items():
            if isinstance(options, list) and any(option is callable for option in options) and key not in found:
                found.append(str(key))
    for klass in cls.__mro__:
        if klass is object:
            continue
        for key, value in vars(klass).items():
            if not key.startswith("__") and _is_function(value) and not inspect.isfunction(value) and key not in found:
                found.append(key)
    return found


def _is_function(value: object) -> bool:
    """A function or function-like object (a builtin, a ufunc, a partial) held as a value."""
    if isinstance(value, (type, staticmethod, classmethod, property)) or inspect.isdatadescriptor(value):
        return False
    if inspect.ismethoddescriptor(value):
        return False
    return inspect.isroutine(value) or isinstance(value, functools.partial) or type(value).__name__ == "ufunc"


# -- writing ---------------------------------------------------------------------------


def to_toml(generated: Generated) -> str:
    """The draft as a policy file: active rules, rules to review (commented out), and
    exclusions, grouped by module, with a summary header."""
    counts = generated.counts()
    review = sum(1 for d in generated.drafts if d.review is not None)
    packages = ", ".join(f"{p} {v}".strip() for p, v in zip(generated.packages, generated.versions, strict=True))
    out = [
        f"# Drafted by `picklefence policy generate` from {packages}.",
        "# Kinds: " + ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) + ".",
        f"# {review} rules are marked REVIEW and written commented out: uncomment each once it is reviewed.",
        '# Add the policies of what the state holds, e.g. include = ["numpy"].',
    ]
    for module, error in generated.failures:
        out.append(f"# NOT IMPORTED: {module}: {error}")
    for name, error in generated.skipped:
        out.append(f"# NOT DRAFTED: {name}: {error}")
    out.append(
        f"description = {quote('Draft policy for ' + packages + ', generated from its code; review before use.')}"
    )
    by_module: dict[str, list[Draft]] = {}
    for draft in generated.drafts:
        by_module.setdefault(draft.name.partition(":")[0], []).append(draft)
    for module in sorted(by_module):
        out.extend(["", f"# -- {module}"])
        for draft in sorted(by_module[module], key=lambda d: d.name):
            out.append("")
            out.append(_draft_text(draft))
    return "\n".join(out) + "\n"


def _draft_text(draft: Draft) -> str:
    if draft.rule is None:
        return render_exclude(draft.name, draft.why)
    text = render([draft.rule]).rstrip("\n")
    if draft.review is None:
        return text
    commented = "\n".join("# " + line for line in text.splitlines())
    return f"# REVIEW ({draft.kind}): {draft.review}\n{commented}"
