"""What status says about the serving store itself: freshness, memory and cost, and their conditions.

`assess` takes the FeatureStore's newest reading of the store (store_reading.StoreReader, which
reads on its own task) and asks the driver for the container limit and the billed nodes;
`assessment` decides from those alone, so it is tested without a store.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from .. import capacity, freshness, pricing
from ..api.models import FeatureStoreSpec, StoreRecord
from ..status import FRESH, MEMORY_PRESSURE, Check
from . import store_reading
from .context import ReconcileContext
from .store import BilledNodes, StoreObservation
from .stores import driver


@dataclass(frozen=True)
class Assessment:
    checks: dict[str, Check]
    freshness: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    next_stale_in: float | None = None  # seconds until a fresh view turns stale


@dataclass(frozen=True)
class LastTold:
    """What status last said of the serving store: kept while there is nothing newer (after a restart,
    before the reader's first reading), so a restarted operator writes nothing."""

    memory: dict[str, Any] | None = None
    freshness: dict[str, Any] | None = None
    checks: dict[str, Check] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """Everything `assessment` decides from."""

    reading: store_reading.StoreReading | None  # None: nothing serves yet, or not read yet (endpoint set)
    endpoint: str = ""
    container_limit: int | None = None
    billed: BilledNodes | None = None
    last: LastTold = field(default_factory=LastTold)
    prices: dict[str, Any] = field(default_factory=dict)


def assessment(spec: FeatureStoreSpec, inputs: Inputs, now: datetime.datetime) -> Assessment:
    billed = inputs.billed
    cost = pricing.monthly_cost(inputs.prices, billed.region, billed.node_type, billed.count) if billed else None
    reading = inputs.reading
    if reading is None and not inputs.endpoint:
        waiting = Check(None, "NotServing", "Read from the serving store once one serves")
        return Assessment({FRESH: waiting, MEMORY_PRESSURE: waiting}, cost=cost)
    last = inputs.last
    if reading is None:
        waiting = Check(None, "NotReadYet", f"The serving store at {inputs.endpoint} has not been read yet")
        checks = {kind: last.checks.get(kind, waiting) for kind in (FRESH, MEMORY_PRESSURE)}
        return Assessment(checks, freshness=last.freshness, memory=last.memory, cost=cost)
    if reading.error or reading.memory is None:
        unreadable = Check(None, "StoreUnreadable", f"Cannot read the serving store at {inputs.endpoint}: {reading.error}")
        # Still unreadable: the error first told stays (a DNS failure and a timeout take turns under load).
        told = [last.checks.get(kind) for kind in (FRESH, MEMORY_PRESSURE)]
        if all(check is not None and check.reason == "StoreUnreadable" for check in told):
            unreadable = told[0] or unreadable
        return Assessment({FRESH: unreadable, MEMORY_PRESSURE: unreadable}, memory=last.memory, cost=cost)
    memory = capacity.memory_status(reading.memory, inputs.container_limit, last.memory)
    pressure = capacity.pressure_check(memory, spec.online_store.memory_pressure_percent)
    try:
        limit = freshness.threshold(spec.materialization, now)
    except ValueError as error:  # a schedule the API admits and croniter cannot read
        unknown = Check(None, "ScheduleUnreadable", f"spec.materialization.schedule: {error}; set freshnessThresholdSeconds")
        return Assessment({FRESH: unknown, MEMORY_PRESSURE: pressure}, memory=memory, cost=cost)
    return Assessment(
        checks={FRESH: freshness.fresh_check(reading.watermarks, limit, now, spec.materialization.suspend), MEMORY_PRESSURE: pressure},
        freshness=freshness.freshness_status(reading.watermarks, limit) if reading.watermarks else None,
        memory=memory,
        cost=cost,
        next_stale_in=freshness.seconds_until_stale(reading.watermarks, limit, now),
    )


def assess(ctx: ReconcileContext, active: StoreRecord | None, seen: StoreObservation | None, last: LastTold) -> Assessment:
    prices = pricing.usable_price_list(ctx.settings.elasticache_prices)
    if active is None or seen is None:
        return assessment(ctx.spec, Inputs(None, prices=prices), datetime.datetime.now(datetime.UTC))
    store = driver(active.type)
    reader = ctx.memo.store_readers.get(ctx.owner.uid)
    reading = reader.reading_of(active) if reader is not None else None
    if reader is not None and reading is None:
        reader.due.set()  # a store that just started serving is read now, not at the next interval
    inputs = Inputs(
        reading=reading,
        endpoint=active.endpoint,
        container_limit=store.memory_limit(seen),
        billed=store.billed_nodes(active, seen),
        last=last,
        prices=prices,
    )
    return assessment(ctx.spec, inputs, datetime.datetime.now(datetime.UTC))
