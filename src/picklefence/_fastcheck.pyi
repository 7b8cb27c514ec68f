from collections.abc import Iterator
from typing import Any

def verify(
    data: bytes, max_memo_index: int, max_memo_entries: int, max_mark_depth: int, max_string_bytes: int, /
) -> tuple[int, int, bytes | None, Iterator[Any] | None]: ...
def use_shuffle(enabled: bool, /) -> bool: ...
