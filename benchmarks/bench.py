"""picklefence against CPython's C pickle, measured interleaved in one process.

    python benchmarks/bench.py [--quick] [--only loads|dumps] [--cases NAME,...]

For each case and protocol it prints the median time of picklefence and of the C
``pickle`` on the same bytes (and CPython's pure-Python ``pickle._Unpickler`` for loads,
and torch's weights-only unpickler when torch is installed), the ratio to C, and the
geometric means per group.  Array and ML cases load under the shipped policies
(numpy, pandas, sklearn) and are skipped when the library is missing.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import io
import math
import pickle
import platform
import random
import statistics
import string
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import picklefence
from picklefence import Policy

Case = tuple[str, str, Callable[[], Any], Policy]  # name, group, builder, policy


def _cases() -> list[Case]:
    rng = random.Random(42)
    words = ["".join(rng.choices(string.ascii_letters, k=rng.randint(4, 12))) for _ in range(200_000)]
    default = Policy.named("default")
    cases: list[Case] = [
        ("dict 200k str->int", "containers", lambda: {w: i for i, w in enumerate(words)}, default),
        ("list 1M ints", "containers", lambda: list(range(-500_000, 500_000)), default),
        ("list 100k floats", "containers", lambda: [rng.random() for _ in range(100_000)], default),
        (
            "50k small records",
            "containers",
            lambda: [{"id": i, "name": words[i], "score": i * 0.5, "tags": ["a", "b"]} for i in range(50_000)],
            default,
        ),
        ("list 100k strings", "containers", lambda: words[:100_000], default),
        (
            "small settings dict",
            "containers",
            lambda: {"name": "svc", "port": 8080, "debug": False, "ratio": 0.25, "hosts": ["a", "b"], "raw": b"x"},
            default,
        ),
        # one small object: a load's fixed cost (a global, a checked call), no data to speak of
        ("small datetime", "small objects", lambda: datetime.datetime(2026, 11, 24, 9, 30), Policy.named("stdlib")),
    ]
    try:
        import numpy as np
    except ImportError:
        return cases
    arrays = Policy.named("numpy")
    cases += [
        ("ndarray 80 MB float64", "arrays", lambda: np.random.default_rng(0).random(10_000_000), arrays),
        (
            "dict of 64 ndarrays",
            "arrays",
            lambda: {f"w{i}": np.random.default_rng(i).random((128, 128)) for i in range(64)},
            arrays,
        ),
    ]
    try:
        import pandas as pd
    except ImportError:
        pass
    else:
        cases.append(("pandas DataFrame 100k", "ml objects", lambda: _frame(pd, np), Policy.named("pandas")))
    try:
        import sklearn  # noqa: F401
    except ImportError:
        pass
    else:
        cases.append(("sklearn forest 50 trees", "ml objects", _forest, Policy.named("sklearn")))
    return cases


def _frame(pd: Any, np: Any) -> Any:
    """100k rows: float, int, string and categorical columns, a datetime index."""
    rng = np.random.default_rng(1)
    n = 100_000
    return pd.DataFrame(
        {
            "x": rng.random(n),
            "n": rng.integers(0, 1000, n),
            "name": [f"item{i % 5000}" for i in range(n)],
            "kind": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        },
        index=pd.date_range("2026-01-01", periods=n, freq="min"),
    )


def _forest() -> Any:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    features, labels = make_classification(2000, 20, random_state=0)
    return RandomForestClassifier(50, random_state=0).fit(features, labels)


def _time(fn: Callable[[], Any], budget: float = 0.05) -> float:
    """Seconds per call: enough calls to fill ``budget``, garbage collection off, after
    one untimed call, so that each loader meets the allocator in the state its own
    previous call left (not the state another loader left: a 200k-entry dict loads 1.5x
    slower into memory freshly returned to the system)."""
    gc.collect()
    fn()
    n = 1
    while True:
        gc.disable()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        gc.enable()
        if elapsed >= budget or n >= 1 << 20:
            return elapsed / n
        n *= 2 if elapsed * 4 > budget else 8


def _interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            samples[key].append(_time(fn))
    return {k: statistics.median(v) for k, v in samples.items()}


def _torch_weights_only() -> Callable[[bytes], Any] | None:
    try:
        from torch import _weights_only_unpickler as wou
    except ImportError:
        return None
    warnings.filterwarnings("ignore", message="Detected pickle protocol")
    return lambda data: wou.Unpickler(io.BytesIO(data)).load()


def _measure(
    op: str, obj: Any, proto: int, policy: Policy, repeats: int, torch_load: Callable[[bytes], Any] | None
) -> dict[str, float]:
    data = pickle.dumps(obj, proto)
    if op == "dumps":
        return _interleaved(
            {"c": lambda: pickle.dumps(obj, proto), "ours": lambda: picklefence.dumps(obj, proto, policy=policy)},
            repeats,
        )
    fns = {
        "c": lambda: pickle.loads(data),
        "ours": lambda: picklefence.loads(data, policy=policy),
        "py": lambda: pickle._Unpickler(io.BytesIO(data)).load(),  # type: ignore[attr-defined]
    }
    if torch_load is not None:
        try:
            torch_load(data)
        except Exception:  # torch's weights-only unpickler refuses FRAME (protocol 4-5)
            pass
        else:
            fns["torch"] = lambda: torch_load(data)
    return _interleaved(fns, repeats)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", choices=["loads", "dumps"])
    parser.add_argument("--cases", help="comma-separated substrings of case names")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    print(f"# Python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    print(f"# median of {repeats} interleaved repeats; ratio = picklefence time / C pickle time\n")
    torch_load = _torch_weights_only()
    ratios: dict[tuple[str, str], list[float]] = {}
    header = f"{'case':<24} {'proto':>5} {'C pickle':>10} {'picklefence':>12} {'ratio':>6}"
    for op in ("loads", "dumps"):
        if args.only and args.only != op:
            continue
        print(f"## {op}")
        print(
            header
            + ("   pickle._Unpickler" if op == "loads" else "")
            + ("   torch w/o" if op == "loads" and torch_load else "")
        )
        for name, group, build, policy in _cases():
            if args.cases and not any(part in name for part in args.cases.split(",")):
                continue
            obj = build()
            for proto in (2, 5):
                try:
                    times = _measure(op, obj, proto, policy, repeats, torch_load)
                except Exception as exc:  # e.g. torch refusing a protocol-5 pickle
                    print(f"{name:<24} {proto:>5}  failed: {type(exc).__name__}: {exc}")
                    continue
                ratio = times["ours"] / times["c"]
                ratios.setdefault((op, group), []).append(ratio)
                line = f"{name:<24} {proto:>5} {times['c'] * 1e3:>8.3f}ms {times['ours'] * 1e3:>10.3f}ms {ratio:>6.2f}"
                if "py" in times:
                    line += f"   {times['py'] / times['c']:>6.2f}x C, {times['py'] / times['ours']:>5.1f}x ours"
                if "torch" in times:
                    line += f"   {times['torch'] / times['c']:>6.2f}x C"
                elif torch_load is not None and op == "loads":
                    line += "   refuses"
                print(line, flush=True)
        print()
    print("## geometric means of ratios")
    for (op, group), values in sorted(ratios.items()):
        mean = math.exp(sum(math.log(v) for v in values) / len(values))
        print(f"{op:<6} {group:<13} {mean:.2f}x  ({len(values)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
