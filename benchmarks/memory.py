"""Peak memory of ``picklefence.load`` against ``pickle.load`` on large regular files.

    python benchmarks/memory.py [--mb N]

Each load runs in a fresh process (so one peak cannot hide another) and reports its
peak resident set size above the process's size before loading (Linux's
``/proc/self/status``); the ratio is
picklefence / pickle.  Cases: a float64 array of N MB (needs numpy) at protocols 2
and 5, and a list of small ints whose pickle is N/8 MB, at protocol 5.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

# ru_maxrss survives exec (a child starts with its parent's peak), so read the peak of
# this process's own address space from /proc (Linux).
_CHILD = """
import pickle, sys

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

loader = sys.argv[1]
if loader == "picklefence":
    import picklefence
    load = lambda f: picklefence.load(f, policy=sys.argv[3])
else:
    load = pickle.load
import numpy  # both loaders need it for arrays; import before measuring
before = status("VmRSS")
with open(sys.argv[2], "rb") as f:
    obj = load(f)
print(status("VmHWM") - before)
"""


def _peak_kib(loader: str, path: Path, policy: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, loader, str(path), policy], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=400, help="size of the array case in MB")
    args = parser.parse_args()
    import numpy as np

    cases = [
        (f"ndarray {args.mb} MB, protocol 2", np.ones(args.mb * 2**17), 2, "numpy"),
        (f"ndarray {args.mb} MB, protocol 5", np.ones(args.mb * 2**17), 5, "numpy"),
        ("list of small ints, protocol 5", list(range(args.mb * 2**15)), 5, "default"),
    ]
    print(f"{'case':<34} {'pickle.load':>12} {'picklefence':>12} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, obj, protocol, policy in cases:
            path = Path(tmp) / "case.pkl"
            with open(path, "wb") as f:
                pickle.dump(obj, f, protocol)
            del obj
            ours, theirs = _peak_kib("picklefence", path, policy), _peak_kib("pickle", path, policy)
            print(f"{name:<34} {theirs / 1024:>10.0f}MB {ours / 1024:>10.0f}MB {ours / max(theirs, 1):>6.2f}")
            os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
