"""A sharded in-cluster store against a real API server: what the operator renders for a Redis
Cluster, what status says while its pods are not up, and a shard-count change as a switch."""

import base64

import pytest
import yaml
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import ConfigMap, Secret, Service
from lightkube.resources.policy_v1 import PodDisruptionBudget

from predictflow_devtools.featurestores import apply_featurestore, bring_to_ready, condition, patch_spec, status
from predictflow_devtools.waiting import eventually

pytestmark = pytest.mark.controlplane

SHARDED = {"project": "churn", "onlineStore": {"redis": {"shards": 3, "replicas": 1}}}


def _instance(kube, namespace):
    return eventually(lambda: (status(kube, namespace).get("pendingOnlineStore") or {}).get("name") or None, what="the store's record")


def test_a_sharded_store_is_a_redis_cluster_the_operator_waits_on_truthfully(kube, namespace, operator):
    apply_featurestore(kube, namespace, SHARDED)
    name = _instance(kube, namespace)
    assert name != "churn-redis" and status(kube, namespace)["pendingOnlineStore"]["shards"] == 3
    pods = eventually(lambda: kube.get(StatefulSet, name, namespace=namespace), what="the StatefulSet")
    assert pods.spec.replicas == 6 and pods.spec.podManagementPolicy == "Parallel"
    assert [p.name for p in pods.spec.template.spec.containers[0].ports] == ["redis", "cluster-bus"]
    assert kube.get(PodDisruptionBudget, name, namespace=namespace).spec.maxUnavailable == 1
    assert "statefulset.kubernetes.io/pod-name" not in kube.get(Service, name, namespace=namespace).spec.selector  # any node starts a client

    assert "topology-password" in kube.get(Secret, f"{name}-auth", namespace=namespace).data
    acl = base64.b64decode(kube.get(Secret, f"{name}-acl", namespace=namespace).data["users.acl"]).decode()
    assert any(line.startswith("user topology ") and "+cluster|meet" in line for line in acl.splitlines())
    config = eventually(
        lambda: next((c for c in kube.list(ConfigMap, namespace=namespace) if c.metadata.name.startswith("churn-feast-redis")), None), what="the Feast config"
    )
    online = yaml.safe_load(config.data["feature_store.yaml"])["online_store"]
    assert online["redis_type"] == "redis_cluster" and online["connection_string"].startswith(f"{name}.{namespace}.svc:6379,")

    # no kubelet runs the pods here: status says which pods it waits for, and why
    ready = eventually(lambda: condition(kube, namespace, "OnlineStoreReady") if condition(kube, namespace, "OnlineStoreReady").get("reason") == "RedisClusterForming" else None, what="RedisClusterForming")
    assert ready["status"] == "False" and f"{name}-0: pod is Pending, no IP yet" in ready["message"]
    assert status(kube, namespace)["observedGeneration"] == 1


def test_changing_the_shard_count_is_a_switch_to_a_new_store(kube, namespace, operator):
    apply_featurestore(kube, namespace, {"project": "churn"})
    bring_to_ready(kube, namespace)
    assert status(kube, namespace)["onlineStore"]["name"] == "churn-redis"
    patch_spec(kube, namespace, {"onlineStore": {"redis": {"shards": 3}}})
    pending = eventually(lambda: status(kube, namespace).get("pendingOnlineStore", {}).get("shards") == 3 and status(kube, namespace), what="a pending 3-shard store")
    assert pending["onlineStore"]["name"] == "churn-redis" and pending["pendingOnlineStore"]["state"] == "Provisioning"
    told = "the new redis store is not ready: Redis Cluster of 0/3 shards"
    eventually(lambda: told in condition(kube, namespace, "OnlineStoreReady")["message"], what=told)
    assert kube.get(StatefulSet, "churn-redis", namespace=namespace).spec.replicas == 1  # the serving store is untouched
