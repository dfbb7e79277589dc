"""What keeps predictions fast and honest while the online store is down."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Features = TypeVar("Features")


class StaleCache(Generic[Features]):
    """The last features seen per entity, least recently used evicted first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, Features] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, key: Hashable, features: Features) -> None:
        entries = self._entries
        entries[key] = features
        entries.move_to_end(key)
        if len(entries) > self.capacity:
            entries.popitem(last=False)

    def recall(self, key: Hashable) -> Features | None:
        features = self._entries.get(key)
        if features is not None:
            self._entries.move_to_end(key)
        return features


class StoreBreaker:
    """After a failed lookup, skip the store for `retry_after` seconds.

    While the store is down every request would otherwise wait for a connect timeout; with
    the breaker open they answer at once (stale or 503), and one request per interval tries
    again. A successful readiness probe closes it early.
    """

    def __init__(self, retry_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_after = retry_after
        self._clock = clock
        self._skip_until = 0.0
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        return self._clock() < self._skip_until

    def allows_attempt(self) -> bool:
        """True when a request should try the store; claims the next retry slot when open."""
        now = self._clock()
        if now < self._skip_until:
            return False
        if self.last_error is not None:
            self._skip_until = now + self.retry_after  # others wait while this one retries
        return True

    def record_failure(self, error: str) -> None:
        self.last_error = error
        self._skip_until = self._clock() + self.retry_after

    def record_success(self) -> None:
        self.last_error = None
        self._skip_until = 0.0
