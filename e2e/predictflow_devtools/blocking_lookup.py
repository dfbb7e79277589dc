"""The shipped AsyncFeatureLookup, driven from blocking test code.

Each instance owns an event loop, so a test calls `get_many` like a function and exercises the
read path the service runs, not a second implementation of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from predictflow_serving.lookup import lookup_for
from predictflow_serving.plan import FeatureRow, LookupPlan
from predictflow_serving.store_client import Timeouts, async_online_client


class BlockingLookup:
    def __init__(self, plan: LookupPlan, connection_string: str, timeouts: Timeouts | None = None, *, cluster: bool = False) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = async_online_client(connection_string, timeouts or Timeouts(), cluster=cluster)
        self.lookup = lookup_for(plan, self._client)

    @property
    def plan(self) -> LookupPlan:
        return self.lookup.plan

    def get(self, row: Mapping[str, Any]) -> FeatureRow:
        return self._loop.run_until_complete(self.lookup.get(row))

    def get_many(self, rows: Sequence[Mapping[str, Any]]) -> list[FeatureRow]:
        return self._loop.run_until_complete(self.lookup.get_many(rows))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def __enter__(self) -> BlockingLookup:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
