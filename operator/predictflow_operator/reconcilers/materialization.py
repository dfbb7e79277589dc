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
_COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


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


@dataclass(frozen=True)
class PodReport:
    index: int  # the pod's completion index (0 for a Job that is not indexed)
    succeeded: bool
    report: dict[str, Any]


def _pod_report(pod: dict) -> tuple[str, PodReport] | None:
    report = _report(pod)
    meta = pod["metadata"]
    job_name = (meta.get("labels") or {}).get(_JOB_NAME_LABEL)
    if report is None or not job_name:
        return None
    index = str((meta.get("annotations") or {}).get(_COMPLETION_INDEX_ANNOTATION, "0"))
    succeeded = (pod.get("status") or {}).get("phase") == "Succeeded"
    return job_name, PodReport(int(index) if index.isdigit() else 0, succeeded, report)


def job_report(pods: Iterable[PodReport], completions: int = 1) -> dict[str, Any] | None:
    """One report for a Job: per completion index the report of a pod that succeeded (else of one
    that did not), then the slices' reports added up. None until every index has reported."""
    chosen: dict[int, PodReport] = {}
    for pod in pods:
        held = chosen.get(pod.index)
        if held is None or (pod.succeeded and not held.succeeded):
            chosen[pod.index] = pod
    if len(chosen) < completions:
        return None
    reports = [chosen[index].report for index in sorted(chosen)]
    return reports[0] if len(reports) == 1 else combined_reports(reports)


def _total(values: Iterable[Any]) -> int | None:
    numbers = [value for value in values if isinstance(value, int)]
    return sum(numbers) if numbers else None


def combined_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The reports of a backfill's slices as one: rows add up, each slice counted the whole source."""
    views: dict[str, dict[str, Any]] = {}
    for report in reports:
        for name, view in (report.get("views") or {}).items():
            held = views.setdefault(name, {"rows": 0, "sourceRows": view.get("sourceRows")})
            held["rows"] += int(view.get("rows") or 0)
    combined: dict[str, Any] = {
        "rows": _total(report.get("rows") for report in reports) or 0,
        "sourceRows": next((report["sourceRows"] for report in reports if report.get("sourceRows") is not None), None),
        "views": views,
        "failures": sorted({failure for report in reports for failure in report.get("failures") or []}),
        "watermark": min((str(report["watermark"]) for report in reports if report.get("watermark")), default=None),
        "slices": len(reports),
    }
    compared = [report["compared"] for report in reports if isinstance(report.get("compared"), dict)]
    if compared:
        errors = [str(entry["error"]) for entry in compared if entry.get("error")]
        combined["compared"] = (
            {"error": errors[0]}
            if errors
            else {
                "sampled": _total(entry.get("sampled") for entry in compared) or 0,
                "mismatched": _total(entry.get("mismatched") for entry in compared) or 0,
                "examples": [example for entry in compared for example in entry.get("examples") or []][:3],
            }
        )
    return combined


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
    pod_reports: dict[str, list[PodReport]] = {}
    for component in (builder.BACKFILL_COMPONENT, builder.COMPONENT) if job_uids else ():
        pod_labels = {**labels, COMPONENT_LABEL: component}
        for pod in await ctx.kube.list("v1", "Pod", owner.namespace, pod_labels, owners=job_uids):
            found = _pod_report(pod)
            if found is not None:
                pod_reports.setdefault(found[0], []).append(found[1])
    return {name: job_state(job, name, job_report(pod_reports.get(name, []), _completions(job))) for name, job in jobs.items()}


def _completions(job: dict) -> int:
    spec = job.get("spec") or {}
    return int(spec.get("completions") or 1) if spec.get("completionMode") == "Indexed" else 1


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
