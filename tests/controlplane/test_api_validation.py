"""Bad specs are rejected by the API server itself, with a message naming the field."""

import subprocess

import pytest
import yaml

from predictflow_devtools.pytest_plugin import kubectl_binary

pytestmark = pytest.mark.controlplane


def kubectl_apply(control_plane, namespace, spec, *extra):
    manifest = {"apiVersion": "predictflow.io/v1alpha1", "kind": "FeatureStore", "metadata": {"name": "churn", "namespace": namespace}, "spec": spec}
    return subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={control_plane.kubeconfig}", "apply", "-f", "-", *extra],
        input=yaml.safe_dump(manifest), capture_output=True, text=True,
    )


REJECTED = {
    "unknown store type": ({"project": "churn", "onlineStore": {"type": "dynamodb"}}, ['spec.onlineStore.type', '"redis", "elasticache"']),
    "negative redis replicas": ({"project": "churn", "onlineStore": {"redis": {"replicas": -1}}}, ["spec.onlineStore.redis.replicas", "greater than or equal to 0"]),
    "a two-shard cluster": (
        {"project": "churn", "onlineStore": {"redis": {"shards": 2}}},
        ["spec.onlineStore.redis.shards: a Redis Cluster needs at least 3 shards"],
    ),
    "too many shards": ({"project": "churn", "onlineStore": {"redis": {"shards": 17}}}, ["spec.onlineStore.redis.shards", "less than or equal to 16"]),
    "negative TTL": ({"project": "churn", "onlineStore": {"keyTTLSeconds": -5}}, ["spec.onlineStore.keyTTLSeconds", "greater than or equal to 0"]),
    "negative serving replicas": ({"project": "churn", "serving": {"replicas": -2}}, ["spec.serving.replicas"]),
    "project with a dash": ({"project": "churn-prod"}, ["spec.project", "^[A-Za-z0-9][A-Za-z0-9_]*$"]),
    "project with a leading underscore": ({"project": "_churn"}, ["spec.project"]),
    "missing project": ({"onlineStore": {"type": "redis"}}, ["spec.project", "Required value"]),
    "invalid cron": ({"project": "churn", "materialization": {"schedule": "every 5 minutes"}}, ["spec.materialization.schedule", "5-field cron expression"]),
    "existing mode without endpoint": (
        {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"mode": "existing", "authSecretRef": {"name": "auth", "key": "token"}}}},
        ["spec.onlineStore.elasticache.endpoint (host:port) is required when mode is existing"],
    ),
    "existing mode without auth secret": (
        {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"mode": "existing", "endpoint": "cache.example:6379"}}},
        ["spec.onlineStore.elasticache.authSecretRef.name is required when mode is existing"],
    ),
    "endpoint without port": (
        {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"mode": "existing", "endpoint": "cache.example", "authSecretRef": {"name": "a"}}}},
        ["spec.onlineStore.elasticache.endpoint"],
    ),
    "unknown deletion policy": ({"project": "churn", "onlineStore": {"elasticache": {"deletionPolicy": "Orphan"}}}, ["spec.onlineStore.elasticache.deletionPolicy", '"Retain", "Delete"']),
    "unknown onStoreDown": ({"project": "churn", "serving": {"onStoreDown": "ignore"}}, ["spec.serving.onStoreDown", '"stale", "unavailable"']),
    "bad node type": ({"project": "churn", "onlineStore": {"elasticache": {"nodeType": "t4g.small"}}}, ["spec.onlineStore.elasticache.nodeType"]),
    "bad memory size": ({"project": "churn", "onlineStore": {"redis": {"maxMemory": "lots"}}}, ["spec.onlineStore.redis.maxMemory"]),
    "relative offline path": ({"project": "churn", "offlineStore": {"path": "data/"}}, ["spec.offlineStore.path"]),
    # names and paths that would mean something to a URL, a shell or a file system
    "secret name with ../": (
        {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"mode": "existing", "endpoint": "c.example:6379", "authSecretRef": {"name": "../../kube-system/secrets/x", "key": "token"}}}},
        ["spec.onlineStore.elasticache.authSecretRef.name", "should match"],
    ),
    "secret key of dots": (
        {"project": "churn", "onlineStore": {"elasticache": {"caSecretRef": {"name": "ca", "key": ".."}}}},
        ["spec.onlineStore.elasticache.caSecretRef.key"],
    ),
    "repo path with a shell substitution": ({"project": "churn", "featureRepo": {"path": '/repo"; rm -rf / #'}}, ["spec.featureRepo.path", "should match"]),
    "repo path with ..": ({"project": "churn", "featureRepo": {"path": "/opt/../etc"}}, ["spec.featureRepo.path must not contain '..' segments"]),
    "offline path with ..": ({"project": "churn", "offlineStore": {"path": "s3://bucket/../other"}}, ["spec.offlineStore.path must not contain '..' segments"]),
    "config map name with a slash": ({"project": "churn", "featureRepo": {"configMap": "a/b"}}, ["spec.featureRepo.configMap"]),
    "image with a space": ({"project": "churn", "serving": {"image": "model:1 --privileged"}}, ["spec.serving.image"]),
    "storage class with a capital": ({"project": "churn", "onlineStore": {"redis": {"persistence": {"storageClassName": "Fast"}}}}, ["storageClassName"]),
    "security group that is not one": ({"project": "churn", "onlineStore": {"elasticache": {"securityGroupIds": ["default; drop"]}}}, ["securityGroupIds"]),
    "overlong image": ({"project": "churn", "serving": {"image": "r/" + "a" * 600}}, ["spec.serving.image", "may not be more than 512"]),
}


@pytest.mark.parametrize("case", REJECTED, ids=list(REJECTED))
def test_bad_spec_is_rejected_with_a_message_naming_the_field(control_plane, namespace, case):
    spec, fragments = REJECTED[case]
    result = kubectl_apply(control_plane, namespace, spec)
    assert result.returncode != 0, result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_unknown_fields_are_rejected_under_strict_validation(control_plane, namespace):
    result = kubectl_apply(control_plane, namespace, {"project": "churn", "onlineStore": {"tpye": "redis"}}, "--validate=strict")
    assert result.returncode != 0
    assert 'unknown field "spec.onlineStore.tpye"' in result.stderr


def test_a_minimal_spec_is_accepted_and_defaulted_by_the_schema(control_plane, namespace, kube):
    result = kubectl_apply(control_plane, namespace, {"project": "churn"})
    assert result.returncode == 0, result.stderr
    from predictflow_operator.clients.kube import FeatureStoreResource

    spec = kube.get(FeatureStoreResource, "churn", namespace=namespace)["spec"]
    assert spec["onlineStore"]["type"] == "redis"
    assert spec["onlineStore"]["redis"]["image"] == ""
    assert spec["onlineStore"]["redis"]["persistence"] == {"enabled": True, "size": "1Gi", "appendOnly": True, "storageClassName": ""}
    assert spec["onlineStore"]["elasticache"]["deletionPolicy"] == "Retain"
    assert spec["onlineStore"]["memoryPressurePercent"] == 80
    assert spec["onlineStore"]["redis"]["metrics"] == {"enabled": False, "resources": {}}
    assert spec["materialization"]["schedule"] == "*/30 * * * *"
    assert spec["materialization"]["freshnessThresholdSeconds"] == 0
    assert spec["materialization"]["backfillParallelism"] == 1
    assert spec["serving"] == {
        "enabled": True, "image": "", "replicas": 1, "livenessChecksRedis": True, "onStoreDown": "stale", "ttlExpiredFeatures": "missing",
        "resources": {}, "networkPolicy": {"enabled": False}, "priorityClassName": "",
        "autoscaling": {"enabled": False, "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 80},
    }
    # no topologySpreadConstraints: absent means the operator's default spread
    assert "topologySpreadConstraints" not in spec["onlineStore"]["redis"]
