"""``import picklefence as pickle``: the names common pickle code uses are there, and mean the same."""

from __future__ import annotations

import pickle

import pytest

import picklefence

from .hostile import call, g, stop, u

NAMES = ("HIGHEST_PROTOCOL", "DEFAULT_PROTOCOL", "PickleBuffer", "PickleError", "PicklingError", "UnpicklingError")


@pytest.mark.parametrize("name", NAMES)
def test_the_name_is_public(name: str) -> None:
    assert name in picklefence.__all__
    assert getattr(picklefence, name) is not None


def test_constants_and_buffer_are_pickles_own() -> None:
    assert picklefence.HIGHEST_PROTOCOL == pickle.HIGHEST_PROTOCOL
    assert picklefence.DEFAULT_PROTOCOL == pickle.DEFAULT_PROTOCOL
    assert picklefence.PickleBuffer is pickle.PickleBuffer


def test_errors_are_caught_by_pickles_names_and_by_picklefences() -> None:
    assert issubclass(picklefence.UnpicklingError, pickle.UnpicklingError)
    assert issubclass(picklefence.PicklingError, pickle.PicklingError)
    for error in (picklefence.UnpicklingError, picklefence.PicklingError, pickle.UnpicklingError):
        assert issubclass(error, picklefence.PickleError)


def test_common_code_runs_with_picklefence_as_pickle() -> None:
    import picklefence as pickle  # the drop-in

    data = {"a": [1, 2.0], "b": (b"x", None)}
    blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    assert pickle.loads(blob) == data
    assert pickle.loads(pickle.dumps(data, pickle.DEFAULT_PROTOCOL)) == data
    buffers: list[pickle.PickleBuffer] = []
    payload = bytearray(b"abc")
    blob = pickle.dumps(pickle.PickleBuffer(payload), protocol=5, buffer_callback=buffers.append)
    assert bytes(pickle.loads(blob, buffers=buffers)) == b"abc"
    try:
        pickle.loads(stop(call(g("os", "system"), u("touch pwned")), 2))
    except pickle.UnpicklingError as exc:
        assert "os:system" in str(exc)
    else:
        raise AssertionError("refused")

    class Local:
        pass

    with pytest.raises(pickle.PickleError):
        pickle.dumps(Local())
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(Local())
