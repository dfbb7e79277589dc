"""Materialization: observe the backfill and scheduled Jobs, start and cancel backfills, keep the CronJob."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..builders import materialization as builder
from ..builders.common import COMPONENT_LABEL, FS_LABEL, STORE_LABEL
from ..builders.store import StoreTarget
from ..metrics import FinishedJob
from .context import ReconcileContext

_JOB = ("batch/v1", "Job")
_JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@dataclass(frozen=True)
class JobState:
    name: str
    phase: str  # Absent | Running | Succeeded | Failed
    message: str = ""
    start: str = ""
    end: str = ""
    store: str = ""  # the store label: which store it wrote
    scheduled: bool = False  # a run of the CronJob rather than a backfill
    report: dict[str, Any] | None = None  # what the job reported on exit (rows written, rows in the source)
    deleting: bool = False


def job_state(job: dict | None, name: str, report: dict[str, Any] | None = None) -> JobState:
    if job is None:
        return JobState(name, "Absent")
    meta, status = job["metadata"], job.get("status") or {}
    labels = meta.get("labels") or {}
    common = {
        "store": labels.get(STORE_LABEL, ""),
        "scheduled": labels.get(COMPONENT_LABEL) == builder.COMPONENT,
        "report": report,
        "deleting": bool(meta.get("deletionTimestamp")),
    }
    start, end = status.get("startTime", ""), status.get("completionTime", "")
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobState(name, "Succeeded", "", start, end, **common)
        if condition.get("type") == "Failed":
            failed_at = condition.get("lastTransitionTime", "")
            reason = f"{condition.get('reason', 'Failed')}: {condition.get('message', '')}".rstrip(": ")
            return JobState(name, "Failed", reason, start, failed_at, **common)
    return JobState(name, "Running", "", start, **common)


def _report(pod: dict) -> dict[str, Any] | None:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        message = ((container.get("state") or {}).get("terminated") or {}).get("message")
        if message:
            try:
                report = json.loads(message)
            except ValueError:
                return None
            return report if isinstance(report, dict) else None
    return None


async def observe(ctx: ReconcileContext) -> dict[str, JobState]:
    """Every backfill and scheduled Job of this FeatureStore, with what their pods reported."""
    owner = ctx.owner
    labels = {FS_LABEL: owner.name}
    # Backfills are the FeatureStore's own; scheduled Jobs are its CronJob's.
    cron_job = await ctx.kube.get("batch/v1", "CronJob", builder.cron_job_name(owner), owner.namespace)
    schedulers = {cron_job["metadata"]["uid"]} if cron_job is not None else set()
    jobs = {
        job["metadata"]["name"]: job
        for component, owners in ((builder.BACKFILL_COMPONENT, None), (builder.COMPONENT, schedulers))
        for job in await ctx.kube.list(*_JOB, owner.namespace, {**labels, COMPONENT_LABEL: component}, owners=owners)
    }
    job_uids = {job["metadata"]["uid"] for job in jobs.values()}
    reports: dict[str, dict[str, Any]] = {}
    for component in (builder.BACKFILL_COMPONENT, builder.COMPONENT) if job_uids else ():
        pod_labels = {**labels, COMPONENT_LABEL: component}
        for pod in await ctx.kube.list("v1", "Pod", owner.namespace, pod_labels, owners=job_uids):
            report = _report(pod)
            job_name = (pod["metadata"].get("labels") or {}).get(_JOB_NAME_LABEL)
            if report is not None and job_name:
                reports[job_name] = report
    return {name: job_state(job, name, reports.get(name)) for name, job in jobs.items()}


def finished(jobs: Iterable[JobState]) -> list[FinishedJob]:
    """The Jobs that finished, in the terms the metrics keep."""
    return [
        FinishedJob(
            kind="scheduled" if job.scheduled else "backfill",
            succeeded=job.phase == "Succeeded",
            start=job.start,
            end=job.end,
            rows=int(job.report["rows"]) if job.report and isinstance(job.report.get("rows"), int) else None,
        )
        for job in jobs
        if job.phase in ("Succeeded", "Failed") and job.end
    ]


def backfill_name(ctx: ReconcileContext, store: StoreTarget, generation: int) -> str:
    identity = builder.backfill_identity(ctx.spec, store, ctx.settings.runtime_image, generation)
    return builder.backfill_job_name(ctx.owner, store, identity)


async def start_backfill(ctx: ReconcileContext, store: StoreTarget, generation: int, compare: StoreTarget | None) -> None:
    """Create the backfill Job once (a Job's template is immutable: it is never re-applied)."""
    identity = builder.backfill_identity(ctx.spec, store, ctx.settings.runtime_image, generation)
    job = builder.backfill_job(ctx.owner, ctx.spec, store, ctx.settings.runtime_image, identity, compare)
    created = await ctx.kube.create_if_absent(job)
    if created:
        name = builder.backfill_job_name(ctx.owner, store, identity)
        ctx.emit("Normal", "BackfillStarted", f"Started Job {name}: full materialization into {store.type} at {store.endpoint}")


async def delete_job(ctx: ReconcileContext, name: str, why: str) -> None:
    if await ctx.kube.delete(*_JOB, name, ctx.owner.namespace):
        ctx.emit("Normal", "BackfillCancelled", f"Deleted Job {name}: {why}")


async def ensure_cron_job(ctx: ReconcileContext, store: StoreTarget, config_checksum: str) -> None:
    await ctx.kube.apply(builder.cron_job(ctx.owner, ctx.spec, store, ctx.settings.runtime_image, config_checksum))
