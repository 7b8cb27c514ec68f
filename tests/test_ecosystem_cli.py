"""The command in the tools people wire it into: learn that reuses shipped rules, scan
that names the fix, SARIF, --jobs, exit codes, and the pre-commit manifest."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import picklefence
from picklefence import Policy
from picklefence.cli import main

from .hostile import call, g, i, stop, t, u

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = stop(call(g("os", "system"), u("touch pwned")), 2)
GIB_ARRAY = stop(call(g("numpy._core.multiarray", "_reconstruct"), g("numpy", "ndarray"), t(i(1 << 30)), b"C\x01b"))


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = cli(capsys, "scan", "--json", "--quiet", *args)
    return code, json.loads(out)


@pytest.fixture
def arrays(tmp_path: Path) -> Path:
    np = pytest.importorskip("numpy")
    (tmp_path / "array.pkl").write_bytes(pickle.dumps(np.arange(6.0).reshape(2, 3), 4))
    (tmp_path / "array-p2.pkl").write_bytes(pickle.dumps({"w": np.ones(3, dtype=np.int32)}, 2))
    return tmp_path


# -- learn -------------------------------------------------------------------------------


def test_learn_reuses_the_shipped_rule_with_its_checks(arrays: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = arrays / "learned.toml"
    code, _, err = cli(capsys, "learn", str(arrays / "array.pkl"), str(arrays / "array-p2.pkl"), "-o", str(out))
    assert code == 0, err
    learned = Policy.from_toml(out)
    numpy = Policy.named("numpy")
    for name in ("numpy._core.multiarray:_reconstruct", "numpy:ndarray", "numpy:dtype"):
        assert learned.rules[name] == numpy.rules[name], name  # signatures, checks, state checks and all
    assert "the rule of the shipped policy 'numpy'" in out.read_text()
    # BUILD acts on what numpy.dtype(...) makes, a subclass: its shipped state rule comes along
    assert learned.rules["numpy.dtypes:Float64DType"] == numpy.rules["numpy.dtypes:Float64DType"]
    for name in ("array.pkl", "array-p2.pkl"):
        data = (arrays / name).read_bytes()
        assert repr(picklefence.loads(data, policy=out)) == repr(pickle.loads(data))
    assert set(learned.rules) <= set(numpy.rules)
    assert not any(rule.can & {"call", "construct"} for name, rule in learned.rules.items() if "DType" in name)


def test_a_learned_policy_refuses_what_the_shipped_rule_refuses(
    arrays: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = arrays / "learned.toml"
    assert cli(capsys, "learn", str(arrays / "array.pkl"), "-o", str(out))[0] == 0
    with pytest.raises(picklefence.PolicyViolation) as refused:
        picklefence.loads(GIB_ARRAY, policy=out)
    assert refused.value.name == "numpy._core.multiarray:_reconstruct"
    assert refused.value.capability == "arguments"


def test_learn_says_first_which_shipped_policies_cover_the_files(
    arrays: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "learn", str(arrays / "array.pkl"), "-o", "-")
    assert code == 0
    assert err.splitlines()[0] == (
        "picklefence: every use is allowed by the shipped policy 'numpy' "
        "(also 'torch', 'pandas', 'scipy', 'sklearn', 'ml'); use --base numpy"
    )


def test_learn_names_no_covering_policy_when_none_covers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "own.pkl").write_bytes(stop(call(g("myapp.models", "User"), u("ada")), 2))
    code, out, err = cli(capsys, "learn", str(tmp_path / "own.pkl"), "-o", "-")
    assert code == 0, err
    assert "allowed by the shipped policy" not in err
    assert Policy.from_toml(out).rules["myapp.models:User"].can == frozenset({"reference", "call"})


def test_learn_mixes_shipped_and_learned_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np = pytest.importorskip("numpy")
    import fractions

    (tmp_path / "mixed.pkl").write_bytes(pickle.dumps({"a": np.zeros(2), "f": fractions.Fraction(1, 3)}, 4))
    code, out, err = cli(capsys, "learn", str(tmp_path / "mixed.pkl"), "--base", "default", "-o", "-")
    assert code == 0, err
    learned = Policy.from_toml(out)
    assert learned.rules["fractions:Fraction"] == Policy.named("stdlib").rules["fractions:Fraction"]
    assert learned.rules["numpy:ndarray"] == Policy.named("numpy").rules["numpy:ndarray"]
    assert "every use is allowed by the shipped policy 'numpy'" in err


def test_a_learned_policy_loads_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import collections
    import fractions

    data = pickle.dumps({"f": fractions.Fraction(1, 3), "od": collections.OrderedDict(a=1)}, 2)
    (tmp_path / "std.pkl").write_bytes(data)
    out = tmp_path / "learned.toml"
    code, _, err = cli(capsys, "learn", str(tmp_path / "std.pkl"), "-o", str(out))
    assert code == 0, err
    assert "every use is allowed by the shipped policy 'stdlib'" in err
    assert picklefence.loads(data, policy=out) == pickle.loads(data)
    for name in ("fractions:Fraction", "collections:OrderedDict"):
        assert Policy.from_toml(out).rules[name] == Policy.named("stdlib").rules[name]


def test_learn_refuses_to_widen_a_shipped_rule_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the shipped rule for fractions:Fraction grants no items; this file appends to one
    (tmp_path / "odd.pkl").write_bytes(stop(call(g("fractions", "Fraction"), u("1/3")) + b"(Ne", 2))
    code, out, err = cli(capsys, "learn", str(tmp_path / "odd.pkl"), "-o", str(tmp_path / "x.toml"))
    assert code == 2
    assert "fractions:Fraction: its rule in the shipped policy 'stdlib' does not grant items" in err
    assert not (tmp_path / "x.toml").exists()
    code, out, err = cli(capsys, "learn", str(tmp_path / "odd.pkl"), "-o", "-", "--force")
    assert code == 0, err
    rule = Policy.from_toml(out).rules["fractions:Fraction"]
    assert rule.signatures == Policy.named("stdlib").rules["fractions:Fraction"].signatures
    assert "items" in (rule.can or ())


def test_learn_refuses_when_the_shipped_signatures_refuse_the_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "big.pkl").write_bytes(GIB_ARRAY)
    code, _, err = cli(capsys, "learn", str(tmp_path / "big.pkl"), "-o", str(tmp_path / "x.toml"))
    assert code == 2
    assert "would still refuse numpy._core.multiarray:_reconstruct (arguments)" in err
    assert not (tmp_path / "x.toml").exists()


# -- scan names the fix ------------------------------------------------------------------


def test_scan_json_names_the_shipped_policy_that_allows_every_refusal(
    arrays: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = scan_json(capsys, str(arrays / "array.pkl"), str(arrays / "array-p2.pkl"))
    assert code == 1
    assert [p["allowed_by"] for p in report["pickles"]] == [["numpy", "torch", "pandas", "scipy", "sklearn", "ml"]] * 2
    assert report["suggestion"] == {
        "allowed_by": ["numpy", "torch", "pandas", "scipy", "sklearn", "ml"],
        "policy": ["numpy"],
    }
    code, report = scan_json(capsys, "--policy", "numpy", str(arrays / "array.pkl"))
    assert code == 0 and report["suggestion"] is None


def test_scan_text_names_the_fix(arrays: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "scan", "-q", str(arrays / "array.pkl"))
    assert code == 1
    assert "          allowed by the shipped policy 'numpy' (also 'torch', 'pandas', 'scipy', 'sklearn', 'ml')" in out
    assert out.splitlines()[-1] == (
        "Every refusal is allowed by the shipped policy 'numpy' "
        "(also 'torch', 'pandas', 'scipy', 'sklearn', 'ml'): "
        "scan with --policy numpy (policy='numpy' when loading), if you trust what it allows."
    )


def test_scan_adds_the_shipped_policy_to_a_custom_one(arrays: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = arrays / "mine.toml"
    mine.write_text('include = ["default"]\n[allow."myapp:User"]\nwhy = "ours"\n')
    code, report = scan_json(capsys, "--policy", str(mine), str(arrays / "array.pkl"))
    assert code == 1
    assert report["suggestion"]["policy"] == [str(mine), "numpy"]


@pytest.mark.parametrize(
    "data",
    [HOSTILE, stop(call(g("numpy", "ndarray"), i(1)) + call(g("os", "system"), u("x")), 2)],
    ids=["os.system", "numpy plus os.system"],
)
def test_scan_suggests_nothing_when_no_shipped_policy_allows_it(
    data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "evil.pkl").write_bytes(data)
    code, report = scan_json(capsys, str(tmp_path / "evil.pkl"))
    assert code == 1
    assert report["pickles"][0]["allowed_by"] == [] and report["suggestion"] is None
    code, out, _ = cli(capsys, "scan", "-q", str(tmp_path / "evil.pkl"))
    assert "allowed by" not in out
    assert not (tmp_path / "pwned").exists()


def test_scan_suggests_nothing_when_files_need_different_policies(
    arrays: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "evil.pkl").write_bytes(HOSTILE)
    code, report = scan_json(capsys, str(arrays / "array.pkl"), str(tmp_path / "evil.pkl"))
    assert code == 1
    assert report["pickles"][0]["allowed_by"] == ["numpy", "torch", "pandas", "scipy", "sklearn", "ml"]
    assert report["suggestion"] is None


# -- SARIF -------------------------------------------------------------------------------


def test_sarif_has_the_required_fields_of_2_1_0(
    arrays: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "evil.pkl").write_bytes(HOSTILE)
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x04K")
    paths = [str(tmp_path / "evil.pkl"), str(tmp_path / "bad.pkl"), str(arrays / "array.pkl")]
    code, out, _ = cli(capsys, "scan", "-q", "--format", "sarif", *paths, str(tmp_path / "missing.pkl"))
    assert code == 2
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "picklefence" and driver["version"] == picklefence.__version__
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(set(rule_ids)) == len(rule_ids)
    for result in run["results"]:
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        assert result["ruleId"] in rule_ids and rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("none", "note", "warning", "error")
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"].startswith("file:///")
    by_rule = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in run["results"]}
    assert by_rule == {
        ("refused-global", (tmp_path / "evil.pkl").as_uri()),
        ("malformed-pickle", (tmp_path / "bad.pkl").as_uri()),
        ("refused-global", (arrays / "array.pkl").as_uri()),
        ("unreadable-file", (tmp_path / "missing.pkl").as_uri()),
    }
    evil = next(r for r in run["results"] if "os:system" in r["message"]["text"])
    assert evil["locations"][0]["physicalLocation"]["region"] == {"byteOffset": 2, "byteLength": 1}
    numpy = next(r for r in run["results"] if "_reconstruct" in r["message"]["text"])
    assert "The shipped policy 'numpy' allows every refusal" in numpy["message"]["text"]


def test_sarif_uris_of_relative_paths_are_relative(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a dir").mkdir()
    (tmp_path / "a dir" / "evil.pkl").write_bytes(HOSTILE)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        code, out, _ = cli(capsys, "scan", "--format", "sarif", "a dir/evil.pkl")
    assert code == 1
    (result,) = json.loads(out)["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "a%20dir/evil.pkl"


def test_sarif_of_a_clean_scan_has_no_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.pkl").write_bytes(pickle.dumps([1, 2]))
    code, out, _ = cli(capsys, "scan", "--format", "sarif", str(tmp_path / "ok.pkl"))
    assert code == 0 and json.loads(out)["runs"][0]["results"] == []


# -- --jobs ------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for n in range(12):
        (tmp_path / f"d{n % 3}").mkdir(exist_ok=True)
        data = HOSTILE if n % 5 == 0 else pickle.dumps({"n": n, "items": list(range(n))}, n % 6)
        (tmp_path / f"d{n % 3}" / f"f{n:02}.pkl").write_bytes(data * (1 + n % 2))
    (tmp_path / "d1" / "bad.pkl").write_bytes(b"\x80\x04\x95")
    return tmp_path


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_jobs_output_equals_sequential(tree: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    sequential = cli(capsys, "scan", "-r", "--format", fmt, str(tree))
    parallel = cli(capsys, "scan", "-r", "--format", fmt, "--jobs", "2", str(tree))
    assert sequential[0] == 2
    assert parallel == sequential


def test_jobs_must_be_positive(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "scan", "--jobs", "0", str(tree / "d0" / "f00.pkl"))
    assert code == 2 and "--jobs must be at least 1" in err


# -- exit codes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"ok.pkl": pickle.dumps(1)}, 0),
        ({"ok.pkl": pickle.dumps(1), "evil.pkl": HOSTILE}, 1),
        ({"evil.pkl": HOSTILE, "bad.pkl": b"\x80\x04K"}, 2),
        ({"ok.pkl": pickle.dumps(1), "empty.pkl": b""}, 2),
    ],
    ids=["safe", "refused", "malformed wins", "empty file"],
)
def test_exit_codes(files: dict[str, bytes], expected: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [str(tmp_path / name) for name in files]
    for fmt in ("text", "json", "sarif"):
        assert cli(capsys, "scan", "--format", fmt, *paths)[0] == expected, fmt


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    for args in (["scan"], ["scan", "--format", "xml", "x"], ["scan", "--jobs", "x", "y"], ["nope"]):
        result = subprocess.run([sys.executable, "-m", "picklefence", *args], capture_output=True, timeout=60)
        assert result.returncode == 2, args


# -- pre-commit --------------------------------------------------------------------------


def test_pre_commit_manifest_names_the_console_script() -> None:
    yaml = pytest.importorskip("yaml")
    import tomllib

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert isinstance(hooks, list) and hooks
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"
        command, *args = hook["entry"].split()
        assert command in scripts
        assert args[0] == "scan"
        assert "--quiet" in args or "-q" in args
        assert "types" not in hook or set(hook["types"]) <= {"file", "binary"}
        assert hook.get("files"), "a pickle hook names the file patterns it vets"
    (scan,) = [h for h in hooks if h["id"] == "picklefence-scan"]
    import re

    pattern = re.compile(scan["files"])
    for name in ("model.pkl", "a/b.pickle", "w.pt", "w.pth", "m.joblib", "x.npy", "x.npz", "d.pkl.gz", "ckpt.bin"):
        assert pattern.search(name), name
    for name in ("README.md", "setup.py", "data.csv"):
        assert not pattern.search(name), name


def test_pre_commit_entry_runs_on_files_as_pre_commit_passes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (scan,) = [h for h in hooks if h["id"] == "picklefence-scan"]
    (tmp_path / "ok.pkl").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "evil.pkl").write_bytes(HOSTILE)
    _, *args = scan["entry"].split()
    assert cli(capsys, *args, *scan.get("args", []), str(tmp_path / "ok.pkl"))[0] == 0
    assert cli(capsys, *args, *scan.get("args", []), str(tmp_path / "ok.pkl"), str(tmp_path / "evil.pkl"))[0] == 1


# -- the library call --------------------------------------------------------------------


def test_scan_path_returns_the_records_scan_json_prints(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    records = [picklefence.scan_path(p, policy=Policy.named("default")) for p in files]
    json.dumps(records)  # plain data
    _, document = scan_json(capsys, "-r", str(tree))
    assert [p for r in records for p in r["pickles"]] == document["pickles"]
    assert [r["path"] for r in records] == [str(p) for p in files]


def test_scan_path_of_an_unreadable_file_reports_it(tmp_path: Path) -> None:
    record = picklefence.scan_path(tmp_path / "missing.pkl")
    assert record["pickles"] == []
    (error,) = record["errors"]
    assert error["path"] == str(tmp_path / "missing.pkl") and "No such file" in error["error"]


def _die(path: Path, spec: object) -> None:
    os._exit(3)  # a worker killed mid-scan (a crash in compiled code, the OOM killer)


def test_a_worker_that_dies_is_an_error_not_a_traceback(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import picklefence.cli

    monkeypatch.setattr(picklefence.cli, "_scan_one", _die)
    code, out, err = cli(capsys, "scan", "-r", "-q", "--jobs", "2", str(tree))
    assert code == 2 and out == ""
    assert "a scanning process died" in err


def test_learn_writes_one_rule_for_two_spellings_of_a_name(arrays: Path, capsys: pytest.CaptureFixture[str]) -> None:
    numpy1 = Path(__file__).parent / "data" / "ml" / "numpy1-float64-p4.pickle"  # numpy.core.multiarray
    assert b"numpy.core.multiarray" in numpy1.read_bytes()
    assert b"numpy._core.multiarray" in (arrays / "array.pkl").read_bytes()
    code, out, err = cli(capsys, "learn", str(numpy1), str(arrays / "array.pkl"), "-o", "-")
    assert code == 0, err
    assert out.count('[allow."numpy._core.multiarray:_reconstruct"]') == 1
    assert f'description = "Learned by picklefence from trusted files: {out.count("[allow.")} rules."' in out


def test_naming_the_fix_audits_each_stream_again_once_per_shipped_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fractions

    import picklefence._scan as scan

    many = tmp_path / "many.pkl"
    many.write_bytes(pickle.dumps(fractions.Fraction(1, 3), 2) * 2000)  # refused by default, allowed by stdlib
    calls: list[int] = []
    real = scan.audit_all

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(scan, "audit_all", counted)
    record = picklefence.scan_path(many)
    assert len(record["pickles"]) == 2000
    assert all(p["allowed_by"][0] == "stdlib" for p in record["pickles"])
    assert len(calls) <= 1 + len(Policy.shipped_names())
