"""Speed and memory properties that are behaviour: no cost carried from one call to the
next, no file-system call for a shipped policy name, no re-entry under patch()."""

from __future__ import annotations

import _pickle
import collections
import datetime
import functools
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import picklefence
from picklefence import Policy
from picklefence.policy import resolve_policy

_pickle_dumps = _pickle.dumps  # not the pickle module's names, which tests replace


def _best(fn: Callable[[], object], runs: int = 300) -> float:
    """The fastest of ``runs`` calls: what the call costs, without the machine's noise."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_a_small_dump_after_a_large_one_costs_what_it_did_before() -> None:
    small = {"a": 1, "b": "two"}
    for protocol in (2, 5):
        dump = functools.partial(picklefence.dumps, small, protocol)
        before = _best(dump)
        picklefence.dumps([[i] for i in range(300_000)], protocol)  # a 300k-entry memo
        after = _best(dump)
        assert after < 10 * before, (protocol, before, after)  # it was 1000x
        assert picklefence.dumps(small, protocol) == pickle.dumps(small, protocol)


def test_a_failed_dump_leaves_the_next_one_correct() -> None:
    class Local:
        pass

    with pytest.raises(picklefence.PicklingError):
        picklefence.dumps([[i] for i in range(1000)] + [Local()], 5)
    assert picklefence.dumps([[1], [1]], 5) == pickle.dumps([[1], [1]], 5)


def test_a_shipped_name_makes_no_file_system_call(monkeypatch: pytest.MonkeyPatch) -> None:
    picklefence.loads(pickle.dumps(1), policy="stdlib")  # resolved once

    def no_stat(*args: object, **kwargs: object) -> None:
        raise AssertionError("a file-system call for a shipped policy name")

    monkeypatch.setattr(os, "stat", no_stat)
    monkeypatch.setattr(os.path, "isfile", no_stat)
    assert picklefence.loads(pickle.dumps(1), policy="stdlib") == 1
    assert resolve_policy("stdlib") is Policy.named("stdlib")


def test_a_file_named_like_a_shipped_policy_is_reached_as_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stdlib").write_text('[allow."fractions:Fraction"]\n', encoding="utf-8")
    assert resolve_policy("stdlib") is Policy.named("stdlib")  # a planted file cannot replace it
    for spelled in ("./stdlib", tmp_path / "stdlib"):
        mine = resolve_policy(spelled)
        assert mine.rule("fractions", "Fraction") is not None
        assert mine.rule("datetime", "datetime") is None
    (tmp_path / "mine").write_text('[allow."fractions:Fraction"]\n', encoding="utf-8")
    assert resolve_policy("mine").rule("fractions", "Fraction") is not None  # not a shipped name


def test_an_unknown_name_says_which_are_shipped() -> None:
    with pytest.raises(ValueError, match=r"shipped: .*stdlib"):
        resolve_policy("nosuchpolicy")


def test_loads_never_goes_through_the_pickle_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """patch() replaces pickle.loads/load/Unpickler: a load that called them would
    re-enter itself (once per plain-data load, ~249 times per load it was measured)."""
    calls: list[str] = []
    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, lambda *a, _name=name, **k: calls.append(_name))
    assert picklefence.loads(_pickle_dumps({"a": [1, 2]})) == {"a": [1, 2]}
    stamp = datetime.datetime(2026, 12, 1)
    assert picklefence.loads(_pickle_dumps(stamp), policy="stdlib") == stamp
    assert calls == []


def test_a_load_under_patch_runs_once() -> None:
    data = pickle.dumps({"a": [1, 2], "b": datetime.date(2026, 1, 1)})
    with picklefence.patch(policy="stdlib"):
        assert pickle.loads(data) == {"a": [1, 2], "b": datetime.date(2026, 1, 1)}
        assert _best(lambda: pickle.loads(data), 50) < 200e-6  # re-entering: 4-9 ms


# -- load(f) of regular files: the fast path over a mapping -------------------------------


def test_a_large_file_loads_through_the_fast_path_and_is_left_after_stop(tmp_path: Path) -> None:
    table = {f"k{i}": i for i in range(40_000)}  # ~0.5 MB: longer than the first read
    path = tmp_path / "f.pkl"
    with open(path, "wb") as f:
        f.write(b"junk")
        for protocol in (2, 5):
            pickle.dump(table, f, protocol)
            pickle.dump([datetime.date(2026, 1, i) for i in range(1, 30)], f, protocol)
        f.write(b"tail")
    with open(path, "rb") as f:
        f.seek(4)  # not a multiple of the mapping granularity
        for _ in (2, 5):
            assert picklefence.load(f) == table
            assert picklefence.load(f, policy="stdlib") == [datetime.date(2026, 1, i) for i in range(1, 30)]
        assert f.read() == b"tail"


def test_a_refused_large_file_is_refused_by_the_strict_engine_with_the_file_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "f.pkl"
    path.write_bytes(pickle.dumps([collections.OrderedDict(a=i) for i in range(20_000)], 5))
    with open(path, "rb") as f, pytest.raises(picklefence.PolicyViolation, match="collections:OrderedDict"):
        picklefence.load(f)  # the default policy has no OrderedDict
    with open(path, "rb") as f:
        assert len(picklefence.load(f, policy="stdlib")) == 20_000


def test_a_pipe_streams_through_the_strict_engine() -> None:
    read_end, write_end = os.pipe()
    data = pickle.dumps({"a": list(range(1000))}, 5)
    with os.fdopen(write_end, "wb") as w:
        w.write(data)
    with os.fdopen(read_end, "rb") as r:
        assert picklefence.load(r) == {"a": list(range(1000))}


# Each case runs in a fresh process and prints the peak of traced allocations (the
# verifier's are PyMem allocations, traced too) of one load, and of pickle's.
_PEAK = """
import pickle, sys, tracemalloc
import picklefence
how, path = sys.argv[1:]
data = open(path, "rb").read()
def run(loads, load):
    tracemalloc.start()
    try:
        if how == "file":
            with open(path, "rb") as f:
                load(f)
        else:
            loads(data)
    except Exception:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak
print(run(picklefence.loads, picklefence.load), run(pickle.loads, pickle.load))
"""


def _peaks(tmp_path: Path, data: bytes, how: str) -> tuple[int, int]:
    path = tmp_path / "case.pkl"
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-c", _PEAK, how, str(path)], check=True, capture_output=True, text=True)
    ours, theirs = map(int, out.stdout.split())
    return ours, theirs


def test_a_sparse_memo_index_costs_no_memory(tmp_path: Path) -> None:
    ours, theirs = _peaks(tmp_path, b"\x80\x02K\x01r\xff\xff\xff\x00.", "loads")
    assert theirs > 100 << 20  # pickle's memo table: 2**24 slots
    assert ours < 1 << 20


def test_a_large_input_refused_at_its_first_global_is_not_compiled_first(tmp_path: Path) -> None:
    data = b"\x80\x02cos\nsystem\n" + b"K\x01a" * 2_000_000 + b"."  # 6 MB of APPENDs on a global
    ours, _ = _peaks(tmp_path, data, "loads")
    assert ours < len(data) + (4 << 20)  # the input (read by the child) and a few FRAMEs: it was 11x


def test_load_of_a_large_file_peaks_as_pickle_load_does(tmp_path: Path) -> None:
    # bytes objects: the objects are as large as the file, so a second copy shows
    data = pickle.dumps([bytes([i % 256]) * 8000 for i in range(1000)], 5)
    ours, theirs = _peaks(tmp_path, data, "file")
    assert ours < 1.3 * theirs, (ours, theirs)
