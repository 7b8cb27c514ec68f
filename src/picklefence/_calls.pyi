from collections.abc import Callable
from typing import Any

class Dispatch:
    def __init__(
        self,
        fallback: Callable[[Any, Any], Any],
        call_only: type,
        plain: object,
        call_failed: Callable[[Any, Exception], BaseException],
        unpickling_error: type[BaseException],
        reduce_code: int,
        setitem_code: int,
        setitems_code: int,
        /,
    ) -> None: ...
    def __get__(self, obj: object, owner: type | None = None) -> Callable[[Any], Any]: ...
    def __call__(self, loader: Any, pid: Any, /) -> Any: ...

class Load:
    def __init__(self, engine: Any, /) -> None: ...

class Find:
    def __init__(
        self, fallback: Callable[[Any, str, str], Any], call_only: type, renamed: frozenset[str], /
    ) -> None: ...
    def __get__(self, obj: object, owner: type | None = None) -> Callable[[str, str], Any]: ...
    def __call__(self, loader: Any, module: str, name: str, /) -> Any: ...
