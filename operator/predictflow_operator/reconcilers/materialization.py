"""Materialization: keep the CronJob on the serving store, run and watch backfill Jobs."""

from __future__ import annotations

from dataclasses import dataclass

from ..builders import materialization as builder
from ..builders.common import COMPONENT_LABEL, STORE_TYPE_LABEL, Owner
from ..builders.store import StoreTarget
from .context import ReconcileContext

_JOB = ("batch/v1", "Job")


@dataclass(frozen=True)
class JobState:
    name: str
    phase: str  # Absent | Running | Succeeded | Failed
    message: str = ""
    start: str = ""
    end: str = ""


def job_state(job: dict | None, name: str) -> JobState:
    if job is None:
        return JobState(name, "Absent")
    status = job.get("status") or {}
    start, end = status.get("startTime", ""), status.get("completionTime", "")
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobState(name, "Succeeded", "", start, end)
        if condition.get("type") == "Failed":
            failed_at = condition.get("lastTransitionTime", "")
            reason = f"{condition.get('reason', 'Failed')}: {condition.get('message', '')}".rstrip(": ")
            return JobState(name, "Failed", reason, start, failed_at)
    return JobState(name, "Running", "", start)


async def ensure_cron_job(ctx: ReconcileContext, store: StoreTarget, config_checksum: str) -> None:
    await ctx.kube.apply(builder.cron_job(ctx.owner, ctx.spec, store, ctx.settings.runtime_image, config_checksum))


async def ensure_backfill(ctx: ReconcileContext, store: StoreTarget) -> JobState:
    """Start (once) and report the full backfill into `store`; cancel backfills meant for other stores."""
    owner = ctx.owner
    identity = builder.backfill_identity(ctx.spec, store, ctx.settings.runtime_image)
    name = builder.backfill_job_name(owner, store, identity)
    await cancel_backfills(ctx, keep=name)
    job = await ctx.kube.get(*_JOB, name, owner.namespace)
    if job is not None and job["metadata"].get("deletionTimestamp"):
        return JobState(name, "Running", "a cancelled run of this backfill is still being deleted")
    if job is None:
        job = await ctx.kube.apply(builder.backfill_job(owner, ctx.spec, store, ctx.settings.runtime_image, identity))
        ctx.emit("Normal", "BackfillStarted", f"Started Job {name}: full materialization into {store.type} at {store.endpoint}")
    return job_state(job, name)


async def cancel_backfills(ctx: ReconcileContext, keep: str | None = None) -> None:
    for job in await _jobs(ctx, builder.BACKFILL_COMPONENT):
        name = job["metadata"]["name"]
        if name != keep and job_state(job, name).phase == "Running":
            await ctx.kube.delete(*_JOB, name, ctx.owner.namespace)
            ctx.emit("Normal", "BackfillCancelled", f"Cancelled Job {name}: the spec no longer needs it")


async def forget_backfills(ctx: ReconcileContext, store_type: str) -> None:
    """A retired store's backfills describe data that is gone: a store re-created later with the
    same endpoint must be backfilled again, not matched to the old Job."""
    for job in await _jobs(ctx, builder.BACKFILL_COMPONENT):
        if (job["metadata"].get("labels") or {}).get(STORE_TYPE_LABEL) == store_type:
            await ctx.kube.delete(*_JOB, job["metadata"]["name"], ctx.owner.namespace)


async def _jobs(ctx: ReconcileContext, component: str) -> list[dict]:
    owner: Owner = ctx.owner
    return await ctx.kube.list(*_JOB, owner.namespace, {"app.kubernetes.io/instance": owner.name, COMPONENT_LABEL: component})


async def last_finished(ctx: ReconcileContext, store_type: str) -> JobState | None:
    """The newest finished backfill or scheduled run against a store of `store_type`."""
    finished = []
    for component in (builder.BACKFILL_COMPONENT, builder.COMPONENT):
        for job in await _jobs(ctx, component):
            if (job["metadata"].get("labels") or {}).get(STORE_TYPE_LABEL) != store_type:
                continue
            state = job_state(job, job["metadata"]["name"])
            if state.phase in ("Succeeded", "Failed"):
                finished.append(state)
    return max(finished, key=lambda s: s.end, default=None)
