"""The seam between the switch and the online-store types: one driver interface, one observation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..api.models import FeatureStoreSpec, StoreRecord
from .context import ReconcileContext


@dataclass(frozen=True)
class BilledNodes:
    """What a store type is billed by: its nodes where a price list knows them."""

    region: str
    node_type: str
    count: int


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
    settling: bool = False  # changing by itself where no watch sees it (a Redis Cluster forming or failing over): look again soon
    topology: tuple[Any, ...] = ()  # a Redis Cluster's shards (redis_topology.Shard), for status


class StoreDriver(Protocol):
    """One module per store type (reconcilers.redis, reconcilers.elasticache), with its pure half in
    builders (the record, its key and credentials: builders.store.Layout). The switch uses only this."""

    STORE_TYPE: str

    def desired_record(self, ctx: ReconcileContext, recorded: Sequence[StoreRecord]) -> StoreRecord:
        """The store the spec asks for, given the stores the status records (reads nothing)."""

    async def observe(self, ctx: ReconcileContext, record: StoreRecord) -> StoreObservation:
        """Read the store's state; never writes."""

    async def provision(self, ctx: ReconcileContext, record: StoreRecord, seen: StoreObservation) -> None:
        """Create or update the store to the spec; only ever called for the store the spec asks for."""

    async def retire(self, ctx: ReconcileContext, record: StoreRecord) -> None:
        """Remove the store as its record says (its deletion policy), never as today's spec says."""

    def outside_cluster(self, record: StoreRecord) -> bool:
        """The store lives where no watch sees it and no owner reference removes it: it is polled,
        and the FeatureStore's deletion waits for `retire`."""

    def asks_outside_cluster(self, spec: FeatureStoreSpec) -> bool:
        """outside_cluster() of the store the spec asks for, before any is recorded."""

    def completed(self, ctx: ReconcileContext, record: StoreRecord) -> StoreRecord:
        """The full record of one written before records were complete (type and endpoint only)."""

    def memory_limit(self, seen: StoreObservation) -> int | None:
        """The memory limit of the store's Redis container, where the operator sets one."""

    def billed_nodes(self, record: StoreRecord, seen: StoreObservation) -> BilledNodes | None:
        """The nodes a cloud bills for, as the cloud reports them; None for a store in the cluster."""
