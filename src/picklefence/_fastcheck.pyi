from collections.abc import Iterator
from typing import Any

def verify(
    data: bytes | bytearray | memoryview,
    max_memo_index: int,
    max_memo_entries: int,
    max_mark_depth: int,
    max_string_bytes: int,
    /,
) -> tuple[int, int, bool]: ...
def prepare(
    data: bytes | bytearray | memoryview,
    max_memo_index: int,
    max_memo_entries: int,
    max_mark_depth: int,
    max_string_bytes: int,
    /,
) -> tuple[int, int, bool, Program | None]: ...
def use_shuffle(enabled: bool, /) -> bool: ...

class Program(Iterator[Any]):
    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        max_memo_index: int,
        max_memo_entries: int,
        max_mark_depth: int,
        max_string_bytes: int,
        /,
    ) -> None: ...
    def read(self, n: int, /) -> bytes: ...
    def readline(self) -> bytes: ...
    def __next__(self) -> Any: ...
    @property
    def end(self) -> int: ...

OPCODES: tuple[tuple[int, str, int, int, int, int], ...]
C_REDUCE: int
C_BUILD: int
C_NEWOBJ: int
C_NEWOBJ_EX: int
C_APPEND: int
C_APPENDS: int
C_SETITEM: int
C_SETITEMS: int
C_ADDITEMS: int
C_LATIN1: int
RUNS: int
MARKED: int
PUSHES_MARK: int
PAYLOAD_MIN: int
CHUNK: int
