"""Standard-library objects, under ``policy="stdlib"``."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import uuid
from collections.abc import Iterator

from . import Artifact


def artifacts() -> Iterator[Artifact]:
    yield Artifact("stdlib/datetime", lambda: datetime.datetime(2024, 5, 6, 7, 8, 9, 10), "stdlib")
    yield Artifact("stdlib/decimal", lambda: decimal.Decimal("1.25"), "stdlib")
    yield Artifact("stdlib/fraction", lambda: fractions.Fraction(3, 7), "stdlib")
    yield Artifact("stdlib/uuid", lambda: uuid.UUID(int=12345), "stdlib")
    yield Artifact("stdlib/ordereddict", lambda: collections.OrderedDict(a=1, b=[2, 3]), "stdlib")
