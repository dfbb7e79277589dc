"""The seam between the switch and the online-store types: one driver interface, one observation."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any, Protocol

from ..api.models import StoreRecord
from .context import ReconcileContext


@dataclass(frozen=True)
class StoreObservation:
    """What a driver saw of one recorded store (reads only)."""

    ready: bool
    reason: str
    message: str
    endpoint: str = ""  # where the store answers, when the driver learns it (a managed group's primary)
    secret_checksum: str = ""  # of the password the clients use: a change rolls them
    error: bool = False  # will not resolve by waiting: someone has to change something
    gone: bool = False  # nothing of the store is left where it ran
    detail: Any = None  # driver-private (the AWS description of a group)


class StoreDriver(Protocol):
    def desired_record(self, ctx: ReconcileContext, recorded: Sequence[StoreRecord]) -> StoreRecord:
        """The store the spec asks for, given the stores the status records (reads nothing)."""

    async def observe(self, ctx: ReconcileContext, record: StoreRecord) -> StoreObservation:
        """Read the store's state; never writes."""

    async def provision(self, ctx: ReconcileContext, record: StoreRecord, seen: StoreObservation) -> None:
        """Create or update the store to the spec; only ever called for the store the spec asks for."""

    async def retire(self, ctx: ReconcileContext, record: StoreRecord) -> None:
        """Remove the store as its record says (its deletion policy), never as today's spec says."""
