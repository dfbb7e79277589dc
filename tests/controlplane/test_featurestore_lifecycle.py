"""The operator against a real API server: children, status, updates, idempotency, restart, deletion."""

import base64
import subprocess

import pytest
from lightkube import ApiError
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.batch_v1 import CronJob
from lightkube.resources.core_v1 import ConfigMap, Secret
from lightkube.types import PatchType

from predictflow_devtools.pytest_plugin import kubectl_binary
from predictflow_devtools.waiting import eventually
from predictflow_operator.clients.kube import FeatureStoreResource

from predictflow_devtools.featurestores import apply_featurestore, bring_to_ready, children, condition, patch_spec, status

pytestmark = pytest.mark.controlplane

SPEC = {"project": "churn", "materialization": {"schedule": "*/30 * * * *"}}


def resource_versions(kube, namespace):
    return {key: obj.metadata.resourceVersion for key, obj in children(kube, namespace).items()}


def test_a_featurestore_gets_its_children_with_owner_references_and_a_status(kube, namespace, operator):
    created = apply_featurestore(kube, namespace, SPEC)
    uid = created.metadata.uid
    expected = {
        ("Secret", "churn-redis-auth"),
        ("Secret", "churn-redis-acl"),
        ("ConfigMap", "churn-redis-config"),
        ("StatefulSet", "churn-redis"),
        ("Service", "churn-redis"),
        ("Service", "churn-redis-headless"),
    }
    def all_children():
        found = children(kube, namespace)
        return found if expected <= set(found) else None

    found = eventually(all_children, what="the Redis children")
    for key, obj in found.items():
        owners = obj.metadata.ownerReferences or []
        assert [(o.kind, o.uid, o.controller) for o in owners] == [("FeatureStore", uid, True)], key

    redis = kube.get(StatefulSet, "churn-redis", namespace=namespace)
    assert redis.spec.volumeClaimTemplates[0].spec.resources.requests["storage"] == "1Gi"
    assert redis.spec.template.spec.securityContext.runAsNonRoot is True
    probe = redis.spec.template.spec.containers[0].readinessProbe
    assert probe.to_dict()["exec"]["command"] == ["redis-cli", "--user", "replication", "ping"]

    config = next(obj for (kind, name), obj in found.items() if kind == "ConfigMap" and name.startswith("churn-feast-redis"))
    auth = kube.get(Secret, "churn-redis-auth", namespace=namespace).data
    assert set(auth) == {"password", "serving-password", "materialization-password", "monitoring-password", "exporter-password"}
    rendered = config.data["feature_store.yaml"]
    assert "username=${REDIS_USERNAME},password=${REDIS_PASSWORD_AS_JSON}" in rendered
    acl = base64.b64decode(kube.get(Secret, "churn-redis-acl", namespace=namespace).data["users.acl"]).decode()
    for value in auth.values():
        password = base64.b64decode(value).decode()
        assert password not in rendered and password not in acl and password not in str(redis.to_dict())

    phase = eventually(lambda: status(kube, namespace).get("phase"), what="a status phase")
    assert phase == "Provisioning"
    eventually(lambda: condition(kube, namespace, "OnlineStoreReady")["reason"] == "RedisStarting", what="the StatefulSet observed")
    assert {c["type"] for c in status(kube, namespace)["conditions"]} == {"OnlineStoreReady", "Materialized", "ServingReady", "Ready", "Fresh", "MemoryPressure"}


def test_backfill_then_serving_then_ready_and_kubectl_wait_works(kube, namespace, operator, control_plane):
    apply_featurestore(kube, namespace, SPEC)
    job = bring_to_ready(kube, namespace)
    final = status(kube, namespace)
    assert final["phase"] == "Ready"
    served = final["onlineStore"]
    assert (served["type"], served["name"], served["endpoint"], served["generation"]) == ("redis", "churn-redis", f"churn-redis.{namespace}.svc:6379", 1)
    assert served["authSecretRef"] == {"name": "churn-redis-auth", "key": "password"} and served["deletionPolicy"] == "Delete"
    assert final["lastMaterialization"]["job"] == job and final["lastMaterialization"]["succeeded"] is True
    assert "pendingOnlineStore" not in final
    kube.get(CronJob, "churn-materialize", namespace=namespace)
    serving = kube.get(Deployment, "churn-serving", namespace=namespace)
    assert serving.spec.strategy.rollingUpdate.maxUnavailable == 0

    waited = subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={control_plane.kubeconfig}", "-n", namespace, "wait", "--for=condition=Ready", "featurestore/churn", "--timeout=20s"],
        capture_output=True, text=True,
    )
    assert waited.returncode == 0, waited.stderr
    printed = subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={control_plane.kubeconfig}", "-n", namespace, "get", "pfs"], capture_output=True, text=True, check=True
    ).stdout
    header, row = printed.splitlines()[:2]
    assert header.split() == ["NAME", "TYPE", "PHASE", "READY", "ENDPOINT", "FRESHNESS", "LAST-MATERIALIZED", "AGE"]
    assert row.split()[:5] == ["churn", "redis", "Ready", "True", f"churn-redis.{namespace}.svc:6379"]


def test_a_spec_change_updates_the_children(kube, namespace, operator):
    apply_featurestore(kube, namespace, SPEC)
    bring_to_ready(kube, namespace)
    patch_spec(kube, namespace, {"onlineStore": {"redis": {"replicas": 1, "maxMemory": "256mb", "maxMemoryPolicy": "allkeys-lru"}}, "materialization": {"schedule": "@hourly"}, "serving": {"replicas": 2}})

    eventually(lambda: kube.get(StatefulSet, "churn-redis", namespace=namespace).spec.replicas == 2, what="two Redis pods")
    conf = kube.get(ConfigMap, "churn-redis-config", namespace=namespace).data
    assert "maxmemory 256mb" in conf["primary.conf"] and "maxmemory-policy allkeys-lru" in conf["replica.conf"]
    eventually(lambda: kube.get(CronJob, "churn-materialize", namespace=namespace).spec.schedule == "@hourly", what="the new schedule")
    eventually(lambda: kube.get(Deployment, "churn-serving", namespace=namespace).spec.replicas == 2, what="two serving pods")
    eventually(lambda: ("PodDisruptionBudget", "churn-serving") in children(kube, namespace), what="a PodDisruptionBudget")


def test_rotating_the_password_rolls_the_pods_that_use_it(kube, namespace, operator):
    apply_featurestore(kube, namespace, SPEC)
    bring_to_ready(kube, namespace)
    annotation = "predictflow.io/checksum"
    before_redis = kube.get(StatefulSet, "churn-redis", namespace=namespace).spec.template.metadata.annotations[annotation]
    before_serving = kube.get(Deployment, "churn-serving", namespace=namespace).spec.template.metadata.annotations[annotation]

    kube.patch(Secret, "churn-redis-auth", {"stringData": {"password": "rotated-password-1"}}, namespace=namespace, patch_type=PatchType.MERGE)

    eventually(lambda: kube.get(StatefulSet, "churn-redis", namespace=namespace).spec.template.metadata.annotations[annotation] != before_redis, what="Redis to roll")
    eventually(lambda: kube.get(Deployment, "churn-serving", namespace=namespace).spec.template.metadata.annotations[annotation] != before_serving, what="serving to roll")
    assert "rotated-password-1" not in operator.log_text()


def passes(operator, namespace):
    """Finished passes over churn in `namespace`, from the operator's debug log."""
    return operator.log_text().count(f"pass over {namespace}/churn: status fields changed")


def idle_passes(operator, namespace):
    return operator.log_text().count(f"pass over {namespace}/churn: status fields changed: none")


def test_reconciling_an_unchanged_featurestore_changes_nothing_also_after_a_restart(kube, namespace, operator, control_plane):
    apply_featurestore(kube, namespace, SPEC)
    bring_to_ready(kube, namespace)
    # at rest once the operator has read the store too (here it cannot resolve it: StoreUnreadable)
    eventually(lambda: condition(kube, namespace, "Fresh").get("reason") == "StoreUnreadable", what="the store's first reading")
    eventually(lambda: idle_passes(operator, namespace) >= 1, what="a pass that found nothing to change")
    before = resource_versions(kube, namespace)
    status_before = status(kube, namespace)

    # A change that is not the spec wakes a pass (the FeatureStore is watched); it must write nothing.
    idle = idle_passes(operator, namespace)
    kube.patch(FeatureStoreResource, "churn", {"metadata": {"annotations": {"test/poke": "1"}}}, namespace=namespace, patch_type=PatchType.MERGE)
    eventually(lambda: idle_passes(operator, namespace) > idle, what="the woken pass")
    # The API server's write counter is the whole plane's: other tests' FeatureStores (their store
    # readers among them) may write meanwhile, so this FeatureStore's own objects are the evidence.
    assert resource_versions(kube, namespace) == before, "a pass at rest wrote to the API server"
    assert status(kube, namespace) == status_before
    fs_before = kube.get(FeatureStoreResource, "churn", namespace=namespace).metadata.resourceVersion

    # A restarted operator runs a pass over every FeatureStore at start: it must converge on nothing.
    passes_before, idle_before = passes(operator, namespace), idle_passes(operator, namespace)
    operator.restart()
    eventually(lambda: passes(operator, namespace) > passes_before, what="the restarted operator's first pass")
    assert idle_passes(operator, namespace) - idle_before == passes(operator, namespace) - passes_before
    # Every object of this FeatureStore unchanged (the API server's write counter also counts the
    # restarted operator's passes over other tests' FeatureStores on this shared plane).
    assert resource_versions(kube, namespace) == before
    assert status(kube, namespace) == status_before
    assert kube.get(FeatureStoreResource, "churn", namespace=namespace).metadata.resourceVersion == fs_before


def test_deleting_the_featurestore_garbage_collects_every_child(kube, namespace, operator):
    apply_featurestore(kube, namespace, SPEC)
    bring_to_ready(kube, namespace)
    assert len(children(kube, namespace)) >= 9
    kube.delete(FeatureStoreResource, "churn", namespace=namespace)
    eventually(lambda: not children(kube, namespace), what="every child to be garbage-collected")
    with pytest.raises(ApiError):
        kube.get(FeatureStoreResource, "churn", namespace=namespace)


def test_the_serving_deployment_has_truthful_probes_no_secret_literals_and_rolls_on_config_change(kube, namespace, operator):
    apply_featurestore(kube, namespace, {**SPEC, "serving": {"onStoreDown": "unavailable"}})
    bring_to_ready(kube, namespace)
    deployment = kube.get(Deployment, "churn-serving", namespace=namespace)
    container = deployment.spec.template.spec.containers[0]
    assert (container.readinessProbe.httpGet.path, container.readinessProbe.periodSeconds, container.readinessProbe.failureThreshold) == ("/readyz", 2, 1)
    assert (container.livenessProbe.httpGet.path, container.livenessProbe.periodSeconds, container.livenessProbe.failureThreshold) == ("/livez", 10, 6)
    env = {e.name: e for e in container.env}
    assert env["PREDICTFLOW_ON_STORE_DOWN"].value == "unavailable"
    assert env["REDIS_PASSWORD"].value is None and env["REDIS_PASSWORD"].valueFrom.secretKeyRef.name == "churn-redis-auth"
    password = base64.b64decode(kube.get(Secret, "churn-redis-auth", namespace=namespace).data["password"]).decode()
    assert password not in str(deployment.to_dict())

    before = deployment.spec.template.metadata.annotations["predictflow.io/checksum"]
    patch_spec(kube, namespace, {"onlineStore": {"keyTTLSeconds": 3600}})
    eventually(
        lambda: kube.get(Deployment, "churn-serving", namespace=namespace).spec.template.metadata.annotations["predictflow.io/checksum"] != before,
        what="serving to roll on the new feature_store.yaml",
    )
    config_name = kube.get(Deployment, "churn-serving", namespace=namespace).spec.template.spec.volumes[0].configMap.name
    assert "key_ttl_seconds: 3600" in kube.get(ConfigMap, config_name, namespace=namespace).data["feature_store.yaml"]
