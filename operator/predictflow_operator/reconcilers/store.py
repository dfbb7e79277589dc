"""The result every online-store reconciler returns."""

from __future__ import annotations

from dataclasses import dataclass

from ..builders.store import StoreTarget


@dataclass(frozen=True)
class StoreState:
    type: str
    target: StoreTarget | None  # None until the endpoint is known
    ready: bool
    reason: str
    message: str
    secret_checksum: str = ""
