"""numpy under the shipped policy (G8): forged states of every native-backed class are
refused at load, real objects load and behave as pickle's do.

The hostile rows run in subprocesses (tests/_state_rows.py); each is forged from a real
numpy object whose state is edited, and names the rule the refusal must name."""

from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any

import pytest

import picklefence
from picklefence import _checks
from picklefence._rules import CallInfo
from picklefence.limits import Limits

from ._state_rows import ENV, ROOT, Forged, Row, assert_refused, dumps, row_tests

np = pytest.importorskip("numpy")

import numpy.ma as ma  # noqa: E402
from numpy.random._pickle import __bit_generator_ctor, __generator_ctor, __randomstate_ctor  # noqa: E402

_reconstruct = np.empty(0).__reduce__()[0]  # numpy.core or numpy._core, as this numpy pickles

POLICY = "numpy"
MODULE = __name__


def _draw(obj: Any) -> object:
    """The ordinary use of a generator: draws (through its bit generator's C code)."""
    if isinstance(obj, np.random.SeedSequence):
        return obj.generate_state(8)
    if isinstance(obj, np.random.RandomState | np.random.Generator):
        return obj.random(64)
    return obj.random_raw(64)


def _with_state(bit_gen: Any, edit: Any) -> bytes:
    """A real bit generator pickled with its state edited after it was taken."""
    func, args, (state, seed_seq) = bit_gen.__reduce__()
    edit(state)
    return dumps(Forged(func, args, (state, seed_seq)))


def _pos(value: int) -> Any:
    return lambda state: state["state"].__setitem__("pos", value)


def mt_past_key() -> bytes:
    return _with_state(np.random.MT19937(1), _pos(700))


def mt_far_past_key() -> bytes:
    return _with_state(np.random.MT19937(1), _pos(10**9))


def mt_negative() -> bytes:
    return _with_state(np.random.MT19937(1), _pos(-5))


def mt_short_key() -> bytes:
    return _with_state(np.random.MT19937(1), lambda s: s["state"].__setitem__("key", s["state"]["key"][:10]))


def philox_past_buffer() -> bytes:
    return _with_state(np.random.Philox(1), lambda s: s.__setitem__("buffer_pos", 5))


def philox_far_before_buffer() -> bytes:
    return _with_state(np.random.Philox(1), lambda s: s.__setitem__("buffer_pos", -(10**8)))


def philox_negative() -> bytes:
    return _with_state(np.random.Philox(1), lambda s: s.__setitem__("buffer_pos", -3))


def pcg64_flag() -> bytes:
    return _with_state(np.random.PCG64(1), lambda s: s.__setitem__("has_uint32", 7))


def pcg64dxsm_flag() -> bytes:
    return _with_state(np.random.PCG64DXSM(1), lambda s: s.__setitem__("has_uint32", -1))


def sfc64_flag() -> bytes:
    return _with_state(np.random.SFC64(1), lambda s: s.__setitem__("has_uint32", 2))


def philox_seed_seq() -> bytes:
    func, args, (state, _seed_seq) = np.random.Philox(1).__reduce__()
    return dumps(Forged(func, args, (state, np.random.MT19937(2))))


def _legacy(ctor: Any, name: str, state: Any) -> bytes:
    """The ``(name, ctor)`` form: the wrapper makes its bit generator itself."""
    return dumps(Forged(ctor, (name, __bit_generator_ctor), state))


def random_state_legacy_pos() -> bytes:
    state = np.random.RandomState(1).get_state(legacy=False)
    state["state"]["pos"] = 10**8
    return _legacy(__randomstate_ctor, "MT19937", state)


def random_state_legacy_tuple() -> bytes:
    """``set_state``'s legacy tuple (what ``get_state()`` returns) takes the position as given."""
    name, key, _pos, has_gauss, gauss = np.random.RandomState(1).get_state()
    return _legacy(__randomstate_ctor, "MT19937", (name, key, 10**7, has_gauss, gauss))


def random_state_gauss_flag() -> bytes:
    state = np.random.RandomState(1).get_state(legacy=False)
    state["has_gauss"] = 9
    return _legacy(__randomstate_ctor, "MT19937", state)


def random_state_wrapped_pos() -> bytes:
    """The current form: the bit generator is its own object of the load."""
    rs = np.random.RandomState(np.random.MT19937(1))
    func, args, state = rs.__reduce__()
    state["state"]["pos"] = 5000
    return dumps(Forged(func, args, state))


def generator_legacy_philox() -> bytes:
    state = np.random.Generator(np.random.Philox(1)).bit_generator.state
    state["buffer_pos"] = -(10**9)
    return _legacy(__generator_ctor, "Philox", state)


def generator_wrapped_mt() -> bytes:
    gen = np.random.Generator(np.random.MT19937(1))
    func, args, _none = gen.__reduce__()
    state = gen.bit_generator.state
    state["state"]["pos"] = 10**6
    return dumps(Forged(func, args, state))


def _seed_state(edit: Any) -> bytes:
    func, args, state = np.random.SeedSequence(3).__reduce__()
    return dumps(Forged(func, args, edit(list(state))))


def seed_pool_size() -> bytes:
    return _seed_state(lambda s: (*s[:3], 10**9, s[4]))


def seed_short_pool() -> bytes:
    return _seed_state(lambda s: (s[0], s[1], s[2][:1], s[3], s[4]))


def seed_float_pool() -> bytes:
    return _seed_state(lambda s: (s[0], s[1], s[2].astype(float), s[3], s[4]))


def seed_bad_spawn_key() -> bytes:
    return _seed_state(lambda s: (*s[:4], (-1,)))


def seed_uninitialised() -> bytes:
    func, (cls, checksum, _none), _state = np.random.SeedSequence(3).__reduce__()
    return dumps(Forged(func, (cls, checksum, None)))


# -- arrays, dtypes, scalars: state and argument checks (capability "state" / "call")


def _array_state(arr: np.ndarray[Any, Any], edit: Any) -> bytes:
    func, args, state = arr.__reduce__()
    return dumps(Forged(func, args, edit(state)))


def ndarray_short_data() -> bytes:
    return _array_state(np.arange(10), lambda s: (*s[:4], s[4][:8]))


def ndarray_object_shape() -> bytes:
    return _array_state(np.array([None, None], dtype=object), lambda s: (s[0], (10**6,), *s[2:]))


def recarray_short_data() -> bytes:
    rec = np.rec.fromrecords([(1, 2.0)], names="a,b")
    return _array_state(rec, lambda s: (*s[:4], s[4][:4]))


def masked_short_mask() -> bytes:
    func, args, state = ma.masked_array([1, 2, 3], [0, 1, 0]).__reduce__()
    return dumps(Forged(func, args, (*state[:5], state[5][:1], state[6])))


def masked_huge_base() -> bytes:
    func, args, state = ma.masked_array([1, 2, 3]).__reduce__()
    return dumps(Forged(func, (*args[:2], (-1,), args[3]), state))


def dtype_forged_layout() -> bytes:
    dtype = np.dtype([("a", "<i4"), ("b", "<f8")])
    func, args, state = dtype.__reduce__()
    fields = dict(state[4])
    fields["b"] = (np.dtype("<f8"), 10**6)
    return dumps(Forged(func, args, (*state[:4], fields, *state[5:])))


def scalar_short_data() -> bytes:
    func, (dtype, data) = np.float64(1.5).__reduce__()
    return dumps(Forged(func, (dtype, data[:3])))


def frombuffer_short() -> bytes:
    arr = np.arange(4)
    func, args = arr.__reduce_ex__(5)[:2]
    buffer = pickle.PickleBuffer(b"\x00" * 8)
    return pickle.dumps(Forged(func, (buffer, *args[1:])), protocol=5)


_MT = "numpy.random._mt19937:MT19937"
_PHILOX = "numpy.random._philox:Philox"
_RS = "numpy.random.mtrand:RandomState"
_GEN = "numpy.random._generator:Generator"

ROWS: list[Row] = [
    Row("mt19937-pos-past-key", mt_past_key, _MT, "position 700", use=_draw),
    Row("mt19937-pos-far", mt_far_past_key, _MT, "past its 624", use=_draw, control="crash"),
    Row("mt19937-pos-negative", mt_negative, _MT, "position -5", use=_draw),
    Row("mt19937-short-key", mt_short_key, "", "IndexError", use=_draw, error="CallFailedError[IndexError]"),
    Row("philox-pos-past", philox_past_buffer, _PHILOX, "buffer position 5", use=_draw),
    Row("philox-pos-far", philox_far_before_buffer, _PHILOX, "outside", use=_draw, control="crash"),
    Row("philox-pos-negative", philox_negative, _PHILOX, "buffer position -3", use=_draw),
    Row("philox-seed-seq", philox_seed_seq, _PHILOX, "not a SeedSequence", use=_draw),
    Row("pcg64-flag", pcg64_flag, "numpy.random._pcg64:PCG64", "has_uint32 7", use=_draw),
    Row("pcg64dxsm-flag", pcg64dxsm_flag, "numpy.random._pcg64:PCG64DXSM", "has_uint32", use=_draw),
    Row("sfc64-flag", sfc64_flag, "numpy.random._sfc64:SFC64", "has_uint32 2", use=_draw),
    Row(
        "randomstate-legacy-pos",
        random_state_legacy_pos,
        "numpy.random.mtrand:RandomState",
        "position 100000000",
        use=_draw,
        control="crash",
    ),
    Row("randomstate-tuple", random_state_legacy_tuple, _RS, "position 10000000", use=_draw, control="crash"),
    Row("randomstate-gauss", random_state_gauss_flag, "numpy.random.mtrand:RandomState", "has_gauss 9", use=_draw),
    Row("randomstate-wrapped", random_state_wrapped_pos, _MT, "position 5000", use=_draw),
    Row(
        "generator-legacy-philox",
        generator_legacy_philox,
        "numpy.random._generator:Generator",
        "buffer position -1000000000",
        use=_draw,
        control="crash",
    ),
    Row("generator-wrapped-mt", generator_wrapped_mt, _MT, "position 1000000", use=_draw),
    Row("seedseq-pool-size", seed_pool_size, "numpy.random.bit_generator:SeedSequence", "pool size", use=_draw),
    Row("seedseq-short-pool", seed_short_pool, "numpy.random.bit_generator:SeedSequence", "not 4 uint32", use=_draw),
    Row("seedseq-float-pool", seed_float_pool, "numpy.random.bit_generator:SeedSequence", "uint32", use=_draw),
    Row("seedseq-spawn-key", seed_bad_spawn_key, "numpy.random.bit_generator:SeedSequence", "spawn key", use=_draw),
    Row("seedseq-no-state", seed_uninitialised, "numpy.random.bit_generator:SeedSequence", "pool size 0", use=_draw),
    Row("ndarray-short-data", ndarray_short_data, "numpy:ndarray", "", "state"),
    Row("ndarray-object-shape", ndarray_object_shape, "numpy:ndarray", "", "state"),
    Row("recarray-short-data", recarray_short_data, "numpy.rec:recarray", "", "state"),
    Row("maskedarray-short-mask", masked_short_mask, "numpy.ma:MaskedArray", "", "state"),
    Row("mareconstruct-negative-shape", masked_huge_base, "numpy.ma.core:_mareconstruct", "", "arguments"),
    Row("dtype-forged-offset", dtype_forged_layout, "numpy.dtypes:VoidDType", "", "state"),
    Row("scalar-short-data", scalar_short_data, "numpy._core.multiarray:scalar", "", "arguments"),
    Row("frombuffer-short", frombuffer_short, "numpy._core.numeric:_frombuffer", "", "arguments"),
]


def _numpy_checks_positions() -> bool:
    """Whether this numpy's bit generators refuse a position outside their buffer in
    their own ``__setstate__`` (numpy 2.5 does; earlier ones trust it)."""
    generator = np.random.MT19937(0)
    state = generator.state
    state["state"]["pos"] = 10**6
    try:
        generator.state = state
    except ValueError:
        return True
    return False


#: Where numpy itself refuses the forged position during the load, the row is refused by
#: numpy's own check (a CallFailedError from its __setstate__) before our validator runs.
NUMPY_CHECKS_POSITIONS = _numpy_checks_positions()


def _refused_by_numpy(row: Row, outcome: dict[str, Any]) -> bool:
    return (
        NUMPY_CHECKS_POSITIONS
        and outcome["error"] == "CallFailedError[ValueError]"
        and ".__setstate__(...) raised ValueError" in outcome["message"]
        and row.error == "PolicyViolation"
    )


def _assert_refused(row: Row, outcome: dict[str, Any]) -> None:
    if not _refused_by_numpy(row, outcome):  # else refused at load all the same, by numpy's own check
        assert_refused(row, outcome)


def _numpy_breaks_no_position(row: Row) -> str | None:
    if NUMPY_CHECKS_POSITIONS and row.error == "PolicyViolation" and row.name in (_MT, _PHILOX, _RS, _GEN):
        return "this numpy refuses a forged position itself, so plain pickle does not break"
    return None


_outcomes, test_forged_state_is_refused_naming_the_class, test_control_plain_pickle_really_breaks = row_tests(
    MODULE, refused=_assert_refused, skip_control=_numpy_breaks_no_position
)


# -- real objects: identical behaviour ------------------------------------------------------

GENERATORS = [
    np.random.MT19937(1),
    np.random.PCG64(2),
    np.random.PCG64DXSM(3),
    np.random.Philox(4),
    np.random.SFC64(5),
    np.random.default_rng(6),
    np.random.Generator(np.random.Philox(7)),
    np.random.RandomState(8),
    np.random.RandomState(np.random.SFC64(9)),
]


@pytest.mark.parametrize("proto", [2, 4, 5])
@pytest.mark.parametrize("gen", GENERATORS, ids=lambda g: type(g).__name__)
def test_real_generators_draw_what_pickle_draws(gen: Any, proto: int) -> None:
    _draw(gen)  # past the start: cached words and positions mid-buffer
    if isinstance(gen, np.random.Generator | np.random.RandomState):
        gen.standard_normal(3)
    data = pickle.dumps(gen, proto)
    ours, theirs = picklefence.loads(data, policy=POLICY), pickle.loads(data)
    assert type(ours) is type(theirs)
    assert np.array_equal(_draw(ours), _draw(theirs))


@pytest.mark.parametrize(
    "seq",
    [
        np.random.SeedSequence(12345, spawn_key=(1, 2)),
        np.random.SeedSequence(np.int64(3), spawn_key=(np.uint32(4),)),  # numpy ints, as sklearn makes them
        np.random.SeedSequence([1, 2**70, 3]),
        np.random.SeedSequence(np.arange(5, dtype=np.uint64)),
        np.random.SeedSequence(),
    ],
)
def test_real_seed_sequence_spawns_what_pickle_spawns(seq: np.random.SeedSequence) -> None:
    seq.spawn(3)
    data = pickle.dumps(seq, 4)
    ours, theirs = picklefence.loads(data, policy=POLICY), pickle.loads(data)
    assert np.array_equal(ours.generate_state(8), theirs.generate_state(8))
    assert [s.spawn_key for s in ours.spawn(2)] == [s.spawn_key for s in theirs.spawn(2)]


@pytest.mark.parametrize("proto", range(6))
def test_real_masked_arrays_load_unchanged(proto: int) -> None:
    arr = ma.masked_array(np.arange(6.0).reshape(2, 3), mask=[[0, 1, 0], [1, 0, 0]], fill_value=-1.0)
    loaded = picklefence.loads(pickle.dumps(arr, proto), policy=POLICY)
    assert ma.allequal(loaded, arr) and np.array_equal(loaded.mask, arr.mask) and loaded.fill_value == -1.0


# -- the amplification budget ------------------------------------------------------------------


def _spent(check: str, *args: Any) -> tuple[bool, list[int]]:
    charged: list[int] = []
    names = {id(np.ndarray): "numpy:ndarray", id(ma.MaskedArray): "numpy.ma:MaskedArray"}
    call = CallInfo("x:y", args, {}, lambda o: names.get(id(o)), lambda o, c: True, charged.append)
    return _checks.CHECKS[check](call), charged


def test_mareconstruct_charges_the_data_and_mask_it_allocates() -> None:
    assert _spent("numpy_mareconstruct", ma.MaskedArray, np.ndarray, (0,), "b") == (True, [0])
    assert _spent("numpy_mareconstruct", ma.MaskedArray, np.ndarray, (3 * 10**9,), "b") == (True, [6 * 10**9])
    assert _spent("numpy_mareconstruct", ma.MaskedArray, np.ndarray, (-1,), "b")[0] is False
    assert _spent("numpy_mareconstruct", ma.MaskedArray, np.ndarray, (1, 2), "b")[0] is False


def test_object_array_state_charges_every_slot_its_dtype_makes() -> None:
    """A dtype code "(50000000,)O" (short enough for the dtype rule) makes each element
    fifty million pointers: one None in the list is 400 MB."""
    empty = _reconstruct(np.ndarray, (0,), b"b")
    state = (1, (1,), np.dtype("(50000000,)O"), False, [None])
    assert _spent("numpy_ndarray_state", empty, state) == (True, [400_000_000])


def test_numeric_array_state_charges_its_bytes() -> None:
    """One bytes object can be the data of many arrays (memoised once)."""
    empty = _reconstruct(np.ndarray, (0,), b"b")
    assert _spent("numpy_ndarray_state", empty, (1, (4,), np.dtype("<i8"), False, b"\0" * 32)) == (True, [32])


_BOMBS = {
    "mareconstruct": lambda: dumps(Forged(ma.core._mareconstruct, (ma.MaskedArray, np.ndarray, (3 * 10**9,), "b"))),
    # the dtype by its code (a pickled dtype object would be refused: its BUILD adds object fields)
    "object-subarray": lambda: dumps(
        Forged(
            _reconstruct,
            (np.ndarray, (0,), b"b"),
            (1, (1,), Forged(np.dtype, ("(250000000,)O", False, True)), False, [None]),
        )
    ),
}


@pytest.mark.parametrize(("bomb", "nbytes"), [("mareconstruct", 6 * 10**9), ("object-subarray", 2 * 10**9)])
def test_a_real_load_charges_before_it_allocates(bomb: str, nbytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the engine (not a stand-in call): the charge comes before the allocation,
    so a budget that raises stops it."""

    class Charged(Exception):
        pass

    def spend(self: CallInfo, amount: int) -> None:
        raise Charged(amount)

    monkeypatch.setattr(CallInfo, "spend", spend)
    with pytest.raises(picklefence.UnpicklingError, match=f"Charged: {nbytes}"):
        picklefence.loads(_BOMBS[bomb](), policy=POLICY)


@pytest.mark.skipif(not hasattr(Limits(), "max_amplification"), reason="the budget's limits are the lead's part")
@pytest.mark.parametrize("bomb", sorted(_BOMBS))
def test_allocation_bombs_are_refused_within_2s_and_512mb(bomb: str) -> None:
    code = (
        "import resource, sys, time\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 29, 1 << 29))\n"
        "import picklefence, tests.test_validators_numpy as t\n"
        "data = t._BOMBS[sys.argv[1]]()\n"
        "start = time.perf_counter()\n"
        "try:\n    picklefence.loads(data, policy='numpy')\n"
        "except picklefence.LimitExceededError:\n    print('refused', time.perf_counter() - start)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, bomb],
        capture_output=True,
        text=True,
        timeout=60,
        env={**ENV, "OPENBLAS_NUM_THREADS": "1"},  # its per-thread buffers would count against the cap
        cwd=ROOT,
        check=False,
    )
    assert proc.stdout.startswith("refused"), proc.stderr[-500:]
    assert float(proc.stdout.split()[1]) < 2.0
