"""The store drivers by type: the only place the switch learns what kinds of store exist."""

from __future__ import annotations

from typing import cast

from . import elasticache, redis
from .store import StoreDriver

DRIVERS: dict[str, StoreDriver] = {"redis": cast(StoreDriver, redis), "elasticache": cast(StoreDriver, elasticache)}


def driver(store_type: str) -> StoreDriver:
    return DRIVERS[store_type]
