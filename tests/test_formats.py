"""Formats and integrations: torch checkpoints, joblib files, numpy files, compressed
pickles, and the pickle patch — compared with each library's own loader, and their
hostile variants refused without effects."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

import picklefence
from picklefence import LimitExceededError, Limits, PolicyViolation, UnpicklingError

from .hostile import call, g, stop, u

warnings.filterwarnings("ignore", category=DeprecationWarning)


class Evil:
    """Pickles as os.system("touch pwned"): what a hostile file carries."""

    def __reduce__(self) -> Any:
        return (os.system, ("touch pwned",))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- compressed pickles -----------------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "bz2", "xz", "zip"])
def test_compressed_dataframe_pickles_load(compression: str, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = tmp_path / "frame.pkl.anything"  # the name says nothing: magic bytes decide
    frame.to_pickle(path, compression=compression)
    assert picklefence.loads(path.read_bytes(), policy="pandas").equals(frame)
    with path.open("rb") as f:
        assert picklefence.load(f, policy="pandas").equals(frame)


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"\x80\x04" + b"N0" * (1 << 20) + b"N.")
    assert picklefence.loads(bomb) is None
    with pytest.raises(LimitExceededError) as info:
        picklefence.loads(bomb, limits=Limits(max_decompressed_bytes=1 << 16))
    assert info.value.limit == "max_decompressed_bytes"


def test_compressed_hostile_pickle_is_refused(workdir: Path) -> None:
    with pytest.raises(PolicyViolation):
        picklefence.loads(gzip.compress(pickle.dumps(Evil())))
    assert not (workdir / "pwned").exists()


def test_plain_load_keeps_reading_concatenated_pickles() -> None:
    stream = io.BytesIO(pickle.dumps(1) + pickle.dumps(2))
    assert [picklefence.load(stream), picklefence.load(stream)] == [1, 2]


# -- numpy files ------------------------------------------------------------------------


def test_npz_with_an_object_array(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "bundle.npz"
    np.savez(path, plain=np.arange(3.0), objects=np.array([{"k": 1}, None, "s"], dtype=object))
    ours = picklefence.numpy.load(path)
    with np.load(path, allow_pickle=True) as theirs:
        assert ours.keys() == set(theirs.keys())
        for key in theirs:
            assert ours[key].dtype == theirs[key].dtype
            assert list(ours[key]) == list(theirs[key])


def test_npy_plain_and_object(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "plain.npy", np.arange(6).reshape(2, 3))
    np.save(tmp_path / "objects.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
    assert np.array_equal(picklefence.numpy.load(tmp_path / "plain.npy"), np.arange(6).reshape(2, 3))
    assert list(picklefence.numpy.load(tmp_path / "objects.npy")) == [1, "a", None]


def test_hostile_object_npy_is_refused(workdir: Path) -> None:
    np = pytest.importorskip("numpy")
    np.save(workdir / "objects.npy", np.array([None], dtype=object), allow_pickle=True)
    data = (workdir / "objects.npy").read_bytes()
    header_end = data.index(b"\n") + 1
    hostile = data[:header_end] + stop(call(g("builtins", "eval"), u("open('pwned', 'w')")), 3)
    (workdir / "evil.npy").write_bytes(hostile)
    with pytest.raises(PolicyViolation) as info:
        picklefence.numpy.load(workdir / "evil.npy")
    assert info.value.name == "builtins:eval"
    assert not (workdir / "pwned").exists()


# -- joblib -----------------------------------------------------------------------------


def _pipeline() -> tuple[Any, Any]:
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(0).random((40, 4))
    return make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)).fit(
        X, [0, 1] * 20
    ), X


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)], ids=str)
def test_joblib_pipeline_predicts_like_joblib(compress: Any, tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    pipe, X = _pipeline()
    path = tmp_path / "model.joblib"
    joblib.dump(pipe, path, compress=compress)
    assert np.array_equal(picklefence.joblib.load(path).predict(X), joblib.load(path).predict(X))


def test_joblib_arrays_of_every_layout(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    arrays = {
        "c": np.arange(12.0).reshape(3, 4),
        "fortran": np.asfortranarray(np.ones((3, 2))),
        "objects": np.array([1, "x", None], dtype=object),
        "empty": np.zeros((0, 2)),
        "0-d": np.array(5),
    }
    joblib.dump(arrays, tmp_path / "arrays.joblib")
    ours, theirs = picklefence.joblib.load(tmp_path / "arrays.joblib"), joblib.load(tmp_path / "arrays.joblib")
    for key, expected in theirs.items():
        assert ours[key].dtype == expected.dtype and ours[key].shape == expected.shape
        assert ours[key].flags.f_contiguous == expected.flags.f_contiguous
        assert list(ours[key].ravel()) == list(expected.ravel())


def test_hostile_joblib_file_is_refused(workdir: Path) -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    joblib.dump({"weights": np.ones(3), "payload": Evil()}, workdir / "evil.joblib")
    with pytest.raises(PolicyViolation) as info:
        picklefence.joblib.load(workdir / "evil.joblib")
    assert info.value.name == "posix:system"
    assert not (workdir / "pwned").exists()


def test_joblib_array_claiming_more_than_the_file_is_refused(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    joblib.dump(np.ones(4), tmp_path / "a.joblib")
    data = (tmp_path / "a.joblib").read_bytes()
    assert data.count(b"K\x04\x85") == 1  # the shape (4,) as BININT1 4, TUPLE1
    (tmp_path / "big.joblib").write_bytes(data.replace(b"K\x04\x85", b"J\x00\x00\x00\x40\x85"))
    with pytest.raises(UnpicklingError):
        picklefence.joblib.load(tmp_path / "big.joblib")


# -- torch ------------------------------------------------------------------------------


def test_torch_state_dict_and_optimizer_state(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(6, 4)).sum().backward()
    optimizer.step()
    for name, obj in {"model": model.state_dict(), "optimizer": optimizer.state_dict()}.items():
        path = tmp_path / f"{name}.pt"
        torch.save(obj, path)
        ours, theirs = picklefence.torch.load(path), torch.load(path, weights_only=True)
        assert repr(ours) == repr(theirs), name
    assert picklefence.torch.load(tmp_path / "model.pt", map_location="cpu").keys() == model.state_dict().keys()


def test_torch_checkpoint_calling_os_system_is_refused(workdir: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(1), "payload": Evil()}, workdir / "evil.pt")
    with pytest.raises(PolicyViolation):
        picklefence.torch.load(workdir / "evil.pt")
    assert not (workdir / "pwned").exists()


# -- patch ------------------------------------------------------------------------------


def test_patch_routes_pandas_read_pickle(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2]})
    frame.to_pickle(tmp_path / "frame.pkl")
    original = pickle.loads
    with picklefence.patch(policy="pandas"):
        assert pickle.loads is not original
        assert pd.read_pickle(tmp_path / "frame.pkl").equals(frame)
        with pytest.raises(PolicyViolation):
            pickle.loads(pickle.dumps(Evil()))
    assert pickle.loads is original


def test_patch_leaves_no_fallback_to_a_laxer_unpickler(workdir: Path) -> None:
    pd = pytest.importorskip("pandas")
    # An allowed call that raises TypeError, then os.system: pandas.read_pickle retries
    # with its own unrestricted unpickler on TypeError, so the error must not be one.
    bait = call(g("pandas._libs.tslibs.offsets", "Day"), u("not a number"))
    (workdir / "evil.pkl").write_bytes(stop(bait + b"0" + call(g("os", "system"), u("touch pwned")), 2))
    with picklefence.patch(policy="pandas"), pytest.raises(UnpicklingError) as info:
        pd.read_pickle(workdir / "evil.pkl")
    assert not isinstance(info.value, TypeError)
    assert not (workdir / "pwned").exists()


def test_patch_install_uninstall_and_nesting() -> None:
    original = (pickle.load, pickle.loads, pickle.Unpickler)
    outer = picklefence.patch(policy="stdlib")
    outer.install()
    try:
        import datetime

        assert pickle.loads(pickle.dumps(datetime.date(2020, 1, 1))) == datetime.date(2020, 1, 1)
        with picklefence.patch(policy="default"):
            with pytest.raises(PolicyViolation):
                pickle.loads(pickle.dumps(datetime.date(2020, 1, 1)))
            unpickler = pickle.Unpickler(io.BytesIO(pickle.dumps([1])))
            assert isinstance(unpickler, picklefence.Unpickler) and unpickler.load() == [1]
        assert pickle.loads(pickle.dumps(datetime.date(2020, 1, 1))) == datetime.date(2020, 1, 1)
        with pytest.raises(RuntimeError):
            outer.install()
    finally:
        outer.uninstall()
    assert (pickle.load, pickle.loads, pickle.Unpickler) == original


def test_patch_from_threads() -> None:
    results: list[object] = []
    with picklefence.patch():
        threads = [
            threading.Thread(target=lambda: results.append(pickle.loads(pickle.dumps([1, 2])))) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [[1, 2]] * 8
