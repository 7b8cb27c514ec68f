"""Speed and memory properties that are behaviour: no cost carried from one call to the
next, no file-system call for a shipped policy name, no re-entry under patch()."""

from __future__ import annotations

import _pickle
import datetime
import functools
import os
import pickle
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
