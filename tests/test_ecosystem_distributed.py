"""Scanning at hub scale: ``picklefence.scan_path`` mapped over a tree of files on a real
dask.distributed local cluster gives the records ``scan --json`` prints (skips where
dask.distributed is not installed)."""

from __future__ import annotations

import importlib.util
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

import picklefence
from picklefence.cli import main

from .hostile import call, g, stop, u

README = Path(__file__).resolve().parent.parent / "README.md"

if importlib.util.find_spec("distributed") is None:  # not imported here: see RECIPE
    pytest.skip("could not find 'distributed'", allow_module_level=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    tmp_path = tmp_path / "tree"
    for n in range(8):
        folder = tmp_path / f"upload-{n % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        data = stop(call(g("os", "system"), u("touch pwned")), 2) if n == 5 else pickle.dumps({"n": n}, n % 6)
        (folder / f"file-{n}.pkl").write_bytes(data)
    (tmp_path / "upload-1" / "truncated.pkl").write_bytes(b"\x80\x04\x95\x05")
    return tmp_path


# The README's recipe, run as a user runs it; in its own process, since importing
# distributed changes process-wide state (tblib registers copyreg reducers for exceptions).
(RECIPE,) = [b for b in re.findall(r"```py\n(.*?)```", README.read_text(), flags=re.DOTALL) if "LocalCluster" in b]


def test_the_readme_recipe_maps_scan_path_over_a_tree_on_a_local_cluster(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    (work / "uploads").mkdir(parents=True)
    for path in tree.rglob("*.pkl"):
        target = work / "uploads" / path.relative_to(tree)
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(path.read_bytes())
    (work / "recipe.py").write_text(RECIPE)
    run = subprocess.run([sys.executable, "recipe.py"], cwd=work, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "9 files; 2 pickles refused or malformed" in run.stdout
    records = json.loads((work / "scan.json").read_text())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        files = sorted(str(p) for p in Path("uploads").rglob("*") if p.is_file())
        assert [r["path"] for r in records] == files
        assert records == [picklefence.scan_path(f, policy="stdlib") for f in files]
        main(["scan", "--json", "--quiet", "--recursive", "--policy", "stdlib", "uploads"])
    document = json.loads(capsys.readouterr().out)
    assert [p for r in records for p in r["pickles"]] == document["pickles"]
    assert [e for r in records for e in r["errors"]] == document["errors"]
    verdicts = {Path(p["path"]).name: p["verdict"] for r in records for p in r["pickles"]}
    assert verdicts["file-5.pkl"] == "refused" and verdicts["truncated.pkl"] == "malformed"
    assert not (work / "pwned").exists()
