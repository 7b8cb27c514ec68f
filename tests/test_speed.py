"""Speed and memory properties that are behaviour: no cost carried from one call to the
next, no file-system call for a shipped policy name, no re-entry under patch()."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable

import picklefence


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
        before = _best(lambda: picklefence.dumps(small, protocol))
        picklefence.dumps([[i] for i in range(300_000)], protocol)  # a 300k-entry memo
        after = _best(lambda: picklefence.dumps(small, protocol))
        assert after < 10 * before, (protocol, before, after)  # it was 1000x
        assert picklefence.dumps(small, protocol) == pickle.dumps(small, protocol)


def test_a_failed_dump_leaves_the_next_one_correct() -> None:
    class Local:
        pass

    try:
        picklefence.dumps([[i] for i in range(1000)] + [Local()], 5)
    except picklefence.PicklingError:
        pass
    assert picklefence.dumps([[1], [1]], 5) == pickle.dumps([[1], [1]], 5)
