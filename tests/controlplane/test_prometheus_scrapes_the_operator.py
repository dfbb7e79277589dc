"""A real Prometheus scrapes the operator while a FeatureStore goes from nothing to Ready and away.

The operator is the session's process (`--metrics`); the kubelet's part is played by the tests. The
per-FeatureStore series are checked exactly; the fleet-wide ones (phases, passes) at least count it.
"""

from __future__ import annotations

import pytest

from predictflow_devtools.featurestores import apply_featurestore, bring_to_ready
from predictflow_devtools.kubelet import FULL_REPORT
from predictflow_devtools.prometheus import Prometheus
from predictflow_devtools.waiting import eventually
from predictflow_operator.clients.kube import FeatureStoreResource

pytestmark = pytest.mark.controlplane


def test_prometheus_follows_a_featurestore_through_its_passes_jobs_and_deletion(kube, namespace, operator, tmp_path):
    prometheus = Prometheus(tmp_path / "prometheus", {"operator": operator.metrics_target}).start()
    try:
        eventually(lambda: prometheus.targets_up().get("operator"), what="the operator scraped")
        mine = f'namespace="{namespace}",featurestore="churn"'
        apply_featurestore(kube, namespace, {"project": "churn"})
        prometheus.wait_for('predictflow_operator_featurestores{phase="Provisioning"}', lambda value: value >= 1)
        bring_to_ready(kube, namespace)

        assert prometheus.wait_for(f'predictflow_operator_materialization_rows{{{mine},kind="backfill"}}', FULL_REPORT["rows"])
        assert prometheus.wait_for(f'predictflow_operator_materialization_succeeded{{{mine},kind="backfill"}}', 1) == 1
        prometheus.wait_for(f"predictflow_operator_materialization_age_seconds{{{mine}}}", lambda age: 0 <= age < 300)
        prometheus.wait_for('predictflow_operator_featurestores{phase="Ready"}', lambda value: value >= 1)
        # the first store went through provisioning and its backfill before it served
        for stage in ("provision", "backfill"):
            count = f'predictflow_operator_switch_stage_duration_seconds_count{{stage="{stage}",store_type="redis"}}'
            prometheus.wait_for(count, lambda value: value >= 1)
        assert prometheus.scalar('sum(predictflow_operator_reconcile_duration_seconds_count{result="ok"})') >= 3
        assert prometheus.scalar("predictflow_operator_leader") == 1

        kube.delete(FeatureStoreResource, "churn", namespace=namespace)
        eventually(lambda: prometheus.scalar(f"predictflow_operator_materialization_age_seconds{{{mine}}}") is None, what="its series gone")
    finally:
        prometheus.stop()
