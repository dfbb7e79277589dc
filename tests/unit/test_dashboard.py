"""The Grafana dashboard the chart ships: valid JSON, and every query names a metric we export.

The exported names are read from the real registries of the serving and operator metrics (after
one observation each, so histogram and counter samples exist), not from a list kept by hand.
"""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client import CollectorRegistry

from predictflow_devtools.paths import REPO_ROOT
from predictflow_operator.builders.common import Owner
from predictflow_operator.metrics import FinishedJob, OperatorMetrics
from predictflow_serving.metrics import Outcome, ServingMetrics

pytestmark = pytest.mark.unit
DASHBOARD = REPO_ROOT / "charts" / "predictflow-operator" / "dashboards" / "predictflow.json"
OURS = re.compile(r"\bpredictflow_[a-z_]+")
# The Redis exporter sidecar's; the data-plane tier checks them against the real exporter (test_metrics).
EXPORTERS = re.compile(r"\bredis_[a-z_]+")


def exported_sample_names() -> set[str]:
    serving = CollectorRegistry()
    metrics = ServingMetrics("churn", "redis", serving)
    metrics.answered(Outcome.OK)
    for observed in (metrics.predict_seconds, metrics.lookup_seconds):
        observed.observe(0.002)
    for counted in (metrics.entities, metrics.null_features):
        counted.inc()
    operator = OperatorMetrics()
    owner = Owner("a", "team", "uid")
    operator.jobs_seen(owner, [FinishedJob("scheduled", True, "2027-01-01T00:00:00Z", "2027-01-01T00:00:10Z", 10)])
    operator.passed(owner, {"phase": "Switching", "pendingOnlineStore": {"type": "redis", "name": "r", "state": "Provisioning"}}, 0.1, ["Invalid"])
    operator.passed(owner, {"phase": "Ready", "onlineStore": {"type": "redis", "name": "r", "state": "Serving"}}, 0.1, [])
    return {sample.name for registry in (serving, operator.registry) for family in registry.collect() for sample in family.samples}


def test_the_dashboard_is_valid_and_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_sample_names()
    assert dashboard["panels"], "the dashboard has no panels"
    unknown = {}
    for panel in dashboard["panels"]:
        expressions = [target["expr"] for target in panel["targets"]]
        names = {name for expr in expressions for name in OURS.findall(expr)}
        assert names or any(EXPORTERS.search(expr) for expr in expressions), f"panel {panel['title']!r} queries none of the project's metrics"
        if names - exported:
            unknown[panel["title"]] = sorted(names - exported)
    assert not unknown, f"panels query metrics nobody exports: {unknown}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"


def test_every_exported_family_has_a_panel() -> None:
    dashboard = DASHBOARD.read_text()
    families = {re.sub(r"_(bucket|count|sum|total|created)$", "", name) for name in exported_sample_names()}
    missing = sorted(family for family in families if family not in dashboard)
    assert not missing, f"exported but on no panel: {missing}"
