"""Peak memory of ``picklefence.load``/``loads`` against ``pickle.load``/``loads``.

    python benchmarks/memory.py [--mb N]

Each load runs in a fresh process (so one peak cannot hide another) and reports its
peak resident set size above the process's size before loading (Linux's
``/proc/self/status``); the ratio is picklefence / pickle.  Cases: ``load`` of a file
holding a float64 array of N MB (needs numpy) at protocols 2 and 5, or a list of small
ints; ``loads`` of a protocol 2 pickle of 500-byte bytes objects (compiled for the fast
path, as ``_codecs.encode`` calls).
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
import numpy, picklefence  # imported before measuring
if sys.argv[4] == "loads":
    with open(sys.argv[2], "rb") as f:
        data = f.read()
    before = status("VmRSS")
    if loader == "picklefence":
        obj = picklefence.loads(data, policy=sys.argv[3])
    else:
        obj = pickle.loads(data)
else:
    before = status("VmRSS")
    with open(sys.argv[2], "rb") as f:
        obj = picklefence.load(f, policy=sys.argv[3]) if loader == "picklefence" else pickle.load(f)
print(status("VmHWM") - before)
"""


def _peak_kib(loader: str, path: Path, policy: str, mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, loader, str(path), policy, mode], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=400, help="size of the array case in MB")
    args = parser.parse_args()
    import numpy as np

    cases = [
        (f"load: ndarray {args.mb} MB, protocol 2", np.ones(args.mb * 2**17), 2, "numpy", "load"),
        (f"load: ndarray {args.mb} MB, protocol 5", np.ones(args.mb * 2**17), 5, "numpy", "load"),
        ("load: list of small ints, protocol 5", list(range(args.mb * 2**15)), 5, "default", "load"),
        (
            "loads: 500-byte bytes, protocol 2",
            [bytes([i % 256]) * 500 for i in range(args.mb * 500)],
            2,
            "default",
            "loads",
        ),
    ]
    print(f"{'case':<40} {'pickle':>9} {'picklefence':>12} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, obj, protocol, policy, mode in cases:
            path = Path(tmp) / "case.pkl"
            with open(path, "wb") as f:
                pickle.dump(obj, f, protocol)
            del obj
            ours, theirs = _peak_kib("picklefence", path, policy, mode), _peak_kib("pickle", path, policy, mode)
            print(f"{name:<40} {theirs / 1024:>7.0f}MB {ours / 1024:>10.0f}MB {ours / max(theirs, 1):>6.2f}")
            os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
