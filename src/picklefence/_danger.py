"""Names no policy should allow: they hand a pickle code execution, imports, files,
processes, or a way to reach any other object.  Used to warn in refusal hints."""

from __future__ import annotations

_MODULES: dict[str, str] = {
    "os": "reaches files and processes",
    "posix": "reaches files and processes",
    "nt": "reaches files and processes",
    "subprocess": "runs processes",
    "pty": "runs processes",
    "sys": "reaches the interpreter's state",
    "importlib": "imports modules",
    "runpy": "runs code",
    "code": "runs code",
    "codeop": "compiles code",
    "marshal": "loads code objects",
    "pickle": "loads pickles without a policy",
    "_pickle": "loads pickles without a policy",
    "shutil": "reaches files",
    "socket": "opens network connections",
    "ctypes": "calls native code",
    "webbrowser": "starts programs",
    "pydoc": "imports modules by name",
    "io": "opens files",
    "_io": "opens files",
}

_NAMES: dict[tuple[str, str], str] = {
    **{("builtins", n): "runs code" for n in ("eval", "exec", "compile", "breakpoint", "__import__")},
    **{
        ("builtins", n): "reaches any attribute" for n in ("getattr", "setattr", "delattr", "vars", "globals", "locals")
    },
    ("builtins", "open"): "opens files",
    ("builtins", "input"): "reads the terminal",
    ("operator", "attrgetter"): "reaches any attribute",
    ("operator", "methodcaller"): "calls any method",
    ("functools", "partial"): "turns one callable into another",
    ("types", "FunctionType"): "creates functions",
    ("types", "CodeType"): "creates code objects",
}


def danger_of(module: str, qualname: str) -> str | None:
    """Why ``module:qualname`` is dangerous, or ``None`` if it is not known to be."""
    reason = _NAMES.get((module, qualname))
    if reason is not None:
        return reason
    root = module.split(".")[0]
    return _MODULES.get(module) or _MODULES.get(root)
