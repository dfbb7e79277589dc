"""Polling for things that happen asynchronously (controllers, garbage collection, probes)."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], *, what: str, timeout: float = 60.0, interval: float = 0.2) -> T:
    """Return the first truthy result of `check`; fail the test after `timeout` (a generous bound)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # not there yet (404, connection refused, assertion)
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (f": {last_error}" if last_error else ""))
