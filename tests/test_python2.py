"""Pickles written by Python 2.7 (pickle and cPickle, protocols 0-2), checked in as
golden files: they load under the shipped policies exactly as CPython 3 loads them."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import picklefence

DATA = Path(__file__).parent / "data" / "py2"
FILES = sorted(DATA.glob("*.pickle"))


def test_golden_files_are_present() -> None:
    assert len(FILES) == 12


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
@pytest.mark.parametrize("encoding", ["latin1", "bytes"])
def test_python2_pickle_loads_like_cpython(path: Path, encoding: str) -> None:
    data = path.read_bytes()
    policy = "stdlib" if path.name.startswith("stdlib") else "default"
    try:
        expected = pickle.loads(data, encoding=encoding)
    except Exception:  # e.g. bytearray(b'...', b'latin-1'): Python 2 text read as bytes
        with pytest.raises(picklefence.UnpicklingError):
            picklefence.loads(data, policy=policy, encoding=encoding)
        return
    ours = picklefence.loads(data, policy=policy, encoding=encoding)
    assert ours == expected
    assert pickle.dumps(ours, 4) == pickle.dumps(expected, 4)


def test_python2_default_policy_refuses_stdlib_types() -> None:
    with pytest.raises(picklefence.PolicyViolation):
        picklefence.loads((DATA / "stdlib-p2.pickle").read_bytes(), encoding="latin1")
