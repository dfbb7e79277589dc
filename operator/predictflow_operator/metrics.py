"""The operator's Prometheus metrics and the endpoint that serves them (`--metrics`).

Everything is read from what the reconcile passes already observe: nothing here calls the API.
Per-FeatureStore series carry the namespace and name and go when the FeatureStore does.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .api.models import FeatureStoreStatus, StoreRecord
from .builders.common import Owner
from .builders.store import store_key
from .http_endpoint import serve_get

NAMESPACE = "predictflow_operator"
PHASES = ("Pending", "Provisioning", "Materializing", "Switching", "Ready", "Degraded", "Failed")
# A store's state in the status, and the stage of a switch it stands for.
STAGES = {"Provisioning": "provision", "Backfilling": "backfill", "Verifying": "verify", "CuttingOver": "cutover", "Retiring": "retire"}
PASS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


@dataclass(frozen=True)
class FinishedJob:
    """A materialization Job that finished, as a pass observed it (a `JobState` of reconcilers.materialization)."""

    kind: str  # backfill | scheduled
    succeeded: bool
    start: str
    end: str
    rows: int | None  # from the job's report; None when it reported nothing


@dataclass
class _FeatureStore:
    namespace: str
    name: str
    phase: str = ""
    jobs: dict[str, FinishedJob] = field(default_factory=dict)  # kind -> the newest finished Job of that kind
    last_success: float | None = None  # epoch seconds the newest successful Job finished
    stages: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)  # (type, store key) -> (state, since monotonic)


def _epoch(rfc3339: str) -> float | None:
    try:
        return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class _Snapshot(Collector):
    """Gauges computed at scrape time from the latest pass of every FeatureStore."""

    def __init__(self, metrics: OperatorMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        stores = list(self._metrics.featurestores.values())
        by_phase = GaugeMetricFamily(f"{NAMESPACE}_featurestores", "FeatureStores by phase.", labels=["phase"])
        for phase in PHASES:
            by_phase.add_metric([phase], sum(1 for fs in stores if fs.phase == phase))
        yield by_phase
        age = GaugeMetricFamily(
            f"{NAMESPACE}_materialization_age_seconds",
            "Seconds since the newest successful materialization (backfill or scheduled) finished.",
            labels=["namespace", "featurestore"],
        )
        rows = GaugeMetricFamily(
            f"{NAMESPACE}_materialization_rows",
            "Rows the newest finished Job of its kind wrote (its report).",
            labels=["namespace", "featurestore", "kind"],
        )
        seconds = GaugeMetricFamily(
            f"{NAMESPACE}_materialization_duration_seconds",
            "How long the newest finished Job of its kind ran.",
            labels=["namespace", "featurestore", "kind"],
        )
        succeeded = GaugeMetricFamily(
            f"{NAMESPACE}_materialization_succeeded",
            "1 when the newest finished Job of its kind succeeded, else 0.",
            labels=["namespace", "featurestore", "kind"],
        )
        now = self._metrics.wall_clock()
        for fs in stores:
            if fs.last_success is not None:
                age.add_metric([fs.namespace, fs.name], max(0.0, now - fs.last_success))
            for kind, job in fs.jobs.items():
                labels = [fs.namespace, fs.name, kind]
                succeeded.add_metric(labels, 1.0 if job.succeeded else 0.0)
                if job.rows is not None:
                    rows.add_metric(labels, job.rows)
                start, end = _epoch(job.start), _epoch(job.end)
                if start is not None and end is not None:
                    seconds.add_metric(labels, max(0.0, end - start))
        yield from (age, rows, seconds, succeeded)
        leader = GaugeMetricFamily(f"{NAMESPACE}_leader", "1 while this replica leads (acts), 0 while it stands by.")
        leader.add_metric([], 1.0 if self._metrics.role == "leader" else 0.0)
        yield leader


class OperatorMetrics:
    """What the passes report, kept for the next scrape; one per operator process."""

    def __init__(
        self,
        role_source: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry()
        self.clock, self.wall_clock = clock, wall_clock
        self.featurestores: dict[str, _FeatureStore] = {}  # uid ->
        self._role_source = role_source if role_source is not None else {"role": "leader"}
        self.pass_seconds = Histogram(
            "reconcile_duration_seconds",
            "Time of one reconcile pass over a FeatureStore.",
            ["result"],
            namespace=NAMESPACE,
            buckets=PASS_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "reconcile_errors",
            "Steps a pass could not do (ApplyFailed, NotOwned, AwsError, Invalid) and passes that failed outright (the exception).",
            ["reason"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "switch_stage_duration_seconds",
            "How long a store stayed in a stage of the switch, as this operator process saw it.",
            ["stage", "store_type"],
            namespace=NAMESPACE,
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Snapshot(self))

    @property
    def role(self) -> str:
        return self._role_source.get("role", "starting")

    def passed(self, owner: Owner, status: dict[str, Any], seconds: float, errors: Iterable[str]) -> None:
        """One pass is over: its duration, its refusals and the status it left."""
        reasons = list(errors)
        self.pass_seconds.labels("error" if reasons else "ok").observe(seconds)
        for reason in reasons:
            self.errors.labels(reason).inc()
        fs = self.featurestores.setdefault(owner.uid, _FeatureStore(owner.namespace, owner.name))
        # a pass reports an absent store as None (the status patch deletes it)
        parsed = FeatureStoreStatus.model_validate({key: value for key, value in status.items() if value is not None})
        fs.phase = parsed.phase or fs.phase
        self._time_stages(fs, parsed, self.clock())

    def jobs_seen(self, owner: Owner, jobs: Iterable[FinishedJob]) -> None:
        fs = self.featurestores.setdefault(owner.uid, _FeatureStore(owner.namespace, owner.name))
        for job in sorted(jobs, key=lambda j: j.end):
            fs.jobs[job.kind] = job
            end = _epoch(job.end)
            if job.succeeded and end is not None and (fs.last_success is None or end > fs.last_success):
                fs.last_success = end

    def forget(self, uid: str) -> None:
        self.featurestores.pop(uid, None)

    def _time_stages(self, fs: _FeatureStore, status: FeatureStoreStatus, now: float) -> None:
        current = {(r.type, store_key(r)): r for r in _in_a_stage(status)}
        for key, (state, since) in list(fs.stages.items()):
            record = current.get(key)
            if record is None or record.state != state:
                self.stage_seconds.labels(STAGES[state], key[0]).observe(now - since)
                del fs.stages[key]
        for key, record in current.items():
            fs.stages.setdefault(key, (record.state, now))


def _in_a_stage(status: FeatureStoreStatus) -> Iterator[StoreRecord]:
    for record in (status.online_store, status.pending_online_store, *status.retiring_online_stores):
        if record.type and record.state in STAGES:
            yield record


async def serve(url: str, metrics: OperatorMetrics) -> web.AppRunner:
    """Serve `url` (e.g. http://0.0.0.0:8081/metrics) in Prometheus's text format."""

    async def scrape(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    return await serve_get(url, scrape, "/metrics", 8081)
