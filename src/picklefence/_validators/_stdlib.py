"""Checks and validators for standard-library value types (see the package docstring).

Nothing here reads memory out of bounds when it is wrong: the standard library checks
its own arguments.  What these add is what the standard library does not refuse but a
hostile pickle can use: an argument that costs time or memory later (a log message
whose ``%999999999d`` formats a gigabyte, a regular expression that backtracks for
ever, a lazy ``range`` a constructor turns into a tuple), a value the library would
accept and misbehave on (an enum member that does not exist, an array whose bytes do
not divide into items), or a container attribute that is not the container its
methods expect.  Each refusal happens before the object is handed out.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any

from .._rules import Call, Check, Validator

__all__ = ["CHECKS", "VALIDATORS"]


def _callee(call: Call) -> Any:
    """The global being called, as the load resolved it (its module is imported)."""
    module, _, qualname = call.name.partition(":")
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


# -- enums ------------------------------------------------------------------------------


def enum_member(call: Call) -> bool:
    """``Enum(value)``: a value one of the enum's members has (a ``Flag``: a combination
    of its members' bits), as an exact int or str, so an unknown value is refused by the
    policy instead of failing inside the enum."""
    import enum

    cls = _callee(call)
    if len(call.args) != 1 or call.kwargs or not isinstance(cls, type) or not issubclass(cls, enum.Enum):
        return False
    value = call.args[0]
    if type(value) not in (int, str):
        return False
    if issubclass(cls, enum.Flag):
        return type(value) is int and value >= 0 and value & ~cls._flag_mask_ == 0  # type: ignore[attr-defined]
    return any(type(m.value) is type(value) and m.value == value for m in cls)


# -- struct sequences (time.struct_time, os.stat_result, ...) ---------------------------

_MAX_FIELD_INT_BITS = 128  # nanosecond times are 61 bits
_MAX_FIELD_STR = 1024


def _plain_field(value: object) -> bool:
    if type(value) is int:
        return value.bit_length() <= _MAX_FIELD_INT_BITS
    if type(value) is str:
        return len(value) <= _MAX_FIELD_STR
    return type(value) in (float, type(None))


def struct_sequence(call: Call) -> bool:
    """``struct_time(sequence[, dict])``: a tuple of as many fields as the type shows (a
    lazy ``range`` would be turned into a list first), the hidden fields by their own
    names, every field a plain number, a short string or None."""
    cls = _callee(call)
    if call.kwargs or not 1 <= len(call.args) <= 2 or not isinstance(cls, type):
        return False
    sequence = call.args[0]
    visible, total = getattr(cls, "n_sequence_fields", None), getattr(cls, "n_fields", None)
    if type(visible) is not int or type(total) is not int:
        return False
    if type(sequence) is not tuple or not visible <= len(sequence) <= total:
        return False
    if not all(map(_plain_field, sequence)):
        return False
    if len(call.args) == 1:
        return True
    hidden = call.args[1]
    if hidden is None:
        return True
    names = {k for k, v in vars(cls).items() if isinstance(v, types.MemberDescriptorType)}
    return (
        type(hidden) is dict
        and len(hidden) <= total - visible
        and all(type(k) is str and k in names for k in hidden)
        and all(map(_plain_field, hidden.values()))
    )


# -- decimal ----------------------------------------------------------------------------

# exp, ln and power take 20 ms at 1,000 digits, 8 s at 10,000 and minutes at 100,000
_MAX_DECIMAL_PREC = 1000
_DECIMAL_SIGNALS = frozenset(
    f"decimal:{name}"
    for name in (
        "Clamped",
        "DivisionByZero",
        "FloatOperation",
        "Inexact",
        "InvalidOperation",
        "Overflow",
        "Rounded",
        "Subnormal",
        "Underflow",
    )
)


def decimal_context(call: Call) -> bool:
    """``Context(prec, rounding, Emin, Emax, capitals, clamp, flags, traps)``: a precision
    arithmetic finishes in (every operation computes ``prec`` digits, and ``exp`` or
    ``ln`` time grows with its square and more), and flags and
    traps lists of distinct decimal signals; the rest ``Context`` checks itself."""
    if len(call.args) != 8 or call.kwargs:
        return False
    prec, rounding, emin, emax, capitals, clamp, flags, traps = call.args
    if type(prec) is not int or not 1 <= prec <= _MAX_DECIMAL_PREC:
        return False
    if type(rounding) is not str or not rounding.startswith("ROUND_") or len(rounding) > 16:
        return False
    if type(emin) is not int or type(emax) is not int or capitals not in (0, 1) or clamp not in (0, 1):
        return False
    for signals in (flags, traps):
        if type(signals) is not list or len(signals) > len(_DECIMAL_SIGNALS):
            return False
        names = [call.global_name(s) for s in signals]
        if not all(n in _DECIMAL_SIGNALS for n in names) or len(set(names)) != len(names):
            return False
    return True


# -- array.array ------------------------------------------------------------------------

# (kind, size) of the machine formats ``_array_reconstructor`` reads, by code
# (CPython's ``enum machine_format_code``), little- and big-endian alike.
_MACHINE_FORMATS: Mapping[int, tuple[str, int]] = {
    0: ("u", 1), 1: ("i", 1),
    2: ("u", 2), 3: ("u", 2), 4: ("i", 2), 5: ("i", 2),
    6: ("u", 4), 7: ("u", 4), 8: ("i", 4), 9: ("i", 4),
    10: ("u", 8), 11: ("u", 8), 12: ("i", 8), 13: ("i", 8),
    14: ("f", 4), 15: ("f", 4), 16: ("f", 8), 17: ("f", 8),
    18: ("s", 2), 19: ("s", 2), 20: ("s", 4), 21: ("s", 4),
}  # fmt: skip
_NATIVE = {"little": frozenset({0, 1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20})}.get(
    sys.byteorder, frozenset({0, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21})
)
_PYTHON_ITEM_BYTES = 32  # an int or float object and its list slot: the non-native path


def _typecode_kind(typecode: str) -> tuple[str, int] | None:
    import array

    if type(typecode) is not str or len(typecode) != 1 or typecode not in array.typecodes:
        return None
    size = array.array(typecode).itemsize
    if typecode in "fd":
        return "f", size
    if typecode in "uw":
        return "s", size
    return ("i" if typecode.islower() else "u"), size


def _item_fits(kind: str, size: int, item: object) -> bool:
    if kind == "f":
        return type(item) is float or (type(item) is int and item.bit_length() <= 1024)
    if kind == "s":
        return type(item) is str and len(item) == 1
    if type(item) is not int:
        return False
    bits = size * 8
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if kind == "i" else (0, (1 << bits) - 1)
    return low <= item <= high


def array_items(call: Call) -> bool:
    """``array(typecode, items)`` (protocols 0-2): a typecode the running Python knows,
    and a list (already in memory) of items each of which fits it."""
    if len(call.args) != 2 or call.kwargs:
        return False
    typecode, items = call.args
    kind = _typecode_kind(typecode)
    if kind is None or type(items) is not list:
        return False
    return all(_item_fits(*kind, item) for item in items)


def array_reconstructor(call: Call) -> bool:
    """``_array_reconstructor(array, typecode, machine_format, data)`` (protocol 3+): the
    machine format is the typecode's kind and size in either byte order, and the data
    is whole items of it.  A foreign byte order goes through a Python list of the items,
    which is charged to the amplification budget."""
    if len(call.args) != 4 or call.kwargs:
        return False
    cls, typecode, code, data = call.args
    kind = _typecode_kind(typecode)
    if call.global_name(cls) != "array:array" or kind is None or type(code) is not int:
        return False
    if _MACHINE_FORMATS.get(code) != kind or type(data) is not bytes or len(data) % kind[1]:
        return False
    if code not in _NATIVE:
        call.spend(len(data) // kind[1] * _PYTHON_ITEM_BYTES)
    return True


# -- re.compile -------------------------------------------------------------------------

_MAX_PATTERN = 4096
_MAX_GROUP_DEPTH = 64  # re's parser recurses per group; far below the interpreter's limit
_REGEX_FLAGS = int(re.IGNORECASE | re.LOCALE | re.MULTILINE | re.DOTALL | re.UNICODE | re.VERBOSE | re.ASCII)
_UNBOUNDED_REPEAT = 0xFFFFFFFF  # re's MAXREPEAT: what * and + compile to


def _group_depth(pattern: str | bytes) -> int:
    """Nesting of parentheses, counting escaped and bracketed ones too (an over-count
    only refuses; it never lets a deeper pattern through)."""
    text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")" and depth:
            depth -= 1
    return deepest


def _nested_repeat(items: Any, inside: bool) -> bool:
    """Whether a parsed pattern repeats, without bound, something that itself repeats a
    varying number of times (``(a+)+``, ``(a*)*``, ``(\\w+\\s*)*``): the shape that makes
    a backtracking matcher take exponential time on a near miss.  Possessive repeats
    and atomic groups do not backtrack, so they neither start nor count as nesting."""
    from re import _constants as c  # type: ignore[attr-defined]

    for op, av in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, high, body = av
            backtracks = op != c.POSSESSIVE_REPEAT
            if inside and backtracks and high > 1 and low != high:
                return True
            if _nested_repeat(body, inside or (backtracks and high == _UNBOUNDED_REPEAT)):
                return True
        elif op == c.ATOMIC_GROUP:
            if _nested_repeat(av, False):
                return True
        elif op in (c.SUBPATTERN, c.ASSERT, c.ASSERT_NOT):
            if _nested_repeat(av[-1], inside):
                return True
        elif op == c.BRANCH:
            if any(_nested_repeat(branch, inside) for branch in av[1]):
                return True
        elif op == c.GROUPREF_EXISTS and any(b is not None and _nested_repeat(b, inside) for b in av[1:]):
            return True
    return False


def regex(call: Call) -> bool:
    """``re._compile(pattern, flags)``: a str or bytes pattern of at most 4,096
    characters and 64 nested groups, the flags ``re`` documents (never ``DEBUG``, which
    prints while compiling), and no unbounded repeat of a repeat.  Matching time is the
    user's later use of the pattern; a bounded length is what makes compiling cheap,
    and refusing nested quantifiers removes the common exponential backtracking shape,
    though not every slow pattern (``\\d*\\d*\\d*$`` is polynomial)."""
    if len(call.args) != 2 or call.kwargs:
        return False
    pattern, flags = call.args
    if type(pattern) not in (str, bytes) or len(pattern) > _MAX_PATTERN:
        return False
    if type(flags) is not int or flags < 0 or flags & ~_REGEX_FLAGS:
        return False
    if _group_depth(pattern) > _MAX_GROUP_DEPTH:
        return False
    from re import _parser  # type: ignore[attr-defined]

    try:
        parsed = _parser.parse(pattern, flags)
    except (re.error, ValueError, TypeError, OverflowError, RecursionError):
        return False
    return not _nested_repeat(parsed, False)


# -- validators -------------------------------------------------------------------------

_MAX_LOG_TEXT = 1 << 16
_MAX_LOG_WIDTH = 1000
_TEXT_CONVERSIONS = frozenset("sra%")
_LOG_FIELDS: Mapping[str, tuple[type, ...]] = {
    "name": (str, type(None)),
    "levelname": (str,),
    "levelno": (int,),
    "pathname": (str,),
    "filename": (str,),
    "module": (str,),
    "exc_text": (str, type(None)),
    "stack_info": (str, type(None)),
    "lineno": (int,),
    "funcName": (str, type(None)),
    "created": (float, int),
    "msecs": (float, int),
    "relativeCreated": (float, int),
    "thread": (int, type(None)),
    "threadName": (str, type(None)),
    "processName": (str, type(None)),
    "process": (int, type(None)),
    "taskName": (str, type(None)),
}
_PLAIN_ARGS = (str, int, float, bool, type(None))


def log_record(record: Any) -> str | None:
    """A ``LogRecord`` whose formatting (``getMessage``, what every handler calls) does
    only what its text says: a str message, no ``*`` widths taken from the arguments
    and no width or precision above 1,000 (``%999999999d`` formats a gigabyte), plain
    arguments wherever a conversion turns one into a number (``%d`` of
    ``Decimal('1e999999999')`` builds that integer), no exception info (a pickled record
    never has any), and fields of the types ``logging`` writes."""
    state = vars(record)
    msg, args = state.get("msg"), state.get("args")
    if type(msg) is not str or len(msg) > _MAX_LOG_TEXT:
        return "its message is not a str of at most 65,536 characters"
    if state.get("exc_info") is not None:
        return "it holds exception info, which a pickled record never has"
    for key, kinds in _LOG_FIELDS.items():
        if key in state and type(state[key]) not in kinds:
            return f"its {key} is a {type(state[key]).__name__}"
    if args is None or args == ():
        return None
    if type(args) is dict:
        values = list(args.values())
        if not all(type(k) is str for k in args):
            return "its argument names are not all str"
    elif type(args) is tuple:
        values = list(args)
    else:
        return f"its args is a {type(args).__name__}, not a tuple or dict"
    numeric = False
    for width, precision, kind in _conversions(msg):
        for bound in (width, precision):
            if bound == "*" or (bound and int(bound) > _MAX_LOG_WIDTH):
                return f"its message has a conversion of width or precision {bound!r}"
        numeric = numeric or kind not in _TEXT_CONVERSIONS
    if numeric and not all(type(v) in _PLAIN_ARGS or _plain_mapping(v) for v in values):
        return "a numeric conversion in its message would convert an argument that is not a plain value"
    return None


def _conversions(text: str) -> Iterator[tuple[str, str, str]]:
    """The (width, precision, type) of every ``%`` conversion, read as ``str % args``
    reads them: a mapping key to its matching parenthesis (``%(a(b))999999999d`` has a
    width), flags, ``*`` or ASCII digits, ``.`` and ``*`` or digits, a length modifier."""
    end, at = len(text), 0

    def bound() -> str:
        nonlocal at
        start = at
        if at < end and text[at] == "*":
            at += 1
        else:
            while at < end and "0" <= text[at] <= "9":
                at += 1
        return text[start:at]

    while (at := text.find("%", at)) >= 0:
        at += 1
        if at < end and text[at] == "(":
            depth, at = 1, at + 1
            while at < end and depth:
                depth += {"(": 1, ")": -1}.get(text[at], 0)
                at += 1
        while at < end and text[at] in "-+ #0":
            at += 1
        width = bound()
        precision = ""
        if at < end and text[at] == ".":
            at += 1
            precision = bound()
        if at < end and text[at] in "hlL":
            at += 1
        yield width, precision, text[at : at + 1]
        at += 1


def _plain_mapping(value: object) -> bool:
    """A one-dict argument tuple (``log("%(n)d", {"n": 1})``) of plain values."""
    return type(value) is dict and all(type(k) is str and type(v) in _PLAIN_ARGS for k, v in value.items())


def chain_map(obj: Any) -> str | None:
    """``ChainMap``: ``maps`` is a non-empty list of mappings, none of them the chain
    itself (every lookup walks the list and indexes each)."""
    from collections.abc import Mapping as AnyMapping

    maps = vars(obj).get("maps")
    if type(maps) is not list or not maps:
        return "its maps is not a non-empty list"
    if any(m is obj or not isinstance(m, AnyMapping) for m in maps):
        return "its maps holds something that is not another mapping"
    return None


def _data_of(expected: type, attribute: str = "data") -> Validator:
    def validate(obj: Any) -> str | None:
        value = vars(obj).get(attribute)
        if type(value) is not expected:
            return f"its {attribute} is a {type(value).__name__}, not a {expected.__name__}"
        return None

    validate.__doc__ = f"The ``{attribute}`` that every method uses is a ``{expected.__name__}``."
    return validate


def url_result(obj: Any) -> str | None:
    """``urllib.parse`` results: exactly their fields (protocols 0-1 rebuild them from a
    tuple of any length), all str, or all bytes for the ``*Bytes`` results."""
    import urllib.parse

    fields = type(obj)._fields
    kind = bytes if isinstance(obj, urllib.parse._ResultMixinBytes) else str
    if len(obj) != len(fields) or not all(type(v) is kind for v in tuple.__iter__(obj)):
        return f"it is not {len(fields)} {kind.__name__} fields"
    return None


VALIDATORS: dict[str, Validator] = {
    "stdlib_log_record": log_record,
    "stdlib_chain_map": chain_map,
    "stdlib_user_dict": _data_of(dict),
    "stdlib_user_list": _data_of(list),
    "stdlib_user_string": _data_of(str),
    "stdlib_template": _data_of(str, "template"),
    "stdlib_url_result": url_result,
}
CHECKS: dict[str, Check] = {
    "stdlib_enum_member": enum_member,
    "stdlib_struct_sequence": struct_sequence,
    "stdlib_decimal_context": decimal_context,
    "stdlib_array_items": array_items,
    "stdlib_array_reconstructor": array_reconstructor,
    "stdlib_regex": regex,
}
