"""Conditions and phase: what `kubectl get pfs` and `kubectl wait --for=condition=Ready` read."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

ONLINE_STORE_READY = "OnlineStoreReady"
MATERIALIZED = "Materialized"
SERVING_READY = "ServingReady"
READY = "Ready"
CONDITION_TYPES = (ONLINE_STORE_READY, MATERIALIZED, SERVING_READY, READY)


@dataclass(frozen=True)
class Check:
    """One condition's verdict."""

    ok: bool
    reason: str
    message: str

    @property
    def status(self) -> str:
        return "True" if self.ok else "False"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
