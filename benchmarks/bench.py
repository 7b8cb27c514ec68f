"""picklefence against CPython's C pickle, measured interleaved in one process.

    python benchmarks/bench.py [--quick] [--only loads|dumps|files|memory] [--cases NAME,...]

For each case and protocol it prints the median time of picklefence and of the C
``pickle`` on the same bytes (and CPython's pure-Python ``pickle._Unpickler`` for loads,
and torch's weights-only unpickler when torch is installed), the ratio to C, and the
geometric means per group.  Array and ML cases load under the shipped policies
(numpy, pandas, sklearn) and are skipped when the library is missing.  Small objects
are loaded with the policy passed as a :class:`Policy` and by its shipped name (as the
README shows).  ``files`` compares ``load(f)`` with ``pickle.load(f)`` on a file larger
than the in-memory limit; ``dumps`` includes small dumps right after a large one in the
same thread.  ``memory`` runs each peak-memory case in a fresh process.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import gc
import io
import math
import os
import pickle
import platform
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import picklefence
from picklefence import Policy

Case = tuple[str, str, Callable[[], Any], "Policy | str"]  # name, group, builder, policy


def _cases() -> list[Case]:
    rng = random.Random(42)
    words = ["".join(rng.choices(string.ascii_letters, k=rng.randint(4, 12))) for _ in range(200_000)]
    default = Policy.named("default")
    stdlib = Policy.named("stdlib")
    stamp = datetime.datetime(2026, 11, 24, 9, 30)
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
            "small data",
            lambda: {"name": "svc", "port": 8080, "debug": False, "ratio": 0.25, "hosts": ["a", "b"], "raw": b"x"},
            default,
        ),
        ("3-key dict", "small data", lambda: {"a": 1, "b": "two", "c": 3.0}, default),
        ("20-key dict", "small data", lambda: {f"key{i}": i for i in range(20)}, default),
        ("list of 10 tuples", "small data", lambda: [(i, str(i)) for i in range(10)], default),
        # one small object: a load's fixed cost (a global, a checked call), no data to speak of
        ("datetime", "small objects", lambda: stamp, stdlib),
        ("datetime, by name", "small objects", lambda: stamp, "stdlib"),
        ("UUID", "small objects", lambda: uuid.UUID(int=12345678901234567890), stdlib),
        ("UUID, by name", "small objects", lambda: uuid.UUID(int=12345678901234567890), "stdlib"),
        ("Decimal", "small objects", lambda: decimal.Decimal("3.14159"), stdlib),
        ("Decimal, by name", "small objects", lambda: decimal.Decimal("3.14159"), "stdlib"),
        # many objects of allowed classes: one global, a checked call or state per object
        ("100k datetimes", "allowed objects", lambda: [stamp + datetime.timedelta(i) for i in range(100_000)], stdlib),
        ("50k Decimals", "allowed objects", lambda: [decimal.Decimal(i) / 7 for i in range(50_000)], stdlib),
        (
            "20k OrderedDicts",
            "allowed objects",
            lambda: [collections.OrderedDict(a=i, b=str(i)) for i in range(20_000)],
            stdlib,
        ),
    ]
    try:
        import numpy as np
    except ImportError:
        return cases
    arrays = Policy.named("numpy")
    cases += [
        ("100k numpy float64", "allowed objects", lambda: list(np.arange(100_000, dtype=np.float64)), arrays),
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
        sklearn_policy = Policy.named("sklearn")
        cases.append(("sklearn forest 200 trees", "ml objects", _forest, sklearn_policy))
        cases.append(("sklearn Pipeline", "ml objects", _pipeline, sklearn_policy))
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
    return RandomForestClassifier(200, random_state=0).fit(features, labels)


def _pipeline() -> Any:
    from sklearn.datasets import make_classification
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = make_classification(2000, 20, random_state=0)
    return make_pipeline(StandardScaler(), PCA(5), LogisticRegression()).fit(features, labels)


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


def _measure_loads(
    obj: Any, proto: int, policy: Policy | str, repeats: int, torch_load: Callable[[bytes], Any] | None
) -> dict[str, float]:
    data = pickle.dumps(obj, proto)
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


def _measure_dumps(obj: Any, proto: int, policy: Policy | str, repeats: int) -> dict[str, float]:
    return _interleaved(
        {"c": lambda: pickle.dumps(obj, proto), "ours": lambda: picklefence.dumps(obj, proto, policy=policy)},
        repeats,
    )


def _measure_dumps_after_large(obj: Any, proto: int, policy: Policy | str, repeats: int) -> dict[str, float]:
    """Small dumps in a thread that has just written a large pickle (1M-entry memo)."""
    large = [[i] for i in range(1_000_000)]
    picklefence.dumps(large, proto, policy=policy)
    pickle.dumps(large, proto)
    del large
    return _measure_dumps(obj, proto, policy, repeats)


def _measure_file(path: str, policy: Policy | str, repeats: int) -> dict[str, float]:
    def ours() -> Any:
        with open(path, "rb") as f:
            return picklefence.load(f, policy=policy)

    def theirs() -> Any:
        with open(path, "rb") as f:
            return pickle.load(f)

    return _interleaved({"c": theirs, "ours": ours}, repeats)


def _row(name: str, proto: int, times: dict[str, float], torch_shown: bool) -> str:
    ratio = times["ours"] / times["c"]
    line = f"{name:<26} {proto:>5} {times['c'] * 1e3:>8.3f}ms {times['ours'] * 1e3:>10.3f}ms {ratio:>6.2f}"
    if "py" in times:
        line += f"   {times['py'] / times['c']:>6.2f}x C, {times['py'] / times['ours']:>5.1f}x ours"
    if "torch" in times:
        line += f"   {times['torch'] / times['c']:>6.2f}x C"
    elif torch_shown and "py" in times:
        line += "   refuses"
    return line


def _header(extra: str = "") -> str:
    return f"{'case':<26} {'proto':>5} {'C pickle':>10} {'picklefence':>12} {'ratio':>6}" + extra


def _run_timed(args: argparse.Namespace, repeats: int, ratios: dict[tuple[str, str], list[float]]) -> None:
    torch_load = _torch_weights_only()
    selected = [case for case in _cases() if not args.cases or any(part in case[0] for part in args.cases.split(","))]
    for op in ("loads", "dumps", "dumps after a large dump"):
        if args.only and not op.startswith(args.only):
            continue
        print(f"## {op}")
        extra = "   pickle._Unpickler" + ("   torch w/o" if torch_load else "") if op == "loads" else ""
        print(_header(extra))
        for name, group, build, policy in selected:
            if op != "loads" and ", by name" in name:
                continue  # dumps resolve a name as loads do: measured once, under loads
            if op == "dumps after a large dump" and group not in ("small data", "small objects"):
                continue
            obj = build()
            for proto in (2, 5):
                try:
                    if op == "loads":
                        times = _measure_loads(obj, proto, policy, repeats, torch_load)
                    elif op == "dumps":
                        times = _measure_dumps(obj, proto, policy, repeats)
                    else:
                        times = _measure_dumps_after_large(obj, proto, policy, repeats)
                except Exception as exc:  # e.g. torch refusing a protocol-5 pickle
                    print(f"{name:<26} {proto:>5}  failed: {type(exc).__name__}: {exc}")
                    continue
                ratios.setdefault((op, group), []).append(times["ours"] / times["c"])
                print(_row(name, proto, times, torch_load is not None), flush=True)
        print()
    if not args.only or args.only == "files":
        print("## load(f) of a file (a 2M-entry str->int dict, 35 MB)")
        print(_header())
        rng = random.Random(7)
        table = {"".join(rng.choices(string.ascii_letters, k=10)): i for i in range(2_000_000)}
        with tempfile.TemporaryDirectory() as tmp:
            for proto in (2, 5):
                path = os.path.join(tmp, "case.pkl")
                with open(path, "wb") as f:
                    pickle.dump(table, f, proto)
                times = _measure_file(path, "default", repeats)
                ratios.setdefault(("load(f)", "files"), []).append(times["ours"] / times["c"])
                print(_row(f"file {os.path.getsize(path) >> 20} MB", proto, times, False), flush=True)
        print()


# Each memory case runs in a fresh process: ``setup`` makes ``data`` (or a file at
# ``path``), then the peak of the traced allocations (tracemalloc: Python's and the C
# verifier's PyMem allocations) of one load is printed, whatever it raises.
_MEMORY_CHILD = """
import pickle, sys, tracemalloc
import picklefence
loader, case, path = sys.argv[1:]
data = open(path, "rb").read() if case != "file" else None
def run():
    if case == "file":
        with open(path, "rb") as f:
            return picklefence.load(f) if loader == "picklefence" else pickle.load(f)
    return picklefence.loads(data) if loader == "picklefence" else pickle.loads(data)
tracemalloc.start()
try:
    obj = run()
except Exception:
    obj = None
print(tracemalloc.get_traced_memory()[1])
"""


def _memory_cases(tmp: str) -> list[tuple[str, str, str]]:
    """(name, kind, path) for each peak-memory case, its input written to ``path``."""
    sparse = b"\x80\x02K\x01r\xff\xff\xff\x00."  # one memo slot at index 2^24 - 1
    refused = b"\x80\x02cos\nsystem\n" + b"K\x01a" * (20_000_000 // 3) + b"."  # refused at its first global
    dense = pickle.dumps({str(i): i for i in range(2_000_000)}, 5)
    cases = [("9-byte pickle, sparse memo index", "loads", sparse), ("20 MB refused at byte 3", "loads", refused)]
    cases.append((f"load(f): {len(dense) >> 20} MB dict file", "file", dense))
    out = []
    for i, (name, kind, data) in enumerate(cases):
        path = os.path.join(tmp, f"memory{i}.pkl")
        with open(path, "wb") as f:
            f.write(data)
        out.append((name, kind, path))
    return out


def _peak(loader: str, kind: str, path: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, loader, kind, path], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def _run_memory() -> None:
    print("## peak memory of one load (tracemalloc, fresh process each)")
    print(f"{'case':<36} {'pickle':>10} {'picklefence':>12} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind, path in _memory_cases(tmp):
            theirs, ours = _peak("pickle", kind, path), _peak("picklefence", kind, path)
            print(f"{name:<36} {theirs / 2**20:>8.1f}MB {ours / 2**20:>10.1f}MB {ours / max(theirs, 1):>6.2f}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", choices=["loads", "dumps", "files", "memory"])
    parser.add_argument("--cases", help="comma-separated substrings of case names")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    print(f"# Python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    print(f"# median of {repeats} interleaved repeats; ratio = picklefence time / C pickle time\n")
    ratios: dict[tuple[str, str], list[float]] = {}
    if args.only != "memory":
        _run_timed(args, repeats, ratios)
    if not args.only or args.only == "memory":
        _run_memory()
    print("## geometric means of ratios")
    for (op, group), values in sorted(ratios.items()):
        mean = math.exp(sum(math.log(v) for v in values) / len(values))
        print(f"{op:<26} {group:<15} {mean:.2f}x  ({len(values)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
