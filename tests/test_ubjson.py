"""The bounded UBJSON reader that xgboost models are checked with: what it reads, and
that every malformed or oversized input is an ``UBJSONError`` before any allocation."""

from __future__ import annotations

import struct
from array import array

import pytest

from picklefence._ubjson import UBJSONError, parse


def _n(value: int) -> bytes:
    return b"L" + struct.pack(">q", value)


def test_reads_what_xgboost_writes() -> None:
    data = (
        b"{" + _n(1) + b"a" + b"[$l#" + _n(2) + struct.pack(">ii", 1, -1)
        + _n(1) + b"b" + b"S" + _n(2) + b"hi"
        + _n(1) + b"c" + b"[#" + _n(3) + b"i\x05TZ"
        + _n(1) + b"d" + b"d" + struct.pack(">f", 0.5)
        + _n(1) + b"e" + b"{}" + b"}"
    )  # fmt: skip
    assert parse(data) == {"a": array("i", [1, -1]), "b": "hi", "c": [5, True, None], "d": 0.5, "e": {}}
    assert parse(b"[i\x01N]") == [1]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"{" + _n(1) + b"a", "truncated"),
        (b"S" + _n(1 << 40), "reaches past the end"),
        (b"[$D#" + _n(1 << 60), "reaches past the end"),
        (b"[#" + _n(1 << 40) + b"Z", "reaches past the end"),
        (b"S" + _n(-1), "negative length"),
        (b"Sd" + struct.pack(">f", 1.0), "must be an integer"),
        (b"S" + _n(2) + b"\xff\xfe", "not UTF-8"),
        (b"{" + _n(1) + b"a" + b"Z" + _n(1) + b"a" + b"Z}", "appears twice"),
        (b"H" + _n(1) + b"1", "unknown marker"),
        (b"[$S#" + _n(1) + b"L", "not read"),
        (b"{#" + _n(0), "not read"),
        (b"Z" + b"Z", "trailing bytes"),
        (b"[" * 65 + b"]" * 65, "nested deeper than 64"),
        ((b"{" + _n(1) + b"a") * 65 + b"Z" + b"}" * 65, "nested deeper than 64"),
    ],
)
def test_refuses_malformed_input(data: bytes, words: str) -> None:
    with pytest.raises(UBJSONError, match=words):
        parse(data)
