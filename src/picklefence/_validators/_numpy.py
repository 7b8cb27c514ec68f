"""Validators and checks for numpy objects (see the package docstring).

The random generators keep their state in C structs that ``__setstate__`` fills without
bounds checks: an MT19937 position past its 624-word key, or a Philox buffer position
past its four words, makes the next draw read (and keep reading) outside the struct.
The validators read the state back through the generators' own getters, so they judge
what the C code will use, however the pickle got it there.
"""

from __future__ import annotations

import sys
from typing import Any

from .._rules import Call, Check, Validator

__all__ = ["CHECKS", "VALIDATORS"]

_MT19937_WORDS = 624  # the key; position 624 means "regenerate before the next draw"
_PHILOX_WORDS = 4  # the output buffer; position 4 means "empty"
_MIN_POOL = 4  # numpy.random.bit_generator.DEFAULT_POOL_SIZE: SeedSequence refuses smaller
_MAX_POOL = 1 << 16  # far above any real pool; the pool itself is in the pickle


def _random() -> Any:
    return sys.modules["numpy"].random


def _uint_array(value: Any, length: int, name: str) -> str | None:
    numpy = sys.modules["numpy"]
    if type(value) is not numpy.ndarray or value.dtype.kind != "u" or value.shape != (length,):
        return f"{name} is not {length} unsigned words"
    return None


def _flag(state: dict[str, Any], name: str) -> str | None:
    value = state.get(name)
    return None if type(value) is int and value in (0, 1) else f"{name} {value!r} is not 0 or 1"


def _mt19937(inner: dict[str, Any]) -> str | None:
    pos = inner.get("pos")
    if type(pos) is not int or not 0 <= pos <= _MT19937_WORDS:
        return f"MT19937 position {pos!r} is past its {_MT19937_WORDS}-word key"
    return _uint_array(inner.get("key"), _MT19937_WORDS, "the MT19937 key")


def _philox(state: dict[str, Any]) -> str | None:
    pos = state.get("buffer_pos")
    if type(pos) is not int or not 0 <= pos <= _PHILOX_WORDS:
        return f"Philox buffer position {pos!r} is outside its {_PHILOX_WORDS}-word buffer"
    return _uint_array(state.get("buffer"), _PHILOX_WORDS, "the Philox buffer")


def bit_generator(obj: Any) -> str | None:
    """Every bit generator numpy ships: the positions its C code indexes with are inside
    their buffers, the cached-word flag is 0 or 1, and its seed sequence is numpy's."""
    random = _random()
    kinds = (random.MT19937, random.PCG64, random.PCG64DXSM, random.Philox, random.SFC64)
    if type(obj) not in kinds:
        return f"{type(obj).__name__} is not one of numpy's bit generators"
    state = obj.state
    if type(state) is not dict or state.get("bit_generator") != type(obj).__name__:
        return "its state does not name its own bit generator"
    seed_seq = obj._seed_seq
    if seed_seq is not None and type(seed_seq) is not random.SeedSequence:
        return f"its seed sequence is a {type(seed_seq).__name__}, not a SeedSequence"
    if type(obj) is random.MT19937:
        return _mt19937(state["state"])
    problem = _flag(state, "has_uint32")
    if problem is None and type(obj) is random.Philox:
        problem = _philox(state)
    return problem


def _wrapped(bit_gen: Any) -> str | None:
    random = _random()
    if type(bit_gen) not in (random.MT19937, random.PCG64, random.PCG64DXSM, random.Philox, random.SFC64):
        return f"it wraps a {type(bit_gen).__name__}, not one of numpy's bit generators"
    return bit_generator(bit_gen)


def generator(obj: Any) -> str | None:
    """``Generator`` draws through the bit generator it wraps (which the legacy
    ``(name, ctor)`` form makes itself, outside the load's view): validate that one."""
    return _wrapped(obj.bit_generator)


def random_state(obj: Any) -> str | None:
    """``RandomState``: its bit generator (set through ``set_state``, whose legacy tuple
    form takes the MT19937 position unchecked) and its cached-Gaussian flag."""
    problem = _wrapped(obj._bit_generator)
    if problem is None:
        problem = _flag(obj.get_state(legacy=False), "has_gauss")
    return problem


def seed_sequence(obj: Any) -> str | None:
    """``SeedSequence``: its Cython unpickler takes the pool and its size separately;
    they must agree (and a sequence unpickled without state has no pool at all)."""
    numpy = sys.modules["numpy"]
    size, pool = obj.pool_size, obj.pool
    if type(size) is not int or not _MIN_POOL <= size <= _MAX_POOL:
        return f"pool size {size!r} is not between {_MIN_POOL} and {_MAX_POOL}"
    if type(pool) is not numpy.ndarray or pool.dtype != numpy.uint32 or pool.shape != (size,):
        return f"its pool is not {size} uint32 words"
    key = obj.spawn_key
    if type(key) is not tuple or not all(_integer(k) and k >= 0 for k in key):
        return "its spawn key is not a tuple of non-negative ints"
    entropy = obj.entropy
    if entropy is not None and not _integer(entropy):
        ints = numpy.asarray(entropy) if type(entropy) in (list, tuple, numpy.ndarray) else None
        if ints is None or ints.ndim != 1 or ints.dtype.kind not in "iuO":
            return "its entropy is not an int or a sequence of ints"
    return None


def _integer(value: object) -> bool:
    """A Python int or a numpy integer scalar (``SeedSequence(np.int64(3))`` keeps it)."""
    return type(value) is int or isinstance(value, sys.modules["numpy"].integer)


def mareconstruct(call: Call) -> bool:
    """``_mareconstruct(MaskedArray, ndarray, baseshape, "b")`` allocates the data and the
    mask of ``baseshape`` (numpy writes ``(0,)``; BUILD fills them): charge both."""
    if len(call.args) != 4 or call.kwargs:
        return False
    subtype, baseclass, shape, code = call.args
    if call.global_name(subtype) not in ("numpy.ma:MaskedArray", "numpy.ma.core:MaskedArray"):
        return False
    if call.global_name(baseclass) != "numpy:ndarray" or code != "b" or type(shape) is not tuple or len(shape) > 1:
        return False
    if not all(type(dim) is int and dim >= 0 for dim in shape):
        return False
    call.spend(2 * (shape[0] if shape else 1))
    return True


VALIDATORS: dict[str, Validator] = {
    "numpy_bit_generator": bit_generator,
    "numpy_generator": generator,
    "numpy_random_state": random_state,
    "numpy_seed_sequence": seed_sequence,
}
CHECKS: dict[str, Check] = {"numpy_mareconstruct": mareconstruct}
