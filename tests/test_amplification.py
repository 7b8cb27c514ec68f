"""The amplification budget (Limits.max_amplification): what allowed calls create is
bounded by the input's size, so a small pickle cannot make a large process.  Each case
runs in a subprocess with a memory cap and must be refused fast."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import picklefence
from picklefence import LimitExceededError, Limits

from .hostile import g, stop


def _copies(n: int, size: int = 300_000) -> bytes:
    """bytearray(b) n times over one memoized bytes object of ``size`` bytes."""
    body = (
        b"B"
        + size.to_bytes(4, "little")
        + b"x" * size
        + b"q\x00"
        + b"("
        + (g("builtins", "bytearray") + b"h\x00\x85R") * n
        + b"l"
    )
    return stop(body, 2)


def _huge_fraction() -> bytes:
    digits = (1 << 2_000_000) - 1
    raw = digits.to_bytes((digits.bit_length() + 8) // 8, "little", signed=True)
    big = b"\x8b" + len(raw).to_bytes(4, "little") + raw
    return stop(g("fractions", "Fraction") + b"(" + big + big + b"tR", 2)


CASES = [
    ("bytearray copies of one memoized buffer", _copies(8000), "default", "max_amplification"),
    ("Fraction of 2-million-bit ints", _huge_fraction(), "stdlib", "arguments"),
]


@pytest.mark.parametrize(("data", "policy", "limit"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_amplification_is_refused_fast_within_512_mb(data: bytes, policy: str, limit: str, tmp_path: Path) -> None:
    path = tmp_path / "case.pickle"
    path.write_bytes(data)
    script = textwrap.dedent(
        f"""
        import resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
        import picklefence
        data = open({str(path)!r}, "rb").read()
        start = time.perf_counter()
        try:
            picklefence.loads(data, policy={policy!r})
        except picklefence.UnpicklingError as exc:
            print(type(exc).__name__, getattr(exc, "limit", None) or getattr(exc, "capability", None))
        else:
            print("loaded")
        print(round(time.perf_counter() - start, 3))
        """
    )
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    verdict, seconds = result.stdout.split("\n")[:2]
    assert verdict != "loaded"
    assert verdict.endswith(f" {limit}")
    assert float(seconds) < 2.0
    assert time.perf_counter() - started < 30


def test_the_budget_grows_with_the_input() -> None:
    # 20 copies of 300 KB fit the default floor; a tiny budget refuses them
    data = _copies(20)
    assert len(picklefence.loads(data)) == 20
    tight = Limits(amplification_floor=0, max_amplification=4)
    with pytest.raises(LimitExceededError) as info:
        picklefence.loads(data, limits=tight)
    assert info.value.limit == "max_amplification"
    assert "amplification budget" in str(info.value)


def test_ordinary_objects_stay_far_below_the_budget() -> None:
    value = {"blob": bytearray(50_000_000), "items": list(range(1000))}
    data = pickle.dumps(value, 4)
    assert picklefence.loads(data, limits=Limits(amplification_floor=0, max_amplification=2)) == value
