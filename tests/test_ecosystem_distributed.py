"""Scanning at hub scale: ``picklefence.scan_path`` mapped over a tree of files on a real
dask.distributed local cluster gives the records ``scan --json`` prints (skips where
dask.distributed is not installed)."""

from __future__ import annotations

import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import picklefence
from picklefence.cli import main

from .hostile import call, g, stop, u

if importlib.util.find_spec("distributed") is None:  # not imported here: see RECIPE
    pytest.skip("could not find 'distributed'", allow_module_level=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for n in range(8):
        folder = tmp_path / f"upload-{n % 3}"
        folder.mkdir(exist_ok=True)
        data = stop(call(g("os", "system"), u("touch pwned")), 2) if n == 5 else pickle.dumps({"n": n}, n % 6)
        (folder / f"file-{n}.pkl").write_bytes(data)
    (tmp_path / "upload-1" / "truncated.pkl").write_bytes(b"\x80\x04\x95\x05")
    return tmp_path


# The recipe, as a user runs it; in its own process, since importing distributed changes
# process-wide state (tblib registers copyreg reducers for every exception type).
RECIPE = """
import json, sys
from pathlib import Path
from dask.distributed import Client, LocalCluster
import picklefence

files = sorted(str(p) for p in Path(sys.argv[1]).rglob("*") if p.is_file())
if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            records = client.gather(client.map(picklefence.scan_path, files, policy="stdlib"))
    json.dump(records, sys.stdout)
"""


def test_a_local_cluster_maps_scan_path_over_a_tree(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "recipe.py").write_text(RECIPE)
    run = subprocess.run(
        [sys.executable, str(tmp_path / "recipe.py"), str(tree)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    records = json.loads(run.stdout)
    files = sorted(str(p) for p in tree.rglob("*") if p.is_file())
    assert [r["path"] for r in records] == files
    assert records == [picklefence.scan_path(f, policy="stdlib") for f in files]
    main(["scan", "--json", "--quiet", "--recursive", "--policy", "stdlib", str(tree)])
    document = json.loads(capsys.readouterr().out)
    assert [p for r in records for p in r["pickles"]] == document["pickles"]
    assert [e for r in records for e in r["errors"]] == document["errors"]
    verdicts = {Path(p["path"]).name: p["verdict"] for r in records for p in r["pickles"]}
    assert verdicts["file-5.pkl"] == "refused" and verdicts["truncated.pkl"] == "malformed"
    assert not (tmp_path / "pwned").exists()
