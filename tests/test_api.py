"""The loading API as a pickle user meets it: loads/load/Unpickler, errors, audit."""

from __future__ import annotations

import collections
import io
import pickle
import sys
from pathlib import Path

import pytest

import picklefence
from picklefence import (
    LimitExceededError,
    Limits,
    MalformedPickleError,
    Policy,
    PolicyViolation,
    TruncatedPickleError,
    Unpickler,
    UnpicklingError,
)

from .hostile import call, g, i, u


def test_errors_are_pickle_errors() -> None:
    assert issubclass(UnpicklingError, pickle.UnpicklingError)
    assert issubclass(TruncatedPickleError, EOFError)
    assert issubclass(picklefence.PicklingError, pickle.PicklingError)


def test_eof_loop_over_concatenated_pickles() -> None:
    stream = io.BytesIO()
    for obj in ([1, 2], {"a": b"b"}, "text", None):
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            pickle.dump(obj, stream, proto)
    stream.seek(0)
    loaded = []
    while True:
        try:
            loaded.append(picklefence.load(stream))
        except EOFError:
            break
    assert loaded == [o for o in ([1, 2], {"a": b"b"}, "text", None) for _ in range(pickle.HIGHEST_PROTOCOL + 1)]


def test_bad_literal_is_also_a_value_error() -> None:
    with pytest.raises(ValueError):
        picklefence.loads(b"I12JUNK\n.")
    with pytest.raises(UnpicklingError):
        picklefence.loads(b"I12JUNK\n.")


def test_bad_reduce_arguments_are_also_a_type_error() -> None:
    with pytest.raises(TypeError):
        picklefence.loads(g("builtins", "range") + b"NR.")


def test_never_a_bare_index_error() -> None:
    with pytest.raises(MalformedPickleError) as info:
        picklefence.loads(b"0")
    assert info.value.offset == 0 and info.value.opcode == "POP"


def test_policy_violation_carries_structured_data() -> None:
    data = b"\x80\x02" + call(g("os", "system"), u("true")) + b"."
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data)
    exc = info.value
    assert (exc.module, exc.qualname, exc.capability, exc.offset, exc.opcode) == (
        "os",
        "system",
        "reference",
        2,
        "GLOBAL",
    )
    assert "os" not in sys.modules or sys.modules["os"] is not None


def test_argument_refusal_names_the_call() -> None:
    data = call(g("builtins", "bytearray"), i(10**9)) + b"."
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(data)
    assert info.value.capability == "arguments"
    assert info.value.name == "builtins:bytearray"
    assert "builtins:bytearray(1000000000)" in str(info.value)


def test_limit_error_names_the_limit() -> None:
    with pytest.raises(LimitExceededError) as info:
        picklefence.loads(b"(" * 11 + b".", limits=Limits(max_mark_depth=10))
    assert info.value.limit == "max_mark_depth"
    assert info.value.value == 11


def test_limits_validate_their_values() -> None:
    with pytest.raises(ValueError):
        Limits(max_calls=-1)


def test_loads_accepts_bytes_like_but_not_str() -> None:
    data = pickle.dumps([1, 2])
    assert picklefence.loads(bytearray(data)) == [1, 2]
    assert picklefence.loads(memoryview(data)) == [1, 2]
    with pytest.raises(TypeError):
        picklefence.loads(data.decode("latin1"))  # type: ignore[arg-type]


def test_load_needs_a_file() -> None:
    with pytest.raises(TypeError, match="read"):
        picklefence.load(object())


def test_find_class_override_can_narrow_the_policy() -> None:
    class NoRanges(Unpickler):
        def find_class(self, module: str, name: str) -> object:
            if name == "range":
                raise picklefence.UnpicklingError("no ranges here")
            return super().find_class(module, name)

    assert NoRanges(io.BytesIO(pickle.dumps({1, 2}, 2))).load() == {1, 2}
    with pytest.raises(picklefence.UnpicklingError, match="no ranges here"):
        NoRanges(io.BytesIO(pickle.dumps(range(3)))).load()


def test_find_class_override_cannot_widen_the_policy() -> None:
    class Sneaky(Unpickler):
        def find_class(self, module: str, name: str) -> object:
            return eval

    with pytest.raises(PolicyViolation) as info:
        Sneaky(io.BytesIO(call(g("builtins", "range"), u("1+1")) + b".")).load()
    assert "may refuse a global but not replace it" in str(info.value)
    with pytest.raises(PolicyViolation) as info:  # not even a name the policy lacks
        Sneaky(io.BytesIO(call(g("builtins", "eval"), u("1+1")) + b".")).load()
    assert info.value.name == "builtins:eval"


def test_find_class_assigned_on_the_instance_is_checked_too() -> None:
    loader = Unpickler(io.BytesIO(pickle.dumps(range(3))))
    loader.find_class = lambda module, name: eval  # type: ignore[method-assign]
    with pytest.raises(PolicyViolation, match="not replace it"):
        loader.load()


def test_public_find_class_applies_the_policy() -> None:
    loader = Unpickler(io.BytesIO(b""))
    assert loader.find_class("__builtin__", "set") is set
    with pytest.raises(PolicyViolation):
        loader.find_class("os", "system")


def test_persistent_load_override() -> None:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            return obj if isinstance(obj, str) and obj.startswith("ref:") else None

    class Loader(Unpickler):
        def persistent_load(self, pid: object) -> object:
            return ("resolved", pid)

    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        stream = io.BytesIO()
        Pickler(stream, proto).dump(["ref:a", "plain"])
        stream.seek(0)
        assert Loader(stream).load() == [("resolved", "ref:a"), "plain"]


def test_persistent_load_assigned_on_the_instance() -> None:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            return "x" if obj == "secret" else None

    stream = io.BytesIO()
    Pickler(stream, 2).dump(["secret"])
    stream.seek(0)
    loader = Unpickler(stream)
    loader.persistent_load = lambda pid: f"<{pid}>"  # type: ignore[method-assign]
    assert loader.load() == ["<x>"]


def test_unpickler_memo_persists_across_loads_like_pickle() -> None:
    shared = [1, 2, 3]
    stream = io.BytesIO()
    pickler = pickle.Pickler(stream, 2)
    pickler.dump(shared)
    pickler.dump(shared)  # refers to the first pickle's memo
    stream.seek(0)
    loader = Unpickler(stream)
    first = loader.load()
    second = loader.load()
    assert first is second


def test_out_of_band_buffers() -> None:
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(
        [pickle.PickleBuffer(bytearray(b"abc")), pickle.PickleBuffer(b"xyz")], 5, buffer_callback=buffers.append
    )
    loaded = picklefence.loads(data, buffers=buffers)
    assert [bytes(b) for b in loaded] == [b"abc", b"xyz"]
    assert memoryview(loaded[1]).readonly
    with pytest.raises(MalformedPickleError, match="not enough out-of-band buffers"):
        picklefence.loads(data, buffers=buffers[:1])


def test_python2_strings_with_encodings() -> None:
    assert picklefence.loads(b"U\x03a\x00\xa0.", encoding="bytes") == b"a\x00\xa0"
    assert picklefence.loads(b"U\x03a\x00\xa0.", encoding="latin1") == "a\x00\xa0"
    with pytest.raises(ValueError):
        picklefence.loads(b"U\x03a\x00\xa0.")  # ASCII cannot decode it


def test_python2_set_and_xrange_under_default() -> None:
    assert picklefence.loads(b"c__builtin__\nset\np0\n((lp1\nI1\naI2\natp2\nRp3\n.") == {1, 2}
    assert picklefence.loads(b"\x80\x02c__builtin__\nxrange\nK\x01K\x07K\x01\x87R.") == range(1, 7)


def test_fix_imports_false_keeps_python2_names() -> None:
    with pytest.raises(PolicyViolation) as info:
        picklefence.loads(b"\x80\x02c__builtin__\nset\n]\x85R.", fix_imports=False)
    assert info.value.module == "__builtin__"


def test_extension_codes_go_through_the_policy() -> None:
    import copyreg

    code = 0x7FFF_F00D
    copyreg.add_extension("os", "system", code)
    try:
        pickle.loads(b"\x84" + code.to_bytes(4, "little") + b".")  # fills copyreg._extension_cache
        assert copyreg._extension_cache[code] is not None  # type: ignore[attr-defined]
        with pytest.raises(PolicyViolation) as info:
            picklefence.loads(b"\x84" + code.to_bytes(4, "little") + b".")
        assert info.value.name == "os:system"
        allowed = Policy.named("default").allow("collections:OrderedDict")
        copyreg.remove_extension("os", "system", code)
        copyreg.add_extension("collections", "OrderedDict", code)
        import collections

        assert picklefence.loads(b"\x84" + code.to_bytes(4, "little") + b".", policy=allowed) is collections.OrderedDict
    finally:
        copyreg.remove_extension(*copyreg._inverted_registry[code], code)  # type: ignore[attr-defined]


def test_audit_lists_globals_without_importing() -> None:
    data = (
        b"\x80\x02"
        + call(g("this_module_does_not_exist", "boom"), u("x"))
        + call(g("builtins", "range"), i(1), i(2), i(1))
        + b"\x86."
    )
    report = picklefence.audit(data)
    assert not report.safe
    uses = {use.name: use for use in report.globals}
    assert uses["this_module_does_not_exist:boom"].uses == {"reference", "call"}
    assert uses["this_module_does_not_exist:boom"].refused == {"reference", "call"}
    assert uses["builtins:range"].allowed
    assert report.first_refusal == 2
    assert "this_module_does_not_exist" not in sys.modules


def test_audit_reports_safe_pickles_and_malformed_ones() -> None:
    import datetime

    safe = picklefence.audit(pickle.dumps({"when": datetime.date(2020, 1, 1)}, 4), policy="stdlib")
    assert safe.safe and safe.error is None
    assert [use.name for use in safe.globals] == ["datetime:date"]
    broken = picklefence.audit(b"\x80\x04\x95" + (4).to_bytes(8, "little") + b"C\x08abcdefgh.")
    assert isinstance(broken.error, MalformedPickleError)
    assert not broken.safe


def test_audit_flags_build_on_a_global() -> None:
    report = picklefence.audit(g("fractions", "Fraction") + b"}" + u("x") + i(1) + b"sb.", policy="stdlib")
    assert report.problems and "change the global" in report.problems[0]


def test_audit_reads_files_and_counts_capabilities() -> None:
    import argparse

    stream = io.BytesIO(pickle.dumps(argparse.Namespace(a=1), 2))
    report = picklefence.audit(stream, policy="stdlib")
    assert {u.name: u.uses for u in report.globals} == {"argparse:Namespace": {"reference", "construct", "state"}}
    assert report.safe


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_large_arguments_from_a_regular_file_load_whole(protocol: int, tmp_path: Path) -> None:
    obj = [b"x" * (3 << 20), bytearray(b"y" * (3 << 20)), "z" * (3 << 20), 1]
    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps(obj, protocol) + b"tail")
    with open(path, "rb") as f:
        assert picklefence.load(f) == obj
        assert f.read() == b"tail"
    with open(path, "rb", buffering=0) as f:  # a raw file: short reads are possible
        assert picklefence.load(f) == obj


@pytest.mark.parametrize("opcode", [b"\x96", b"\x8e", b"\x8d"])  # BYTEARRAY8, BINBYTES8, BINUNICODE8
def test_a_regular_file_shorter_than_a_length_prefix_is_truncated(opcode: bytes, tmp_path: Path) -> None:
    path = tmp_path / "short.pkl"
    path.write_bytes(b"\x80\x05" + opcode + (5 << 20).to_bytes(8, "little") + b"x" * (2 << 20))
    with open(path, "rb") as f, pytest.raises(picklefence.TruncatedPickleError):
        picklefence.load(f)


def test_load_reads_pickles_one_after_another_from_a_regular_file(tmp_path: Path) -> None:
    values = [{"n": i, "s": "x" * i} for i in range(0, 200_000, 20_000)]
    path = tmp_path / "many.pkl"
    with open(path, "wb") as f:
        for value in values:
            pickle.dump(value, f, 5)
        f.write(b"trailer")
    with open(path, "rb") as f:
        assert [picklefence.load(f) for _ in values] == values
        assert f.read() == b"trailer"


def test_load_leaves_a_regular_file_where_the_strict_engine_stopped_on_a_refusal(tmp_path: Path) -> None:
    path = tmp_path / "refused.pkl"
    path.write_bytes(pickle.dumps(collections.OrderedDict(a=1), 2) + b"rest")
    with open(path, "rb") as f:
        with pytest.raises(picklefence.PolicyViolation):
            picklefence.Unpickler(f).load()  # the strict engine alone
        expected = f.tell()
    with open(path, "rb") as f:
        with pytest.raises(picklefence.PolicyViolation):
            picklefence.load(f)  # the fast path first
        assert f.tell() == expected < len(path.read_bytes()) - 4
