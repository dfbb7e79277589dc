"""Conditions and phase: what `kubectl get pfs` and `kubectl wait --for=condition=Ready` read."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

ONLINE_STORE_READY = "OnlineStoreReady"
MATERIALIZED = "Materialized"
SERVING_READY = "ServingReady"
READY = "Ready"
# What the operator reads from the serving store; Ready does not wait on them.
FRESH = "Fresh"
MEMORY_PRESSURE = "MemoryPressure"
CONDITION_TYPES = (ONLINE_STORE_READY, MATERIALIZED, SERVING_READY, READY, FRESH, MEMORY_PRESSURE)
# Conditions that are bad news when True, as a node's MemoryPressure.
TRUE_IS_BAD = (MEMORY_PRESSURE,)


@dataclass(frozen=True)
class Check:
    """One condition's verdict: ok is its status (None: Unknown)."""

    ok: bool | None
    reason: str
    message: str

    @property
    def status(self) -> str:
        return "Unknown" if self.ok is None else "True" if self.ok else "False"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(previous: list[dict], checks: dict[str, Check], generation: int, at: str) -> list[dict]:
    """New conditions in a fixed order; lastTransitionTime only moves when the status flips."""
    before = {c.get("type"): c for c in previous or []}
    merged = []
    for kind in CONDITION_TYPES:
        check = checks[kind]
        old = before.get(kind, {})
        changed = old.get("status") != check.status
        merged.append(
            {
                "type": kind,
                "status": check.status,
                "reason": check.reason,
                "message": check.message,
                "lastTransitionTime": at if changed or not old.get("lastTransitionTime") else old["lastTransitionTime"],
                "observedGeneration": generation,
            }
        )
    return merged


def ready_check(store: Check, materialized: Check, serving: Check) -> Check:
    failing = [(name, c) for name, c in ((ONLINE_STORE_READY, store), (MATERIALIZED, materialized), (SERVING_READY, serving)) if not c.ok]
    if not failing:
        return Check(True, "AllReady", "The online store is up, materialized, and serving is available.")
    name, first = failing[0]
    return Check(False, first.reason, f"{name}: {first.message}")


# Phases before anything has served: a failing check there is still "Provisioning", not "Degraded".
EARLY_PHASES = ("", "Pending", "Provisioning", "Materializing")


@dataclass(frozen=True)
class Failure:
    """Something the operator could not do this pass, with the API's own words."""

    condition: str  # the condition it lands in
    reason: str
    message: str


def phase(previous: str, serving: bool, switching: bool, failed: bool, preparing: str, ready: bool, settling: bool) -> str:
    """serving: a store serves traffic; switching: another is being prepared; failed: something needs a
    person; preparing: the state of the store being prepared; settling: an old store is still retiring."""
    if not serving:
        if failed:
            return "Failed"
        return "Materializing" if preparing in ("Backfilling", "Verifying") else "Provisioning"
    if failed:
        return "Degraded"
    if switching:
        return "Switching"
    if ready:
        return "Switching" if settling else "Ready"
    return "Provisioning" if previous in EARLY_PHASES else "Degraded"


def with_failures(checks: dict[str, Check], failures: list[Failure]) -> dict[str, Check]:
    """Every failure turns its condition False, first failure's reason, all messages."""
    out = dict(checks)
    for kind in (ONLINE_STORE_READY, MATERIALIZED, SERVING_READY):
        mine = [f for f in failures if f.condition == kind]
        if mine:
            out[kind] = Check(False, mine[0].reason, "; ".join(f.message for f in mine))
    out[READY] = ready_check(out[ONLINE_STORE_READY], out[MATERIALIZED], out[SERVING_READY])
    return out


def event_type(condition: dict) -> str:
    """Normal or Warning for the event that tells a condition's change."""
    if condition["status"] == "Unknown":
        return "Warning" if condition["reason"] == "StoreUnreadable" else "Normal"
    good = (condition["status"] == "True") != (condition["type"] in TRUE_IS_BAD)
    return "Normal" if good else "Warning"


def changed_conditions(before: list[dict], after: list[dict]) -> list[dict]:
    """Conditions whose status or reason changed: one event each, never one per retry."""
    old = {c.get("type"): (c.get("status"), c.get("reason")) for c in before}
    return [c for c in after if old.get(c["type"], (None, None)) != (c["status"], c["reason"]) and (c["type"] in old or c["type"] == READY)]
