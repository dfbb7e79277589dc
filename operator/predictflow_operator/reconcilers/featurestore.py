"""One level-based pass over a FeatureStore: stores, the switch protocol, materialization, serving, status.

The switch protocol: status.onlineStore is the store serving traffic. When the spec asks for another
store (or none serves yet), that store becomes status.pendingOnlineStore: it is provisioned, a full
backfill Job fills it, and only when that Job succeeds does status.onlineStore flip to it. Serving and
the CronJob follow status.onlineStore, so they never point at an empty store. The old store is retired
once every serving pod has rolled over.
"""

from __future__ import annotations

from typing import Any

from ..api.models import FeatureStoreStatus, LastMaterialization, StoreRef
from ..builders import feast_config
from ..builders.common import COMPONENT_LABEL, checksum
from ..builders.store import StoreTarget
from ..status import (
    MATERIALIZED,
    ONLINE_STORE_READY,
    READY,
    SERVING_READY,
    Check,
    merge_conditions,
    now,
    ready_check,
)
from . import materialization, serving, stores
from .context import ReconcileContext
from .materialization import JobState
from .store import StoreState

_EARLY_PHASES = ("", "Pending", "Provisioning", "Materializing")
# Store states that will not resolve by waiting: they need the user (or AWS) to change something.
_STORE_ERRORS = ("AwsError", "AuthSecretMissing", "CASecretMissing")


async def reconcile(ctx: ReconcileContext, previous: dict[str, Any] | None) -> dict[str, Any]:
    """Converge the children and return the new status (as the API's camelCase dict)."""
    status = FeatureStoreStatus.model_validate(previous or {})
    desired_type = ctx.spec.online_store.type
    active = status.online_store if status.online_store.type else None
    retiring = [ref for ref in status.retiring_online_stores]

    desired = await stores.ensure(ctx, desired_type)
    if desired.target is not None:
        await ctx.kube.apply(feast_config.config_map(ctx.owner, ctx.spec, desired.target))

    switching = active is None or active.type != desired_type or (
        desired.target is not None and desired.target.endpoint != active.endpoint
    )
    backfill: JobState | None = None
    pending: StoreRef | None = None
    if switching:
        pending = StoreRef(type=desired_type, endpoint=desired.target.endpoint if desired.target else "", generation=ctx.generation)
        if desired.ready and desired.target is not None:
            backfill = await materialization.ensure_backfill(ctx, desired.target)
            if backfill.phase == "Succeeded":
                if active is not None and active.type != desired_type:
                    retiring.append(active)
                ctx.emit("Normal", "SwitchedOnlineStore", _switched_message(active, pending))
                active, pending, switching = pending, None, False
    else:
        await materialization.cancel_backfills(ctx)
        previous_pending = status.pending_online_store
        if previous_pending.type and previous_pending.type != active.type:
            retiring.append(previous_pending)
            ctx.emit("Normal", "SwitchCancelled", f"spec.onlineStore.type is {active.type} again: cancelled the switch to {previous_pending.type}")

    active_state: StoreState | None = None
    serving_check = Check(False, "WaitingForStore", "Serving starts once the online store has been backfilled")
    if active is not None:
        active_state = desired if active.type == desired_type else await stores.ensure(ctx, active.type)
        active_target = stores.target_of(ctx, active.type, active.endpoint)
        config = feast_config.config_map(ctx.owner, ctx.spec, active_target)
        await ctx.kube.apply(config)
        config_checksum = checksum(config["data"], active_state.secret_checksum, active_target.endpoint)
        await materialization.ensure_cron_job(ctx, active_target, config_checksum)
        serving_state = await serving.ensure(ctx, active_target, config_checksum)
        serving_check = serving_state.check
        if not switching and serving_state.rolled_out:
            retiring = await _retire(ctx, retiring, active)
            await _collect_configs(ctx, keep=[active_target] + ([desired.target] if desired.target else []))

    store_check = _store_check(active_state or desired)
    if switching and active_state is not None and not desired.ready:
        store_check = Check(
            store_check.ok, store_check.reason, f"{store_check.message}; the new {desired.type} store is not ready: {desired.message}"
        )
    materialized, last = await _materialized(ctx, active, backfill)
    checks = {
        ONLINE_STORE_READY: store_check,
        MATERIALIZED: materialized,
        SERVING_READY: serving_check,
        READY: ready_check(store_check, materialized, serving_check),
    }
    conditions = merge_conditions([c.model_dump(by_alias=True) for c in status.conditions], checks, ctx.generation, now())
    _announce_transitions(ctx, status, conditions)
    new = {
        "observedGeneration": ctx.generation,
        "phase": _phase(status.phase, active, desired, backfill, checks[READY], bool(retiring)),
        "onlineStore": _ref(active),
        "pendingOnlineStore": _ref(pending),
        "retiringOnlineStores": [_ref(ref) for ref in retiring],
        "conditions": conditions,
    }
    if last is not None:
        new["lastMaterialization"] = LastMaterialization(
            job=last.name, start=last.start, end=last.end, succeeded=last.phase == "Succeeded"
        ).model_dump(by_alias=True)
    return new


def _ref(ref: StoreRef | None) -> dict[str, Any] | None:
    return ref.model_dump(by_alias=True) if ref is not None else None


def _switched_message(old: StoreRef | None, new: StoreRef) -> str:
    if old is None:
        return f"Backfilled {new.type} at {new.endpoint}; it now serves"
    return f"Switched the online store from {old.type} ({old.endpoint}) to {new.type} ({new.endpoint}) after a successful backfill"


def _store_check(state: StoreState) -> Check:
    return Check(state.ready, state.reason, state.message)


async def _materialized(
    ctx: ReconcileContext, active: StoreRef | None, backfill: JobState | None
) -> tuple[Check, JobState | None]:
    if backfill is not None and backfill.phase == "Failed":
        stays = f"serving stays on {active.type}" if active else "nothing serves yet"
        return Check(False, "BackfillFailed", f"Backfill Job {backfill.name} failed ({backfill.message}); {stays}"), backfill
    if active is None:
        if backfill is None:
            return Check(False, "WaitingForStore", "The backfill starts once the online store is ready"), None
        return Check(False, "BackfillRunning", f"Backfill Job {backfill.name} is filling the online store"), None
    last = await materialization.last_finished(ctx, active.type)
    if last is not None and last.phase == "Failed":
        return Check(False, "MaterializationFailed", f"Job {last.name} failed: {last.message}"), last
    if last is None:
        return Check(True, "Backfilled", f"{active.type} was backfilled before it started serving"), None
    return Check(True, "MaterializationSucceeded", f"Job {last.name} finished at {last.end}"), last


def _phase(
    previous: str, active: StoreRef | None, desired: StoreState, backfill: JobState | None, ready: Check, retiring: bool
) -> str:
    failed = backfill is not None and backfill.phase == "Failed"
    if active is None:
        if failed or desired.reason in _STORE_ERRORS:
            return "Failed"
        return "Materializing" if backfill is not None else "Provisioning"
    if active.type != desired.type or (desired.target is not None and desired.target.endpoint != active.endpoint):
        return "Degraded" if failed or desired.reason in _STORE_ERRORS else "Switching"
    if ready.ok:
        return "Switching" if retiring else "Ready"
    return "Provisioning" if previous in _EARLY_PHASES else "Degraded"


async def _retire(ctx: ReconcileContext, retiring: list[StoreRef], active: StoreRef) -> list[StoreRef]:
    for ref in retiring:
        if ref.type != active.type:
            await stores.retire(ctx, ref.type)
            await materialization.forget_backfills(ctx, ref.type)
    return []


async def _collect_configs(ctx: ReconcileContext, keep: list[StoreTarget]) -> None:
    """Delete the rendered configs of stores that neither serve nor are being prepared."""
    owner = ctx.owner
    wanted = {feast_config.config_map_name(owner, target) for target in keep}
    selector = {"app.kubernetes.io/instance": owner.name, COMPONENT_LABEL: feast_config.COMPONENT}
    for config in await ctx.kube.list("v1", "ConfigMap", owner.namespace, selector):
        if config["metadata"]["name"] not in wanted:
            await ctx.kube.delete("v1", "ConfigMap", config["metadata"]["name"], owner.namespace)


def _announce_transitions(ctx: ReconcileContext, before: FeatureStoreStatus, after: list[dict]) -> None:
    """An event per condition flip; a brand-new FeatureStore only reports Ready."""
    old = {c.type: c.status for c in before.conditions}
    for condition in after:
        kind, status = condition["type"], condition["status"]
        if old.get(kind, "") != status and (kind in old or kind == READY):
            ctx.emit("Normal" if status == "True" else "Warning", condition["reason"], f"{kind}={status}: {condition['message']}")
