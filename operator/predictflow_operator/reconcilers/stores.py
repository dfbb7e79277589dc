"""The store drivers by type: the only place the switch learns what kinds of store exist."""

from __future__ import annotations

from typing import cast

from . import elasticache, redis
from .store import StoreDriver

DRIVERS: dict[str, StoreDriver] = {module.STORE_TYPE: cast(StoreDriver, module) for module in (redis, elasticache)}


def driver(store_type: str) -> StoreDriver:
    return DRIVERS[store_type]
