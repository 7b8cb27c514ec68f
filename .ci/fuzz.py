"""A bounded, seeded mutation fuzz of the C verifier, loads (the fast path) and audit.

Run by .ci/run's sanitizer leg, where the verifier is built with AddressSanitizer and
UndefinedBehaviorSanitizer: a memory error aborts the process (ASan), anything but a
picklefence error or a clean result fails here.  The inputs are a fixed function of the
seed; the budget in seconds only decides how many of them run.

    python .ci/fuzz.py SECONDS [SEED]
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import decimal
import fractions
import pickle
import random
import sys
import time

import picklefence
from picklefence import Limits
from picklefence._fast import verify

_LIMITS = Limits(max_input_bytes=1 << 20, max_memo_entries=1 << 12, max_calls=1 << 12, max_string_bytes=1 << 20)
_MEMO, _ENTRIES, _DEPTH, _STRING = 1 << 16, 1 << 12, 1 << 10, 1 << 20


def corpus() -> list[bytes]:
    """Pickles of every protocol and of values that reach every opcode family."""
    shared = [1, 2]
    values: list[object] = [
        None,
        True,
        1,
        -(1 << 70),
        2.5,
        3 + 4j,
        "text",
        "é" * 40,
        b"bytes" * 20,
        bytearray(b"ab"),
        [1, [2, [3, [4]]]],
        (1,),
        (1, 2, 3, 4),
        {"a": 1, 2: [shared, shared]},
        {1, 2},
        frozenset({3}),
        collections.OrderedDict(a=1),
        collections.deque([1, 2]),
        fractions.Fraction(1, 3),
        decimal.Decimal("1.5"),
        datetime.datetime(2026, 1, 2, 3, 4, 5),
        range(3),
        slice(1, 2),
        list(range(300)),
        {str(i): i for i in range(100)},
        "x" * 70000,
    ]
    out = [pickle.dumps(v, p) for v in values for p in range(pickle.HIGHEST_PROTOCOL + 1)]
    out.append(pickle.dumps(picklefence.PickleBuffer(b"abc"), 5))
    return out


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        pos = rng.randrange(len(buf) + 1)
        if kind == 0 and buf:  # flip a byte
            buf[pos % len(buf)] = rng.randrange(256)
        elif kind == 1:  # insert bytes
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == 2:  # delete a run
            del buf[pos : pos + rng.randint(1, 8)]
        elif kind == 3:  # a huge length or index after an opcode
            buf[pos:pos] = rng.choice([b"\xff\xff\xff\x7f", b"\xff" * 8, b"\x00\x00\x00\x80", b"\xf0\xff\xff\xff"])
        elif kind == 4:  # splice another region in
            start = rng.randrange(len(buf) + 1)
            buf[pos:pos] = buf[start : start + rng.randint(1, 32)]
        else:  # truncate
            del buf[pos:]
    return bytes(buf)


def one(data: bytes) -> None:
    assert verify is not None
    verify(data, _MEMO, _ENTRIES, _DEPTH, _STRING)
    for call in (
        lambda: picklefence.loads(data, policy="stdlib", limits=_LIMITS),
        lambda: picklefence.audit(data, policy="stdlib", limits=_LIMITS),
    ):
        with contextlib.suppress(picklefence.UnpicklingError):
            call()


def main() -> int:
    seconds = float(sys.argv[1])
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 17)
    if verify is None:
        print("fuzz: the C verifier is not built", file=sys.stderr)
        return 2
    seeds = corpus()
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        data = mutate(rng, rng.choice(seeds))
        try:
            one(data)
        except Exception:
            print(f"fuzz: input {count} ({data!r}) raised a non-picklefence error:", file=sys.stderr)
            raise
        count += 1
    print(f"fuzz: {count} mutated pickles through verify, loads and audit in {seconds:g} s, no failure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
