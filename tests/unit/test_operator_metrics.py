"""The operator's metrics, from crafted passes: phases, switch stages, jobs, leadership, forgetting."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from predictflow_operator.builders.common import Owner
from predictflow_operator.metrics import FinishedJob, OperatorMetrics

pytestmark = pytest.mark.unit
A, B = Owner("a", "team", "uid-a"), Owner("b", "team", "uid-b")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def redis(state: str, name: str = "a-redis") -> dict:
    return {"type": "redis", "name": name, "endpoint": f"{name}:6379", "state": state}


def status(phase: str, active: dict | None = None, pending: dict | None = None, retiring: list | None = None) -> dict:
    """Shaped as a pass reports it: an absent store is None."""
    return {"phase": phase, "onlineStore": active, "pendingOnlineStore": pending, "retiringOnlineStores": retiring or []}


def value(metrics: OperatorMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_featurestores_are_counted_by_phase_and_forgotten() -> None:
    metrics = OperatorMetrics()
    metrics.passed(A, status("Ready", redis("Serving")), 0.02, [])
    metrics.passed(B, status("Provisioning", pending=redis("Provisioning", "b-redis")), 0.03, ["ApplyFailed"])
    assert value(metrics, "predictflow_operator_featurestores", phase="Ready") == 1
    assert value(metrics, "predictflow_operator_featurestores", phase="Provisioning") == 1
    assert value(metrics, "predictflow_operator_featurestores", phase="Failed") == 0
    assert value(metrics, "predictflow_operator_reconcile_duration_seconds_count", result="ok") == 1
    assert value(metrics, "predictflow_operator_reconcile_errors_total", reason="ApplyFailed") == 1
    metrics.forget(B.uid)
    assert value(metrics, "predictflow_operator_featurestores", phase="Provisioning") == 0


def test_each_switch_stage_is_timed_when_the_store_leaves_it() -> None:
    clock = Clock(1000.0)
    metrics = OperatorMetrics(clock=clock)
    elasticache = {"type": "elasticache", "mode": "existing", "endpoint": "cache:6379"}
    metrics.passed(A, status("Switching", redis("Serving"), {**elasticache, "state": "Provisioning"}), 0.01, [])
    clock.now += 4
    metrics.passed(A, status("Switching", redis("Serving"), {**elasticache, "state": "Backfilling"}), 0.01, [])
    clock.now += 30
    metrics.passed(A, status("Switching", redis("Serving"), {**elasticache, "state": "Backfilling"}), 0.01, [])  # still filling
    assert value(metrics, "predictflow_operator_switch_stage_duration_seconds_count", stage="backfill", store_type="elasticache") is None
    clock.now += 2
    metrics.passed(A, status("Switching", {**elasticache, "state": "CuttingOver"}, retiring=[redis("Retiring")]), 0.01, [])
    clock.now += 7
    metrics.passed(A, status("Ready", {**elasticache, "state": "Serving"}), 0.01, [])

    def seconds(stage: str, store_type: str) -> float | None:
        return value(metrics, "predictflow_operator_switch_stage_duration_seconds_sum", stage=stage, store_type=store_type)

    assert seconds("provision", "elasticache") == 4
    assert seconds("backfill", "elasticache") == 32
    assert seconds("cutover", "elasticache") == 7
    assert seconds("retire", "redis") == 7


def test_jobs_give_rows_duration_and_the_age_of_the_newest_success() -> None:
    wall = Clock(1_800_000_000.0)  # 2027-01-15T08:00:00Z
    metrics = OperatorMetrics({"role": "standby"}, wall_clock=wall)
    metrics.jobs_seen(
        A,
        [
            FinishedJob("backfill", True, "2027-01-15T07:00:00Z", "2027-01-15T07:01:30Z", 200000),
            FinishedJob("scheduled", True, "2027-01-15T07:50:00Z", "2027-01-15T07:50:20Z", 1200),
            FinishedJob("scheduled", False, "2027-01-15T07:55:00Z", "2027-01-15T07:56:00Z", None),
        ],
    )
    labels = {"namespace": "team", "featurestore": "a"}
    assert value(metrics, "predictflow_operator_materialization_rows", kind="backfill", **labels) == 200000
    assert value(metrics, "predictflow_operator_materialization_duration_seconds", kind="backfill", **labels) == 90
    assert value(metrics, "predictflow_operator_materialization_succeeded", kind="scheduled", **labels) == 0  # the newest run failed
    assert value(metrics, "predictflow_operator_materialization_rows", kind="scheduled", **labels) is None  # it reported nothing
    assert value(metrics, "predictflow_operator_materialization_age_seconds", **labels) == 580  # 9 min 40 s since 07:50:20
    assert value(metrics, "predictflow_operator_leader") == 0
    assert b"predictflow_operator_leader 0.0" in generate_latest(metrics.registry)
