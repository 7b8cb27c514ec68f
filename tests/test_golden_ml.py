"""Pickles written by older library versions (numpy 1.26, pandas 2.2 with pytz), checked
in as golden files: a rename between versions must never silently break loading."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import pytest

import picklefence

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

DATA = Path(__file__).parent / "data" / "ml"
FILES = sorted(DATA.glob("*.pickle"))


def test_golden_files_are_present() -> None:
    assert len(FILES) == 48


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_old_library_pickle_loads_like_cpython(path: Path) -> None:
    if "-tz-" in path.name or "timestamp" in path.name:
        pytest.importorskip("pytz")
    data = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy.core is deprecated in numpy 2
        expected = pickle.loads(data)
        ours = picklefence.loads(data, policy="pandas" if path.name.startswith("pandas") else "numpy")
    assert type(ours) is type(expected)
    if isinstance(expected, (pd.DataFrame, pd.Series, pd.Index)):
        assert ours.equals(expected)
    elif isinstance(expected, np.ndarray):
        assert ours.dtype == expected.dtype and np.array_equal(ours, expected)
        assert ours.flags.f_contiguous == expected.flags.f_contiguous
    elif isinstance(expected, np.random.RandomState):
        assert str(ours.get_state()) == str(expected.get_state())
    else:
        assert ours == expected


def test_numpy1_pickles_use_the_old_module_names() -> None:
    data = (DATA / "numpy1-float64-p4.pickle").read_bytes()
    names = {use.name for use in picklefence.audit(data, policy="numpy").globals}
    assert "numpy.core.multiarray:_reconstruct" in names
