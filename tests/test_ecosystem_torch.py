"""``picklefence.torch.patch``: third-party ``torch.load`` calls through the policy, with real torch
(skipped without torch, except where CI_REQUIRE names it: see conftest.py)."""

from __future__ import annotations

import io
import os
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

import picklefence

torch = pytest.importorskip("torch")
torch_hub = pytest.importorskip("torch.hub")  # a real third-party caller of torch.load


class _Evil:
    def __reduce__(self) -> Any:
        return (os.system, ("touch pwned",))


@pytest.fixture
def linear(tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    return model, path


@pytest.fixture
def evil(tmp_path: Path) -> Path:
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "payload": _Evil()}, path)
    return path


def _equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_state_dicts_load_through_the_patch(linear: tuple[torch.nn.Module, Path]) -> None:
    model, path = linear
    original = torch.load
    calls: list[str] = []
    with picklefence.torch.patch() as active:
        assert torch.load is not original
        assert active.policy == picklefence.Policy.named("torch")
        real = picklefence.torch.load

        def spy(*args: Any, **kwargs: Any) -> Any:
            calls.append("picklefence")
            return real(*args, **kwargs)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(picklefence.torch, "load", spy)
            state = torch.load(path)
        also = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=False)
        via_serialization = torch.serialization.load(str(path), weights_only=True)
    assert calls == ["picklefence"]
    assert _equal(state, model.state_dict()) and _equal(also, state) and _equal(via_serialization, state)
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    fresh.load_state_dict(state)
    assert torch.equal(fresh[0].weight, model[0].weight)


def test_a_third_party_loader_goes_through_the_patch(linear: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    model, path = linear
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "weights.pt").write_bytes(path.read_bytes())
    with picklefence.torch.patch():  # the file is "cached": torch.hub calls torch.load(cached_file, ...)
        state = torch_hub.load_state_dict_from_url("https://example.invalid/weights.pt", model_dir=str(hub))
    assert _equal(state, model.state_dict())


@pytest.mark.parametrize("weights_only", [None, True, False])
def test_a_hostile_checkpoint_is_refused(
    evil: Path, weights_only: bool | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with picklefence.torch.patch(), pytest.raises(picklefence.PolicyViolation) as refused:
        torch.load(evil, weights_only=weights_only)
    assert refused.value.name in ("posix:system", "os:system")
    assert not (tmp_path / "pwned").exists()


def test_a_hostile_checkpoint_in_a_third_party_loader_is_refused(
    evil: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "evil.pt").write_bytes(evil.read_bytes())
    monkeypatch.chdir(tmp_path)
    with picklefence.torch.patch(), pytest.raises(picklefence.UnpicklingError):
        torch_hub.load_state_dict_from_url("https://example.invalid/evil.pt", model_dir=str(hub), weights_only=False)
    assert not (tmp_path / "pwned").exists()


def test_the_patch_undoes_cleanly(linear: tuple[torch.nn.Module, Path], evil: Path) -> None:
    original, serialization = torch.load, torch.serialization.load
    with picklefence.torch.patch():
        pass
    assert torch.load is original and torch.serialization.load is serialization
    with pytest.raises(picklefence.PolicyViolation), picklefence.torch.patch():
        torch.load(evil)
    assert torch.load is original and torch.serialization.load is serialization
    with pytest.raises(KeyError), picklefence.torch.patch():
        raise KeyError("the caller's own error")
    assert torch.load is original and torch.serialization.load is serialization


def test_patches_nest_and_the_innermost_policy_applies(linear: tuple[torch.nn.Module, Path]) -> None:
    _, path = linear
    original = torch.load
    with picklefence.torch.patch():
        with picklefence.torch.patch(policy="default"), pytest.raises(picklefence.PolicyViolation):
            torch.load(path)
        assert torch.load is not original
        torch.load(path)
    assert torch.load is original
    outer = picklefence.torch.patch()
    inner = picklefence.torch.patch()
    outer.install()
    inner.install()
    with pytest.raises(RuntimeError, match="reverse order"):
        outer.uninstall()
    inner.uninstall()
    outer.uninstall()
    assert torch.load is original


def test_the_torch_patch_and_the_pickle_patch_are_independent() -> None:
    loads, load = pickle.loads, torch.load
    with picklefence.torch.patch():
        assert pickle.loads is loads
        with picklefence.patch():
            assert pickle.loads is not loads and torch.load is not load
        assert pickle.loads is loads and torch.load is not load
    assert torch.load is load


def test_unknown_keywords_are_refused_as_torch_would(linear: tuple[torch.nn.Module, Path]) -> None:
    _, path = linear
    with picklefence.torch.patch(), pytest.raises(TypeError, match="unexpected keyword"):
        torch.load(path, bogus=1)


def test_the_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```py\n(.*?)```", readme, flags=re.DOTALL) if "torch.patch" in b]
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    assert torch.load is torch.serialization.load  # undone
