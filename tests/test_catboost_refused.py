"""catboost has no policy (README, "catboost has no policy"): its pickled model is its
own binary format, which ``__setstate__`` hands to catboost's C++ loader and which
picklefence cannot check yet.  A real fitted model is refused under every shipped policy,
at the lookup of its class, before anything of catboost runs; the scanner calls the file
refused.  Skipped where catboost is not installed."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import picklefence
from picklefence import Policy, PolicyViolation

np = pytest.importorskip("numpy")
catboost = pytest.importorskip("catboost")


@pytest.fixture(scope="module")
def model_pickles() -> dict[int, bytes]:
    rng = np.random.RandomState(0)
    x = rng.rand(40, 3)
    model = catboost.CatBoostClassifier(iterations=3, depth=2, verbose=False, allow_writing_files=False)
    model.fit(x, (x[:, 0] > 0.5).astype(int))
    data = {protocol: pickle.dumps(model, protocol) for protocol in (2, 4, 5)}
    assert b"CBM1" in data[5]  # the native model the C++ loader would parse
    return data


@pytest.mark.parametrize("policy", Policy.shipped_names())
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_catboost_model_is_refused_under_every_shipped_policy(
    model_pickles: dict[int, bytes], policy: str, protocol: int
) -> None:
    loaded = []
    original = catboost.CatBoost._deserialize_model  # what __setstate__ hands the model to
    catboost.CatBoost._deserialize_model = lambda *args: loaded.append(args)  # type: ignore[method-assign]
    try:
        with pytest.raises(PolicyViolation) as caught:
            picklefence.loads(model_pickles[protocol], policy=policy)
    finally:
        catboost.CatBoost._deserialize_model = original  # type: ignore[method-assign]
    assert (caught.value.module, caught.value.qualname) == ("catboost.core", "CatBoostClassifier")
    assert caught.value.capability == "reference"
    assert loaded == []


def test_the_scanner_calls_a_catboost_file_refused(model_pickles: dict[int, bytes], tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(model_pickles[5])
    proc = subprocess.run(
        [sys.executable, "-m", "picklefence", "scan", "--policy", "ml", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "catboost.core:CatBoostClassifier" in proc.stdout and "REFUSED" in proc.stdout
