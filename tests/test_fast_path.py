"""The fast path and the strict engine agree on every input: equal results, or the
same refusal.  ``loads`` may take the fast path; ``Unpickler`` on a file never does."""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import fractions
import functools
import io
import pickle
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import picklefence
from picklefence import Limits, UnpicklingError, _fast
from picklefence._engine import Engine
from picklefence._fast import MISS, try_loads_at, verify

from .hostile import call, g, i, sg, stop, u
from .strategies import builtin_values, values
from .test_hostile import CASES

pytestmark = pytest.mark.skipif(verify is None, reason="built without the C verifier")
_fastcheck = pytest.importorskip("picklefence._fastcheck")

LIMITS = Limits()


def try_loads(data: bytes, policy: picklefence.Policy, limits: Limits) -> Any:
    """The fast path's result alone (:data:`MISS` when it does not apply)."""
    return try_loads_at(data, policy, limits)[0]


DEFAULT = picklefence.Policy.named("default")


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        result = run()
    except UnpicklingError as exc:
        return "error", type(exc)
    return "value", (_dumped(result, memo=True), _dumped(result, memo=False))


def _dumped(result: object, *, memo: bool) -> object:
    """``result`` pickled, with its sharing (``memo``) or without: numpy builds a broken
    dtype's fields (from a mutated pickle) with different string identities each time."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, 4)
    pickler.fast = not memo
    try:
        pickler.dump(result)
    except Exception:
        return type(result)  # e.g. an instance a mutated pickle left without its state
    return out.getvalue()


def _agree(data: bytes, policy: str | picklefence.Policy = "default", limits: Limits | None = None) -> None:
    fast = _outcome(lambda: picklefence.loads(data, policy=policy, limits=limits))
    strict = _outcome(lambda: picklefence.Unpickler(io.BytesIO(data), policy=policy, limits=limits).load())
    if fast[0] == strict[0] == "value":
        (fast_memo, fast_flat), (strict_memo, strict_flat) = fast[1], strict[1]
        assert fast_memo == strict_memo or fast_flat == strict_flat
    else:
        assert fast == strict


@given(builtin_values, st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_plain_data_takes_the_fast_path_with_the_same_result(obj: object, protocol: int) -> None:
    data = pickle.dumps(obj, protocol)
    _agree(data)
    if protocol >= 4 and not isinstance(obj, (bytearray, range, slice, complex, type)):
        # containers of atoms pickle without globals from protocol 4 on (mostly)
        fast = try_loads(data, DEFAULT, LIMITS)
        if fast is not MISS:
            assert pickle.dumps(fast, 4) == pickle.dumps(pickle.loads(data), 4)


@given(values, st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_stdlib_values_agree(obj: object, protocol: int) -> None:
    _agree(pickle.dumps(obj, protocol), "stdlib")


def _mutate(draw: st.DrawFn, pickled: bytes) -> bytes:
    """``pickled`` with one to three random byte flips, insertions, deletions or cuts."""
    data = bytearray(pickled)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = bytes([draw(st.integers(0, 255))])
        elif kind == "delete" and data:
            del data[at]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    return _mutate(draw, pickle.dumps(draw(builtin_values), draw(st.integers(0, pickle.HIGHEST_PROTOCOL))))


@given(mutated())
def test_mutated_and_truncated_pickles_agree(data: bytes) -> None:
    _agree(data, limits=Limits(max_string_bytes=1 << 20, max_memo_index=1 << 20))


@functools.cache
def _object_pickles() -> list[bytes]:
    """Pickles whose fast path runs compiled calls, BUILD, NEWOBJ and item opcodes."""
    objects: list[object] = [
        collections.OrderedDict(a=[1, 2]),
        collections.Counter("aab"),
        collections.deque([1, 2], maxlen=3),
        argparse.Namespace(a=decimal.Decimal("1.5"), b=fractions.Fraction(1, 3)),
        datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        uuid.UUID(int=5),
        {1, 2, frozenset({3})},
        [b"x" * 40, "y" * 40, bytearray(b"z" * 40)],
    ]
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        objects += [
            np.arange(6.0).reshape(2, 3),
            np.zeros(2, dtype=[("x", "f4"), ("y", "i2", (2,))]),
            np.array([1, "a", None], dtype=object),
            {"w": np.ones(3, "i8"), "s": np.float32(1.5)},
        ]
    return [pickle.dumps(obj, protocol) for obj in objects for protocol in range(1, pickle.HIGHEST_PROTOCOL + 1)]


@st.composite
def mutated_objects(draw: st.DrawFn) -> bytes:
    return _mutate(draw, draw(st.sampled_from(_object_pickles())))


@given(mutated_objects())
def test_mutated_object_pickles_agree(data: bytes) -> None:
    limits = Limits(max_string_bytes=1 << 20, max_memo_index=1 << 20)
    _agree(data, "stdlib", limits)
    _agree(data, picklefence.Policy.named("numpy"), limits)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_table_agrees(case: Any) -> None:
    _agree(case.data, case.policy, case.limits)


def test_the_fast_path_is_taken_for_plain_containers() -> None:
    data = pickle.dumps({"a": [1, 2.5, "x", b"y", None, True], "b": (1, 2), "s": {1}}, 5)
    assert try_loads(data, DEFAULT, LIMITS) == pickle.loads(data)


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps(collections.OrderedDict(), 4),  # a global the default policy does not allow
        pickle.dumps(argparse.Namespace(), 2),  # NEWOBJ and BUILD of a class the policy does not allow
        b"\x80\x04\x95" + (4).to_bytes(8, "little") + b"C\x08abcdefgh.",  # straddles a FRAME
        b"\x80\x04)(K\x01e.",  # APPENDS on a tuple: the strict engine's handler refuses
        b"\x80\x04h\x05.",  # GET of an unset memo slot
        b"\x80\x04Nr\x00\x00\x00\x01.",  # memo index over a limit of 2**20
        b"\x80\x02K\x01Q.",  # a persistent id of the pickle's own
        b"\x80\x02\x82\x01.",  # an extension code
        b"I1\n.",  # a text opcode
    ],
    ids=[
        "refused global",
        "refused class",
        "straddle",
        "appends on a tuple",
        "unset memo",
        "memo index",
        "persistent id",
        "extension code",
        "text opcode",
    ],
)
def test_the_fast_path_declines(data: bytes) -> None:
    assert try_loads(data, DEFAULT, Limits(max_memo_index=1 << 20)) is MISS


def test_the_fast_path_calls_allowed_globals_through_the_policy() -> None:
    for obj in ({b"x", 1}, frozenset({2}), bytearray(b"ab"), range(1, 9, 2), slice(1, 2), complex(1, 2), type(None)):
        data = pickle.dumps(obj, 2)
        assert try_loads(data, DEFAULT, LIMITS) == pickle.loads(data), obj
    # an argument rule refuses: the fast path declines, the strict engine refuses
    refused = b"\x80\x02c__builtin__\nbytearray\nJ\x00\xca\x9a;\x85R."
    assert try_loads(refused, DEFAULT, LIMITS) is MISS
    with pytest.raises(picklefence.PolicyViolation):
        picklefence.loads(refused)


_STDLIB = picklefence.Policy.named("stdlib")
_OBJECTS = [
    collections.OrderedDict(a=1, b=[2]),
    collections.Counter("abca"),
    collections.deque([1, 2], maxlen=5),
    argparse.Namespace(x=1, y="z"),
    datetime.datetime(2026, 11, 24, 9, 30, tzinfo=datetime.UTC),
    decimal.Decimal("1.25"),
    fractions.Fraction(3, 4),
    uuid.UUID(int=7),
    {"n": [argparse.Namespace(a=i) for i in range(3)], "t": (datetime.date(2000, 1, 1),)},
]


@pytest.mark.parametrize("protocol", range(1, pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("obj", _OBJECTS, ids=lambda o: type(o).__name__)
def test_objects_take_the_fast_path_with_the_same_result(obj: object, protocol: int) -> None:
    data = pickle.dumps(obj, protocol)
    fast = try_loads(data, _STDLIB, LIMITS)
    assert fast is not MISS
    assert type(fast) is type(obj)
    assert pickle.dumps(fast, 4) == pickle.dumps(pickle.loads(data), 4)


def test_every_operation_that_runs_code_goes_through_the_strict_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    for code, handler in list(_fast._HANDLERS.items()):

        def spy(engine: Engine, _handler: Any = handler) -> None:
            seen.append(_handler.__name__)
            _handler(engine)

        monkeypatch.setitem(_fast._HANDLERS, code, spy)
    strict_call, strict_set_item = Engine.call, Engine.set_item

    def call_spy(engine: Engine, func: Any, args: Any, opname: str) -> Any:
        seen.append(f"call from {opname}")
        return strict_call(engine, func, args, opname)

    def set_item_spy(engine: Engine, target: Any, key: object, value: object) -> None:
        seen.append("set_item")
        strict_set_item(engine, target, key, value)

    # (REDUCE and SETITEM go to these without their opcode handlers' stack; a planned
    # REDUCE runs Engine.call's planned branch in C, tested in test_call_plans.py)
    monkeypatch.setattr(_fast._Loader, "persistent_load", _fast._compiled_operation)
    monkeypatch.setattr(Engine, "call", call_spy)
    monkeypatch.setattr(Engine, "set_item", set_item_spy)
    obj = [argparse.Namespace(a=1), collections.OrderedDict(k=2), decimal.Decimal(1)]
    data = pickle.dumps(obj, 2)
    assert try_loads(data, _STDLIB, LIMITS) == obj
    assert sorted(set(seen)) == ["call from REDUCE", "op_BUILD", "op_NEWOBJ", "set_item"]
    assert len(seen) == 5  # REDUCE twice


@pytest.mark.parametrize("size", [31, 32, 255, 256, 1 << 16])
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_text_and_bytes_are_handed_over_as_the_same_objects(protocol: int, size: int) -> None:
    # arguments of 32 bytes and more leave the compiled program as out-of-band buffers
    raw, mutable, text = b"x" * size, bytearray(b"y" * size), "\u20ac\ud800" * (size // 2)
    obj = [raw, raw, mutable, collections.OrderedDict(b=raw), text, {text: raw}]
    data = pickle.dumps(obj, protocol)
    result = try_loads(data, _STDLIB, LIMITS)
    assert result is not MISS
    assert result == obj
    assert result[0] is result[1] is result[3]["b"]
    assert type(result[2]) is bytearray


def test_a_refusal_in_a_compiled_operation_declines_and_the_strict_engine_refuses() -> None:
    data = pickle.dumps(argparse.Namespace(a=1), 2)  # NEWOBJ and BUILD
    assert try_loads(data, DEFAULT, LIMITS) is MISS
    with pytest.raises(picklefence.PolicyViolation):
        picklefence.loads(data, policy=DEFAULT)
    assert try_loads(data, _STDLIB, LIMITS) == argparse.Namespace(a=1)


# One pickle per opcode the verifier compiles into a call back to the strict engine.
_COMPILED = {
    "REDUCE": stop(call(g("collections", "OrderedDict"))),
    "BUILD": stop(g("argparse", "Namespace") + b")\x81}" + u("a") + i(1) + b"sb", 2),
    "NEWOBJ": stop(g("argparse", "Namespace") + b")\x81", 2),
    "NEWOBJ_EX": stop(sg("argparse", "Namespace") + b")}\x92", 4),
    "APPEND": stop(call(g("collections", "deque")) + i(1) + b"a"),
    "APPENDS": stop(call(g("collections", "deque")) + b"(" + i(1) + i(2) + b"e"),
    "SETITEM": stop(call(g("collections", "OrderedDict")) + u("k") + i(1) + b"s"),
    "SETITEMS": stop(call(g("collections", "OrderedDict")) + b"(" + u("k") + i(1) + b"u"),
    "ADDITEMS": stop(call(g("builtins", "set")) + b"(" + i(1) + i(2) + b"\x90", 4),
}


@pytest.mark.parametrize("name", list(_COMPILED))
def test_every_compiled_operation_loads_like_pickle(name: str) -> None:
    data = _COMPILED[name]
    result = try_loads(data, _STDLIB, LIMITS)
    assert result is not MISS
    assert type(result) is type(pickle.loads(data)) and result == pickle.loads(data)
    # and refused where the policy refuses it: the strict engine judged it
    _agree(data, "default")


# Protocol 2 spells bytes `_codecs.encode(text, "latin1")`: the verifier fuses that
# call, and for text of 32 bytes and more hands over the bytes, never the text.
def _encode(text: str, *, text_put: bytes = b"q\x01", tuple_put: bytes = b"q\x03") -> bytes:
    return g("_codecs", "encode") + b"q\x00" + u(text) + text_put + u("latin1") + b"q\x02\x86" + tuple_put + b"R"


_ALL_LATIN1 = "".join(map(chr, range(256)))


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 4095, 4096, 4097, 1 << 16])
def test_protocol_2_bytes_load_through_the_fused_encode(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    obj = [bytes(range(256)) * (size // 256) + b"\x00\xff\x80a" * ((size % 256) // 4), b"\xc3" * size, b"", b"z" * size]
    data = pickle.dumps(obj, 2)
    fused: list[object] = []

    def spy(engine: Engine) -> None:
        fused.append(type(engine.stack[1][0]))
        _fast._encode_latin1(engine)

    monkeypatch.setitem(_fast._HANDLERS, _fastcheck.C_LATIN1, spy)
    result = try_loads(data, DEFAULT, LIMITS)
    assert result == obj and all(type(b) is bytes for b in result)
    # text of 32 bytes and more is never made (b"" is pickled as bytes())
    assert fused == [bytes if len(b.decode("latin1").encode()) >= 32 else str for b in obj if b]


@pytest.mark.parametrize(
    "data",
    [
        stop(_encode("a" * 40) + b"h\x01\x86", 2),  # the text's memo slot, read later
        stop(_encode("a" * 40) + b"h\x03\x86", 2),  # the argument tuple's, read later
        stop(_encode("b" * 40, text_put=b"q\x01q\x04") + b"h\x04\x86", 2),  # put twice: not fused
        stop(_encode("\u20ac" * 20), 2),  # a character outside latin-1
        stop(_encode("\udcff" * 20), 2),  # a lone surrogate
        stop(g("_codecs", "encode") + u("c" * 40) + u("latin-1") + b"\x86R", 2),  # another spelling
        stop(_encode("d" * 40) + b"h\x00" + u("e" * 40) + b"h\x02\x86R\x86", 2),  # from the memo
        stop(g("_codecs", "encode") + u("f" * 40) + b"2" + u("latin1") + b"\x86R\x86", 2),  # DUP
    ],
    ids=["text slot", "tuple slot", "put twice", "euro", "surrogate", "latin-1", "memo", "dup"],
)
def test_the_fused_encode_agrees_with_the_strict_engine(data: bytes) -> None:
    _agree(data, "default")
    _agree(data, "stdlib")


def test_the_fused_encode_never_lends_out_the_changed_slots() -> None:
    # the pickle reads the text and the tuple back: the fast path declines, and the
    # strict engine gives them as the pickle says (the text a str, not the bytes)
    data = stop(_encode("a" * 40) + b"h\x01h\x03\x87", 2)
    assert try_loads(data, DEFAULT, LIMITS) is MISS
    assert picklefence.loads(data) == (b"a" * 40, "a" * 40, ("a" * 40, "latin1")) == pickle.loads(data)


@pytest.mark.parametrize(
    ("signature", "fused"),
    [
        (None, True),
        ({"args": [{"type": ["str"]}, {"value": ["latin1"]}]}, True),
        ({"args": [{}, {"value": ["latin1", "ascii"]}]}, True),
        ({"args": [{"type": ["str", "bytes"]}], "varargs": {"type": ["str"]}}, True),
        ({"args": [{"type": ["str"], "max_len": 8}, {"value": ["latin1"]}]}, False),
        ({"args": [{"type": ["str"], "pattern": "[a-z]*"}, {"value": ["latin1"]}]}, False),
        ({"args": [{"type": ["str"]}, {"value": ["latin-1"]}]}, False),
        ({"args": [{"type": ["bytes"]}, {"value": ["latin1"]}]}, False),
        ({"args": [{"type": ["str"]}]}, False),
    ],
)
def test_the_fused_encode_holds_to_the_policy(signature: dict[str, Any] | None, fused: bool) -> None:
    rule = '[allow."_codecs:encode"]\ncan = ["call"]\n'
    if signature is not None:
        rule += f"signatures = [{_toml_inline(signature)}]\n"
    policy = picklefence.Policy.from_toml(rule)
    data = stop(_encode("a" * 40) + _encode("b"), 2)
    assert (try_loads(data, policy, LIMITS) is not MISS) is fused
    _agree(data, policy)


def _toml_inline(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_inline(v) for v in value) + "]"
    return repr(value).replace("'", '"')


def test_fused_encodes_count_as_calls() -> None:
    data = pickle.dumps([b"x" * 40, b"y"], 2)
    _agree(data, "default", Limits(max_calls=1))
    with pytest.raises(picklefence.LimitExceededError):
        picklefence.loads(data, limits=Limits(max_calls=1))
    assert picklefence.loads(data, limits=Limits(max_calls=2)) == [b"x" * 40, b"y"]


def test_fused_encodes_are_charged_to_the_amplification_budget() -> None:
    data = pickle.dumps([b"x" * 40, b"y" * 40], 2)
    tight = Limits(max_amplification=0, amplification_floor=50)
    _agree(data, "default", tight)
    with pytest.raises(picklefence.LimitExceededError) as caught:
        picklefence.loads(data, limits=tight)
    assert caught.value.limit == "max_amplification"
    assert picklefence.loads(data, limits=Limits(max_amplification=0, amplification_floor=200)) == [
        b"x" * 40,
        b"y" * 40,
    ]


@given(
    st.one_of(
        st.text(st.characters(max_codepoint=0x1FF), min_size=16).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.binary(min_size=32),
        st.lists(
            st.sampled_from([b"a", b"\xc2\x80", b"\xc3\xbf", b"\xc3", b"\x80", b"\xc4\x80", b"\xed\xa0\x80"]),
            min_size=32,
        ).map(b"".join),
    )
)
def test_the_fused_encode_decodes_any_text_as_pickle_does(raw: bytes) -> None:
    _decodes_as_pickle_does(raw)


def _decodes_as_pickle_does(raw: bytes) -> None:
    """With SSSE3 shuffles (where the machine has them) and with the plain packing."""
    data = stop(g("_codecs", "encode") + b"X" + len(raw).to_bytes(4, "little") + raw + u("latin1") + b"\x86R", 2)
    try:
        expected: object = pickle.loads(data)
    except UnicodeError:
        expected = MISS
    for shuffle in (True, False):
        previous = _fastcheck.use_shuffle(shuffle)
        try:
            assert try_loads(data, DEFAULT, LIMITS) == expected, shuffle
        finally:
            _fastcheck.use_shuffle(previous)


@pytest.mark.parametrize("at", [0, 1, 2, 15, 16, 17, 31, 32, 33, 4095, 4096, 8190, 8191])
@pytest.mark.parametrize("bad", [b"\x80", b"\xc4", b"\xc0", b"\xff", b"\xc3"])
def test_one_wrong_byte_anywhere_in_long_text_declines(at: int, bad: bytes) -> None:
    raw = bytearray(_ALL_LATIN1.encode() * 22)[:8192]  # valid UTF-8 of latin-1 text, 16-byte blocks and a tail
    raw[at : at + 1] = bad
    _decodes_as_pickle_does(bytes(raw))


# -- the verifier's structure -----------------------------------------------------------


def test_the_opcode_table_matches_pickletools() -> None:
    import pickletools

    ours = {code: row for code, *row in _fastcheck.OPCODES}
    assert sorted(ours) == sorted(ord(op.code.encode("latin-1")) for op in pickletools.opcodes)
    for op in pickletools.opcodes:
        name, arg, pops, pushes, flags = ours[ord(op.code.encode("latin-1"))]
        before = [s for s in op.stack_before if s is not pickletools.stackslice]
        marks = sum(s is pickletools.markobject for s in before)
        assert name == op.name
        assert arg == (op.arg.n if op.arg is not None else 0), name
        assert bool(flags & _fastcheck.MARKED) == (marks == 1), name
        assert pops == len(before) - marks, name
        if flags & _fastcheck.PUSHES_MARK:
            assert op.stack_after == [pickletools.markobject]
        else:
            assert pushes == len(op.stack_after), name


def test_the_verifier_runs_no_opcode_that_decides_or_reads_text() -> None:
    runs = {name for _, name, _, _, _, flags in _fastcheck.OPCODES if flags & _fastcheck.RUNS}
    never = {"INST", "OBJ", "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID", "NEXT_BUFFER", "READONLY_BUFFER"}
    text = {"INT", "LONG", "FLOAT", "STRING", "UNICODE", "GET", "PUT", "BINSTRING", "SHORT_BINSTRING"}
    assert not runs & (never | text)


def test_the_handlers_cover_every_compiled_operation() -> None:
    codes = {getattr(_fastcheck, name) for name in dir(_fastcheck) if name.startswith("C_")}
    assert set(_fast._HANDLERS) == codes


@pytest.mark.parametrize("protocol", [2, 5])
def test_a_large_program_is_compiled_in_frames_as_it_is_read(protocol: int) -> None:
    obj = [collections.OrderedDict(a=i) for i in range(20_000)]
    data = pickle.dumps(obj, protocol)
    program = _fastcheck.Program(data, 1 << 32, 1 << 30, 1 << 10, 1 << 30)
    sizes = []
    while program.end < 0:
        assert program.read(1) == b"\x95"
        size = int.from_bytes(program.read(8), "little")
        assert size <= _fastcheck.CHUNK + 512 + 64  # (a FRAME ends after the opcodes walked past CHUNK)
        sizes.append(len(program.read(size)))
    assert program.end == len(data) and len(sizes) > 4
    assert try_loads(data, picklefence.Policy.named("stdlib"), LIMITS) == obj


_SETTINGS = (1 << 20, 1 << 30, 1 << 10, 1 << 20)


def _compiled(program: Any) -> tuple[bytes, list[Any]]:
    """A one-FRAME program as the C unpickler reads it: its bytes, then its buffers (or
    the error of one that is not what it claims, such as text outside latin-1)."""
    code = b""
    while chunk := program.read(1 << 20):
        code += chunk
    buffers: list[Any] = []
    while True:
        try:
            buffers.append(next(program))
        except StopIteration:
            return code, buffers
        except ValueError as exc:
            buffers.append(repr(exc))


def _prepares_as_verify_and_program(data: bytes) -> None:
    end, proto, plain, program = _fastcheck.prepare(data, *_SETTINGS)
    v_end, v_proto, v_plain = _fastcheck.verify(data, *_SETTINGS)
    assert end == v_end and (end < 0 or (proto, plain) == (v_proto, v_plain))
    assert (program is not None) == (end >= 0 and not plain and len(data) <= _fastcheck.CHUNK)
    if program is not None:
        assert program.end == end
        assert _compiled(program) == _compiled(_fastcheck.Program(data, *_SETTINGS))
    for other in (bytearray(data), memoryview(data)):  # (may change under the load: compiled lazily)
        assert _fastcheck.prepare(other, *_SETTINGS) == (v_end, v_proto, v_plain, None)


@given(mutated_objects())
def test_prepare_verifies_as_verify_and_compiles_as_program(data: bytes) -> None:
    _prepares_as_verify_and_program(data)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_prepare_agrees_with_verify_on_the_hostile_table(case: Any) -> None:
    _prepares_as_verify_and_program(case.data)


def test_prepare_compiles_lazily_past_one_frame() -> None:
    small = pickle.dumps([collections.OrderedDict(a=i) for i in range(100)], 5)
    large = pickle.dumps([collections.OrderedDict(a=i) for i in range(20_000)], 5)
    assert len(small) < _fastcheck.CHUNK < len(large)
    assert _fastcheck.prepare(small, *_SETTINGS)[3] is not None
    assert _fastcheck.prepare(large, *_SETTINGS) == (*_fastcheck.verify(large, *_SETTINGS), None)
    assert try_loads(small, picklefence.Policy.named("stdlib"), LIMITS) == pickle.loads(small)


def test_a_memo_index_past_the_input_declines() -> None:
    # a 9-byte pickle made the C unpickler's memo table 2**24 slots (256 MB)
    assert try_loads(b"\x80\x02K\x01r\xff\xff\xff\x00.", DEFAULT, LIMITS) is MISS
    assert try_loads(b"\x80\x02K\x01q\x07.", DEFAULT, LIMITS) is MISS  # 7 bytes: slots 0-6
    assert try_loads(b"\x80\x02K\x01q\x06.", DEFAULT, LIMITS) == 1
    assert picklefence.loads(b"\x80\x02K\x01r\xff\xff\xff\x00.") == 1


def test_a_program_never_hands_over_bytes_it_did_not_verify() -> None:
    """A mapped file may change under the load: each FRAME is verified as compiled,
    from its own copy of the input."""
    data = bytearray(pickle.dumps(list(range(100_000)), 4))
    program = _fastcheck.Program(data, 1 << 32, 1 << 30, 1 << 10, 1 << 30)
    assert program.read(1) == b"\x95"
    program.read(int.from_bytes(program.read(8), "little"))
    data[4 * _fastcheck.CHUNK :] = b"R" * (len(data) - 4 * _fastcheck.CHUNK)  # REDUCEs with nothing to call
    with pytest.raises(ValueError, match="not the pickle that was verified"):
        while program.end < 0:
            program.read(int.from_bytes(program.read(8)[:8], "little") if program.read(1) else 0)


# -- the mapped file path: load(f) agrees with the strict engine, and leaves f after STOP


@pytest.fixture
def mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every regular file is mapped (not first read in part)."""
    from picklefence import _unpickler

    monkeypatch.setattr(_unpickler, "_FIRST_READ", 0)


def _agree_from_file(data: bytes, policy: Any = "default", limits: Limits | None = None) -> None:
    import tempfile

    with tempfile.TemporaryFile() as f:
        f.write(b"x" + data + b"tail")
        outcomes = []
        for load in (picklefence.load, lambda f, **kw: picklefence.Unpickler(f, **kw).load()):
            f.seek(1)
            outcome = _outcome(lambda load=load: load(f, policy=policy, limits=limits))  # type: ignore[misc]
            outcomes.append((outcome, f.tell() if outcome[0] == "value" else None))
        (fast, fast_at), (strict, strict_at) = outcomes
        assert fast_at == strict_at
        if fast[0] == strict[0] == "value":
            assert fast[1][0] == strict[1][0] or fast[1][1] == strict[1][1]
        else:
            assert fast == strict


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_table_agrees_from_a_mapped_file(case: Any, mapped: None) -> None:
    _agree_from_file(case.data, case.policy, case.limits)


@given(values, st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_stdlib_values_agree_from_a_mapped_file(obj: object, protocol: int) -> None:
    from picklefence import _unpickler

    first_read, _unpickler._FIRST_READ = _unpickler._FIRST_READ, 0  # (a fixture is not reset between examples)
    try:
        _agree_from_file(pickle.dumps(obj, protocol), "stdlib")
    finally:
        _unpickler._FIRST_READ = first_read


@given(mutated_objects())
def test_mutated_object_pickles_agree_from_a_mapped_file(data: bytes) -> None:
    from picklefence import _unpickler

    first_read, _unpickler._FIRST_READ = _unpickler._FIRST_READ, 0
    try:
        _agree_from_file(data, "stdlib", Limits(max_string_bytes=1 << 20, max_memo_index=1 << 20))
    finally:
        _unpickler._FIRST_READ = first_read


# SETITEM(S) on an object whose class the engine already let have items in this load
# runs in C (_calls.c): the engine's handler sees only the first of each class, and
# every decision it makes is still made, on the same objects.
class Picky(dict):  # type: ignore[type-arg]
    """A mapping whose own __setitem__ refuses a key (a library's validation)."""

    def __setitem__(self, key: object, value: object) -> None:
        if key == "bad":
            raise ValueError("no bad keys")
        super().__setitem__(key, value)


SHARED = collections.OrderedDict(kept=1)  # a module-level object: a global, never changed
_ITEMS_POLICY = picklefence.Policy.from_toml(
    f'[allow."collections:OrderedDict"]\n[allow."{__name__}:Picky"]\n[allow."{__name__}:SHARED"]\ncan = ["reference"]\n'
)


def _made(cls: str, items: bytes, op: bytes = b"u") -> bytes:
    """``cls()`` by REDUCE, then ``items`` (keys and values) by SETITEMS (or SETITEM)."""
    return g(__name__ if cls == "Picky" else "collections", cls) + b")R" + (b"(" if op == b"u" else b"") + items + op


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The codes of the compiled operations the engine's handlers run."""
    seen: list[int] = []
    for code in (_fastcheck.C_SETITEM, _fastcheck.C_SETITEMS):
        original = _fast._HANDLERS[code]

        def spy(engine: Engine, code: int = code, original: Any = original) -> None:
            seen.append(code)
            original(engine)

        monkeypatch.setitem(_fast._HANDLERS, code, spy)
    return seen


@pytest.mark.parametrize("protocol", [2, 5])
def test_item_targets_of_a_class_the_engine_let_have_items_are_set_in_c(protocol: int, handled: list[int]) -> None:
    objs = [collections.OrderedDict(a=i, b=str(i)) for i in range(50)] + [collections.OrderedDict(only=1)]
    data = pickle.dumps(objs, protocol)
    assert try_loads(data, _ITEMS_POLICY, LIMITS) == objs
    assert handled == [_fastcheck.C_SETITEMS]  # the first: the engine decides, and keeps the answer
    _agree(data, _ITEMS_POLICY)


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        # a global of a class already let have items: still never changed
        (_made("OrderedDict", u("a") + i(1)) + g(__name__, "SHARED") + b"(" + u("b") + i(2) + b"u", "SHARED"),
        (_made("OrderedDict", u("a") + i(1)) + g(__name__, "SHARED") + u("b") + i(2) + b"s", "SHARED"),
    ],
    ids=["SETITEMS", "SETITEM"],
)
def test_items_on_a_global_are_refused_after_its_class_was_let_have_items(body: bytes, refused: str) -> None:
    data = stop(body + b"\x86", 2)
    for load in (picklefence.loads, lambda d, **kw: picklefence.Unpickler(io.BytesIO(d), **kw).load()):
        with pytest.raises(picklefence.PolicyViolation) as caught:
            load(data, policy=_ITEMS_POLICY)
        assert (caught.value.module, caught.value.qualname, caught.value.capability) == (__name__, refused, "items")
    assert collections.OrderedDict(kept=1) == SHARED
    _agree(data, _ITEMS_POLICY)


@pytest.mark.parametrize(
    "body",
    [
        _made("Picky", u("a") + i(1)) + _made("Picky", u("b") + i(2) + u("bad") + i(3)),  # the second's raises
        _made("Picky", u("a") + i(1)) + _made("Picky", u("bad") + i(3), b"s"),
        _made("Picky", u("a") + i(1)) + _made("Picky", u("b") + i(2) + u("c")),  # an odd number of items
        _made("Picky", u("a") + i(1)) + _made("Picky", b""),  # none
    ],
    ids=["raises", "raises-SETITEM", "odd", "empty"],
)
def test_known_item_targets_fail_as_in_the_engine(body: bytes) -> None:
    data = stop(body + b"\x86", 2)
    _agree(data, _ITEMS_POLICY)
    try:
        expected: object = pickle.loads(data)
    except Exception as exc:
        with pytest.raises(UnpicklingError) as caught:
            picklefence.loads(data, policy=_ITEMS_POLICY)
        if isinstance(exc, ValueError):
            assert isinstance(caught.value, picklefence.CallFailedError) and "no bad keys" in str(caught.value)
    else:
        assert picklefence.loads(data, policy=_ITEMS_POLICY) == expected
