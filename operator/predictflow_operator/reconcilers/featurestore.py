"""One level-based pass over a FeatureStore: observe, decide (reconcilers/switch.py), act, report.

Observing only reads. The decision is a pure function of the previous status, the generation and
what was observed. Acting applies the decision's actions in order; a refused action becomes a
failure in its condition and the others still run, so serving keeps going on what works.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from ..api.models import FeatureStoreStatus, LastMaterialization, StoreRecord
from ..builders import feast_config
from ..builders.common import COMPONENT_LABEL, FS_LABEL
from ..builders.store import StoreTarget, same_store, store_key, store_label, target_of
from ..clients.aws import AwsError
from ..clients.kube import ChildError, NotOwned
from ..status import (
    FRESH,
    MATERIALIZED,
    MEMORY_PRESSURE,
    ONLINE_STORE_READY,
    READY,
    SERVING_READY,
    Check,
    Failure,
    changed_conditions,
    event_type,
    merge_conditions,
    now,
    phase,
    ready_check,
    with_failures,
)
from . import materialization, network, serving, serving_store, switch
from .context import ReconcileContext
from .materialization import JobState
from .secrets import SecretNotPermitted, pod_checksum
from .serving import ServingState
from .serving_store import Assessment
from .store import StoreObservation
from .stores import driver
from .switch import CollectConfigs, Decision, DeleteJob, Observed, Provision, Retire, Serve, StartBackfill

log = logging.getLogger("predictflow.reconcile")


async def run_pass(ctx: ReconcileContext, body: Any) -> float:
    """One pass, its status written only where it changed; returns the seconds until the next pass
    unless a watch wakes it sooner."""
    previous = dict(body.get("status") or {})
    requeue = ctx.settings.resync_seconds
    started = time.perf_counter()
    try:
        status, look_again_in, failures, stale_in = await reconcile(ctx, previous)
        if look_again_in is not None:
            requeue = min(requeue, look_again_in)
        if stale_in is not None:  # a pass is there when the next view turns stale
            requeue = min(requeue, stale_in + 1.0)
        errors = [failure.reason for failure in failures]
    except Exception as error:  # the status says what went wrong; the next pass retries
        log.exception("reconcile of %s/%s failed", ctx.owner.namespace, ctx.owner.name)
        status, requeue, errors = failed_pass(ctx, previous, error), min(requeue, 10.0), [type(error).__name__]
    try:
        ctx.memo.metrics.passed(ctx.owner, {**previous, **status}, time.perf_counter() - started, errors)
    except Exception:  # bookkeeping must never stop the FeatureStore's reconcile loop
        log.exception("metrics of %s/%s not recorded", ctx.owner.namespace, ctx.owner.name)
    changed = {key: value for key, value in status.items() if previous.get(key) != value}
    log.debug("pass over %s/%s: status fields changed: %s", ctx.owner.namespace, ctx.owner.name, ", ".join(changed) or "none")
    if changed:
        written = await ctx.kube.patch_status(ctx.owner.name, ctx.owner.namespace, changed)
        await _caught_up(body, written["metadata"]["resourceVersion"])
    return requeue


async def _caught_up(body: Any, version: str, timeout: float = 5.0) -> None:
    """Wait until the watch has delivered the status just written, so the next pass starts from it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        seen = body["metadata"].get("resourceVersion", "")
        if seen == version or (seen.isdigit() and version.isdigit() and int(seen) >= int(version)):
            return
        await asyncio.sleep(0.05)


async def reconcile(ctx: ReconcileContext, previous: dict[str, Any] | None) -> tuple[dict[str, Any], float | None, list[Failure], float | None]:
    """Converge the children; returns the new status (the API's camelCase dict), the seconds until
    a look that no watch would prompt (see _unwatched_wait; None: the resync), what was refused,
    and the seconds until a feature view turns stale."""
    before = _upgraded(ctx, FeatureStoreStatus.model_validate(previous or {}))
    observed = await observe(ctx, before)
    ctx.memo.remember(ctx.owner.uid, ctx.owner.namespace, ctx.owner.name, _secrets_read(before, observed))
    decision = switch.decide(before, ctx.generation, observed)
    failures = await act(ctx, decision, observed)
    for event in decision.events:
        ctx.emit(event.type, event.reason, event.message)
    ctx.memo.metrics.jobs_seen(ctx.owner, materialization.finished(observed.jobs.values()))
    active = decision.active
    assessment = serving_store.assess(ctx, active, observed.store(active) if active else None, _last_told(previous or {}, before, active))
    status = report(ctx, before, decision, observed, failures, assessment)
    # a refused step may wait on something no watch reports (an unlabelled Secret being fixed, say)
    return status, _unwatched_wait(ctx, decision, observed, failures), failures, assessment.next_stale_in


def _unwatched_wait(ctx: ReconcileContext, decision: Decision, observed: Observed, failures: list[Failure]) -> float | None:
    """A store depends on something no watch reports: a managed group (AWS is polled, available or
    not, so a failover, a modification or an outage is seen), a Secret someone has yet to create,
    or a Redis Cluster settling (its gossip and failovers happen inside Redis)."""
    waits = [ctx.settings.elasticache_poll_seconds] if failures else []
    for record in (r for r in (decision.active, decision.pending, *decision.retiring) if r is not None):
        seen = observed.store(record)
        if seen is not None and seen.settling:
            waits.append(ctx.settings.cluster_poll_seconds)
        if seen is None or seen.error or driver(record.type).outside_cluster(record):
            waits.append(ctx.settings.elasticache_poll_seconds)
    return min(waits, default=None)


def _secrets_read(status: FeatureStoreStatus, observed: Observed) -> set[str]:
    records = [observed.desired, status.online_store, status.pending_online_store]
    return {ref.name for r in records for ref in (r.auth_secret_ref, r.ca_secret_ref) if ref.name}


async def observe(ctx: ReconcileContext, status: FeatureStoreStatus) -> Observed:
    recorded = [status.online_store, status.pending_online_store, *status.retiring_online_stores]
    desired = driver(ctx.spec.online_store.type).desired_record(ctx, recorded)
    records = [desired, *recorded]
    stores = {}
    for record in records:
        if record.type and store_key(record) not in stores:
            stores[store_key(record)] = await _observe_store(ctx, record)
    return Observed(
        desired=desired,
        stores=stores,
        jobs=await materialization.observe(ctx),
        serving=await serving.observe(ctx),
        backfill_name=lambda record: materialization.backfill_name(ctx, target_of(record), record.generation),
    )


async def _observe_store(ctx: ReconcileContext, record: StoreRecord) -> StoreObservation:
    try:
        return await driver(record.type).observe(ctx, record)
    except SecretNotPermitted as refused:
        return StoreObservation(False, "SecretNotPermitted", str(refused), record.endpoint, error=True)


def _component(action: switch.Action) -> str:
    if isinstance(action, (Provision, Retire)):
        return ONLINE_STORE_READY
    if isinstance(action, (StartBackfill, DeleteJob)):
        return MATERIALIZED
    return SERVING_READY


async def act(ctx: ReconcileContext, decision: Decision, observed: Observed) -> list[Failure]:
    failures: list[Failure] = []
    if any(isinstance(action, Provision) for action in decision.actions):
        # one policy for all of the FeatureStore's stores, in place before any store's pods exist
        await _attempt(failures, ONLINE_STORE_READY, network.ensure_online_store(ctx))
    for action in decision.actions:
        await _attempt(failures, _component(action), _run(ctx, action, observed))
    return failures


async def _attempt(failures: list[Failure], component: str, step: Awaitable[None]) -> None:
    """Run one step; a refusal becomes a failure of `component` and the other steps still run."""
    try:
        await step
    except ChildError as error:
        failures.append(Failure(component, "ApplyFailed", error.message))
    except NotOwned as error:
        failures.append(Failure(component, "NotOwned", error.message))
    except AwsError as error:
        failures.append(Failure(component, "AwsError", f"AWS {error.code}: {error.message}"))
    except ValueError as error:
        failures.append(Failure(component, "Invalid", str(error)))


async def _run(ctx: ReconcileContext, action: switch.Action, observed: Observed) -> None:
    if isinstance(action, Provision):
        seen = observed.store(action.record)
        assert seen is not None
        await driver(action.record.type).provision(ctx, action.record, seen)
        if action.record.endpoint:  # the config its clients will read, ready before its backfill
            await ctx.kube.apply(feast_config.config_map(ctx.owner, ctx.spec, target_of(action.record)))
    elif isinstance(action, StartBackfill):
        target = target_of(action.record)
        await ctx.kube.apply(feast_config.config_map(ctx.owner, ctx.spec, target))
        compare = target_of(action.compare) if action.compare is not None else None
        await materialization.start_backfill(ctx, target, action.record.generation, compare)
    elif isinstance(action, DeleteJob):
        await materialization.delete_job(ctx, action.name, action.why)
    elif isinstance(action, Serve):
        await _serve(ctx, target_of(action.record), action.secret_checksum, observed.serving)
    elif isinstance(action, Retire):
        await driver(action.record.type).retire(ctx, action.record)
    elif isinstance(action, CollectConfigs):
        await _collect_configs(ctx, [target_of(r) for r in action.keep])


async def _serve(ctx: ReconcileContext, target: StoreTarget, secret_checksum: str, seen: ServingState) -> None:
    config = feast_config.config_map(ctx.owner, ctx.spec, target)
    await ctx.kube.apply(config)
    config_checksum = pod_checksum(config["data"], secret_checksum, target.endpoint)
    await materialization.ensure_cron_job(ctx, target, config_checksum)
    await serving.ensure(ctx, target, config_checksum, seen)
    await network.ensure_serving(ctx)


async def _collect_configs(ctx: ReconcileContext, keep: list[StoreTarget]) -> None:
    """Delete the rendered configs of stores that neither serve nor are being prepared."""
    owner = ctx.owner
    wanted = {feast_config.config_map_name(owner, target) for target in keep}
    for config in await ctx.kube.list("v1", "ConfigMap", owner.namespace, {FS_LABEL: owner.name, COMPONENT_LABEL: feast_config.COMPONENT}):
        if config["metadata"]["name"] not in wanted:
            await ctx.kube.delete("v1", "ConfigMap", config["metadata"]["name"], owner.namespace)


def _upgraded(ctx: ReconcileContext, status: FeatureStoreStatus) -> FeatureStoreStatus:
    """Records written before stores were recorded in full (type and endpoint only) are completed from
    where they can only have come from, so an upgraded operator does not mistake them for other stores."""

    def complete(record: StoreRecord) -> StoreRecord:
        if not record.type or record.name or record.mode:
            return record
        known = driver(record.type).completed(ctx, record)
        return known.model_copy(update={"endpoint": record.endpoint or known.endpoint, "generation": record.generation, "state": "Serving"})

    return status.model_copy(
        update={
            "online_store": complete(status.online_store),
            "pending_online_store": complete(status.pending_online_store).model_copy(update={"state": status.pending_online_store.state or "Provisioning"})
            if status.pending_online_store.type
            else status.pending_online_store,
            "retiring_online_stores": [complete(r) for r in status.retiring_online_stores],
        }
    )


def _store_check(decision: Decision, observed: Observed) -> Check:
    active, pending = decision.active, decision.pending
    main = active or pending
    seen = observed.store(main) if main is not None else None
    if seen is None:
        return Check(False, "Observing", "The online store has not been observed yet")
    check = Check(seen.ready, seen.reason, seen.message)
    if active is not None and pending is not None:
        pending_seen = observed.store(pending)
        if pending_seen is not None and not pending_seen.ready:
            check = Check(check.ok, check.reason, f"{check.message}; the new {pending.type} store is not ready: {pending_seen.message}")
    return check


def _last_finished(jobs: dict[str, JobState], store: str) -> JobState | None:
    finished = [j for j in jobs.values() if j.store == store and j.phase in ("Succeeded", "Failed")]
    return max(finished, key=lambda j: j.end, default=None)


def _materialized_check(decision: Decision, observed: Observed) -> tuple[Check, JobState | None]:
    active, progress = decision.active, decision.progress
    if progress is not None and decision.failed and progress.reason.startswith("Backfill"):
        stays = f"serving stays on {active.type}" if active else "nothing serves yet"
        return Check(False, progress.reason, f"{progress.message}; {stays}"), decision.backfill
    if active is None:
        if progress is not None and progress.reason.startswith("Backfill"):
            return Check(False, progress.reason, progress.message), None
        return Check(False, "WaitingForStore", "The backfill starts once the online store is ready"), None
    last = _last_finished(observed.jobs, store_label(active))
    if last is not None and last.phase == "Failed":
        return Check(False, "MaterializationFailed", f"Job {last.name} failed: {last.message}"), last
    if last is None:
        return Check(True, "Backfilled", f"{active.type} was backfilled before it started serving"), None
    return Check(True, "MaterializationSucceeded", f"Job {last.name} finished at {last.end}"), last


def _serving_check(decision: Decision, state: ServingState) -> Check:
    active = decision.active
    if active is None:
        return Check(False, "WaitingForStore", "Serving starts once the online store has been backfilled")
    if not state.enabled:
        return Check(True, "ServingDisabled", "spec.serving.enabled is false")
    if state.done and state.store == store_label(active):
        return Check(True, "DeploymentAvailable", f"{state.available}/{state.replicas} serving pods available on {active.type}")
    # During a rollout (maxUnavailable 0) the previous pods keep serving: capacity, not the template, decides.
    if state.exists and state.available >= state.replicas:
        return Check(True, "RollingOut", f"{state.available}/{state.replicas} serving pods available; rolling out on {active.type}")
    return Check(False, "DeploymentUnavailable", f"{state.available}/{state.replicas} serving pods available on {active.type}")


def report(
    ctx: ReconcileContext, before: FeatureStoreStatus, decision: Decision, observed: Observed, failures: list[Failure], assessment: Assessment
) -> dict[str, Any]:
    """The new status: records from the decision, conditions and phase from what was seen and refused,
    and what was read from the serving store."""
    store = _store_check(decision, observed)
    materialized, last = _materialized_check(decision, observed)
    checks = {ONLINE_STORE_READY: store, MATERIALIZED: materialized, SERVING_READY: _serving_check(decision, observed.serving)}
    checks[READY] = ready_check(store, materialized, checks[SERVING_READY])
    checks = {**with_failures(checks, failures), **assessment.checks}
    previous_conditions = [c.model_dump(by_alias=True) for c in before.conditions]
    conditions = merge_conditions(previous_conditions, checks, ctx.generation, now())
    for condition in changed_conditions(previous_conditions, conditions):
        ctx.emit(event_type(condition), condition["reason"], f"{condition['type']}={condition['status']}: {condition['message']}")
    pending = decision.pending
    pending_seen = observed.store(pending) if pending is not None else None
    failed = decision.failed or bool(failures) or bool(pending_seen and pending_seen.error)
    new: dict[str, Any] = {
        "observedGeneration": ctx.generation,
        "phase": phase(
            before.phase,
            serving=decision.active is not None,
            switching=pending is not None,
            failed=failed,
            preparing=pending.state if pending else "",
            ready=checks[READY].ok is True,
            settling=bool(decision.retiring) or (decision.active is not None and decision.active.state != "Serving"),
        ),
        "onlineStore": _serving_store(decision.active, assessment.memory, _topology(observed, decision.active)),
        "pendingOnlineStore": _dump(pending),
        "retiringOnlineStores": [_dump(r) for r in decision.retiring],
        "freshness": assessment.freshness,
        "estimatedMonthlyCost": assessment.cost,
        "conditions": conditions,
    }
    if last is not None:
        new["lastMaterialization"] = LastMaterialization(job=last.name, start=last.start, end=last.end, succeeded=last.phase == "Succeeded").model_dump(
            by_alias=True
        )
    return new


def failed_pass(ctx: ReconcileContext, previous: dict[str, Any] | None, error: Exception) -> dict[str, Any]:
    """The status of a pass that could not even observe: the records stay, the error is told."""
    before = FeatureStoreStatus.model_validate(previous or {})
    message = f"Reconcile failed: {type(error).__name__}: {error}"
    check = Check(False, "ReconcileError", message)
    old = _told_checks(before)
    checks = {kind: old.get(kind, check) for kind in (ONLINE_STORE_READY, MATERIALIZED, SERVING_READY)}
    checks[READY] = check
    for kind in (FRESH, MEMORY_PRESSURE):  # nothing was read: what was known stays, or nothing is
        checks[kind] = old.get(kind, Check(None, "ReconcileError", message))
    previous_conditions = [c.model_dump(by_alias=True) for c in before.conditions]
    conditions = merge_conditions(previous_conditions, checks, ctx.generation, now())
    for condition in changed_conditions(previous_conditions, conditions):
        ctx.emit(event_type(condition), condition["reason"], f"{condition['type']}={condition['status']}: {condition['message']}")
    return {
        "observedGeneration": ctx.generation,
        "phase": "Degraded" if before.online_store.type else "Failed",
        "conditions": conditions,
    }


def _told_checks(status: FeatureStoreStatus) -> dict[str, Check]:
    """The recorded conditions as the verdicts they were written from."""
    return {c.type: Check(None if c.status == "Unknown" else c.status == "True", c.reason, c.message) for c in status.conditions}


def _last_told(previous: dict[str, Any], before: FeatureStoreStatus, active: StoreRecord | None) -> serving_store.LastTold:
    """What status said of the serving store, if it still serves: kept until it is read again."""
    if not same_store(before.online_store, active):
        return serving_store.LastTold()
    conditions = _told_checks(before)
    return serving_store.LastTold(
        memory=(previous.get("onlineStore") or {}).get("memory"),
        freshness=previous.get("freshness"),
        checks={kind: conditions[kind] for kind in (FRESH, MEMORY_PRESSURE) if kind in conditions},
    )


def _dump(record: StoreRecord | None) -> dict[str, Any] | None:
    return record.model_dump(by_alias=True) if record is not None else None


def _topology(observed: Observed, record: StoreRecord | None) -> list[dict[str, Any]] | None:
    seen = observed.store(record) if record is not None else None
    if seen is None or not seen.topology:
        return None
    return [{"slots": shard.slots, "primary": shard.primary, "replicas": list(shard.replicas)} for shard in seen.topology]


def _serving_store(record: StoreRecord | None, memory: dict[str, Any] | None, shards: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    dumped = _dump(record)
    if dumped is not None and memory is not None:
        dumped["memory"] = memory
    if dumped is not None and shards is not None:
        dumped["topology"] = shards
    return dumped
