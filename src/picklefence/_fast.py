"""The fast path: CPython's C unpickler runs the plain-data opcodes, the strict engine
every operation that can run code.

The compiled verifier (``_fastcheck``) walks the bytes once and accepts a pickle that
is well formed and within the limits (no argument straddling a FRAME, memo reads of
set slots) and made of opcodes the C unpickler can run without deciding anything:
no INST/OBJ, extension code, persistent id, out-of-band buffer or text opcode.  It
compiles what runs code — REDUCE, BUILD, NEWOBJ, NEWOBJ_EX, and item opcodes on
anything but a list, dict or set the pickle built — into BINPERSID calls back to
Python, where ``persistent_load`` runs the strict engine's own handler for that opcode
on the same operands; the C unpickler's ``find_class`` is the strict engine's lookup
(replayed in C for a name the policy's gate has seen it resolve: ``_calls.Find``).
So every global, call, state and item change is judged by the strict engine, in
stream order, with its provenance and limits; C only builds strings, numbers,
containers and the memo.  The program is compiled as the C unpickler reads it, one
64 KiB FRAME at a time (a refusal early in a large pickle compiles little of it; a
pickle in ``bytes`` of one FRAME is compiled by the walk that verifies it), and
text and bytes of 32 bytes and more reach it as out-of-band buffers, made from the input
as it asks for them, so the program holds little besides opcodes; the input may be a
mapped file.  Plain data (no global, nothing to call) in ``bytes`` goes to
``_pickle.loads`` itself.  Any error makes the fast path decline, and the strict
engine then gives the canonical result or error with its offset (an allowed call may
so run twice).  The C reader only ever gets bytes, never a file (cpython gh-154848).
"""

from __future__ import annotations

import _codecs
import _pickle
import pickle
from collections.abc import Callable
from typing import Any

from ._engine import CallOnly, Engine, call_failed
from ._gate import PLAIN
from ._names import RENAMED_MODULES
from ._reader import BytesReader
from .errors import UnpicklingError
from .limits import Limits
from .policy import Policy

_Verify = Callable[[Any, int, int, int, int], tuple[int, int, bool]]
try:
    from . import _fastcheck

    verify: _Verify | None = _fastcheck.verify
    prepare = _fastcheck.prepare
except ImportError:  # built without a C compiler: the strict engine does everything
    verify = None
try:
    from . import _calls
except ImportError:
    _calls = None  # type: ignore[assignment]

#: Returned when the fast path does not apply.
MISS = object()


def _encode_latin1(engine: Engine) -> None:
    """REDUCE of ``_codecs.encode(text, "latin1")``, protocol 2's spelling of bytes.

    For text of 32 bytes and more the verifier hands over the bytes the call returns,
    decoded straight from the pickle's UTF-8, never the text: the call is then judged
    here, as the strict engine would judge it for any such text, counted, and its
    bytes charged to the amplification budget."""
    func, args = engine.stack
    engine.count_call()
    entry = engine.globals.get(id(func))  # (global_entry and real_global, inline: a call per fused encode)
    real = func.obj if type(func) is CallOnly else func
    if entry is None or entry[0] is not func or not engine.gate.encodes_latin1(entry[1], real):
        raise _Declined
    text = args[0]
    engine.stack = [engine.made(text if type(text) is bytes else _codecs.encode(text, "latin1"))]


class _Declined(Exception):
    """The strict engine decides (and words the refusal, if it is one)."""


# The strict engine's handlers, by the code the verifier gives each compiled opcode.
_HANDLERS: dict[int, Callable[[Engine], None]] = {}
_MARKED: frozenset[int] = frozenset()  # (target, items): the handler pops the items as a MARK's
_NEWOBJ_EX = _SETITEM = _SETITEMS = _REDUCE = -1
if verify is not None:
    _HANDLERS = {
        _fastcheck.C_REDUCE: Engine.op_REDUCE,
        _fastcheck.C_BUILD: Engine.op_BUILD,
        _fastcheck.C_NEWOBJ: Engine.op_NEWOBJ,
        _fastcheck.C_NEWOBJ_EX: Engine.op_NEWOBJ_EX,
        _fastcheck.C_APPEND: Engine.op_APPEND,
        _fastcheck.C_APPENDS: Engine.op_APPENDS,
        _fastcheck.C_SETITEM: Engine.op_SETITEM,
        _fastcheck.C_SETITEMS: Engine.op_SETITEMS,
        _fastcheck.C_ADDITEMS: Engine.op_ADDITEMS,
        _fastcheck.C_LATIN1: _encode_latin1,
    }
    _MARKED = frozenset({_fastcheck.C_APPENDS, _fastcheck.C_SETITEMS, _fastcheck.C_ADDITEMS})
    _NEWOBJ_EX, _SETITEM, _SETITEMS = _fastcheck.C_NEWOBJ_EX, _fastcheck.C_SETITEM, _fastcheck.C_SETITEMS
    _REDUCE = _fastcheck.C_REDUCE


def _compiled_operation(loader: _Loader, pid: Any) -> Any:
    """A compiled operation, the C unpickler's persistent id: the strict engine's own
    handler for it, on its operands."""
    engine = loader.engine
    code = pid[-1]
    if code == _REDUCE:  # (callable, args, code): the commonest, without the stack
        return engine.call(pid[0], pid[1], "REDUCE")
    if code == _NEWOBJ_EX:  # ((cls, args, kwargs), code)
        engine.stack = list(pid[0])
    elif code == _SETITEM:  # (target, (key, value), code)
        engine.set_item(pid[0], *pid[1])
        return pid[0]
    elif code in _MARKED:  # (target, [items], code)
        engine.metastack = [[pid[0]]]
        engine.stack = pid[1]
    else:  # (operand, operand, code)
        engine.stack = [pid[0], pid[1]]
    _HANDLERS[code](engine)
    return engine.stack[-1]


class _Loader(_pickle.Unpickler):
    """The C unpickler, deferring to ``engine`` (set once made: no __init__ of its own,
    as small pickles pay for every step)."""

    __slots__ = ("engine", "tables")
    engine: Engine
    tables: Any  # (a _calls.Load: what a planned call reads of the engine)

    def find_class(self, module: str, name: str) -> Any:
        return self.engine.find(module, name)

    if _calls is not None:
        # A global the gate has seen the engine look up is looked up in C, as
        # Engine.lookup does it (_calls.c: from Gate.known, learned from the engine's own
        # tables after its lookup); the rest by Engine.find.
        find_class = _calls.Find(Engine.find, CallOnly, RENAMED_MODULES)  # type: ignore[assignment]

    # A planned REDUCE, and SETITEM(S) on an object whose class the engine already let
    # have items, run in C where the extension is built (_calls.c: Engine.call's planned
    # branch and op_SETITEMS's loop, without their Python frames); all else in the engine.
    persistent_load = (
        _compiled_operation
        if _calls is None
        else _calls.Dispatch(
            _compiled_operation, CallOnly, PLAIN, call_failed, UnpicklingError, _REDUCE, _SETITEM, _SETITEMS
        )
    )


def try_loads_at(
    data: bytes | memoryview,
    policy: Policy,
    limits: Limits,
    fix_imports: bool = True,
    encoding: str = "ASCII",
    errors: str = "strict",
) -> tuple[Any, int]:
    """The object ``data`` holds and the offset just past its STOP, if the fast path
    applies; otherwise :data:`MISS` (and the offset, or -1 if the pickle did not verify).
    The options are ``pickle.loads``'s (passed as they are: small pickles pay for every
    step)."""
    if verify is None:
        return MISS, -1
    memo_index, memo_entries, marks, strings = (
        limits.max_memo_index,
        limits.max_memo_entries,
        limits.max_mark_depth,
        limits.max_string_bytes,
    )
    end, proto, plain, program = prepare(data, memo_index, memo_entries, marks, strings)  # (and compile a small one)
    if end < 0 or end > limits.max_input_bytes:
        return MISS, -1
    try:
        if plain and type(data) is bytes:  # (a mapped file might change under the C unpickler)
            return _pickle.loads(data, fix_imports=fix_imports, encoding=encoding, errors=errors), end
        # (reader, policy, limits, fix_imports, encoding, errors, buffers, persistent_load)
        engine = Engine(_NO_INPUT, policy, limits, fix_imports, encoding, errors, None, _no_persistent_ids)
        engine.proto = proto
        engine.input_size = len(data)
        if program is None:
            program = _fastcheck.Program(data, memo_index, memo_entries, marks, strings)
        if fix_imports is True and encoding == "ASCII" and errors == "strict":  # (the defaults: fewer keywords)
            loader = _Loader(program, buffers=program)
        else:
            loader = _Loader(program, fix_imports=fix_imports, encoding=encoding, errors=errors, buffers=program)
        loader.engine = engine
        if _calls is not None:
            loader.tables = _calls.Load(engine)
        result = loader.load()
        del loader  # (its memo holds what the pickle memoized: finish counts without it)
        if program.end != end:  # a mapped file that changed: what it holds now is not what was verified
            return MISS, end
        if engine.pending or engine.tokens:
            engine.stack = []
            engine.finish(result)
        return result, end
    except Exception:  # a refusal, or e.g. an unhashable dict key: the strict engine says it canonically
        return MISS, end


# The fast path's engine reads nothing itself: the C unpickler reads the program.
_NO_INPUT = BytesReader(b"")


def _no_persistent_ids(pid: object) -> Any:
    """Never called: the verifier declines pickles with persistent ids of their own."""
    raise pickle.UnpicklingError("persistent id in a verified pickle")
