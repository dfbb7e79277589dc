"""The chart's clusterIdentity value reaches the operator, and a bad one is rejected."""

import json
from pathlib import Path

import pytest

from tests.unit.test_chart import CHART, KUBE_VERSION, RELEASE, env, helm, render

pytestmark = pytest.mark.unit


def test_cluster_identity_reaches_the_operator():
    assert env(render("--set", "clusterIdentity=prod-eu-1"))["PREDICTFLOW_CLUSTER_IDENTITY"] == "prod-eu-1"
    # rendered without a cluster nothing can be looked up: the operator then leaves managed groups alone
    assert "PREDICTFLOW_CLUSTER_IDENTITY" not in env(render())


def test_a_cluster_identity_aws_could_not_tag_with_is_rejected():
    done = helm("template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION, "--set", "clusterIdentity=two words")
    assert done.returncode != 0 and "clusterIdentity" in done.stderr


def test_the_iam_policy_scopes_changes_to_the_id_prefix_and_the_tag():
    policy = json.loads((Path(CHART) / "iam" / "elasticache-policy.json").read_text())
    changes = next(s for s in policy["Statement"] if "elasticache:DeleteReplicationGroup" in s["Action"] and "replicationgroup" in str(s["Resource"]))
    assert changes["Resource"].endswith(":replicationgroup:pf-*")
    assert changes["Condition"] == {"StringEquals": {"aws:ResourceTag/predictflow.io/cluster-identity": "CLUSTER_IDENTITY"}}
