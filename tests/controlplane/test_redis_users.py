"""The in-cluster Redis's users on a real API server: every user gets a password in the auth Secret,
a store from before Redis had users keeps its password and gets the others added, and a password
the operator cannot place safely lands in status instead of in a config."""

import base64

import pytest
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from predictflow_devtools.featurestores import apply_featurestore, condition
from predictflow_devtools.waiting import eventually

pytestmark = pytest.mark.controlplane

SPEC = {"project": "churn"}
KEYS = {"password", "serving-password", "materialization-password", "monitoring-password", "exporter-password"}


def secret_data(kube, namespace, name):
    secret = kube.get(Secret, name, namespace=namespace)
    return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}


def checksum(kube, namespace):
    return kube.get(StatefulSet, "churn-redis", namespace=namespace).spec.template.metadata.annotations["predictflow.io/checksum"]


def test_a_store_from_before_redis_users_keeps_its_password_and_gets_the_others(kube, namespace, operator):
    apply_featurestore(kube, namespace, SPEC)
    eventually(lambda: kube.get(StatefulSet, "churn-redis", namespace=namespace), what="the Redis StatefulSet")
    # what a store created by an earlier operator holds: one key, `password`
    kube.patch(
        Secret, "churn-redis-auth", {"data": {key: None for key in KEYS - {"password"}}, "stringData": {"password": "pre-users-password-1"}},
        namespace=namespace, patch_type=PatchType.MERGE,
    )
    completed = eventually(lambda: (lambda d: set(d) == KEYS and d)(secret_data(kube, namespace, "churn-redis-auth")), what="the missing keys added")
    assert completed["password"] == "pre-users-password-1"
    assert len({completed[k] for k in KEYS}) == len(KEYS)
    acl = eventually(lambda: (lambda d: "replica-auth.conf" in d and "pre-users-password-1" in d["replica-auth.conf"] and d)(secret_data(kube, namespace, "churn-redis-acl")), what="the ACL rendered from it")
    assert "pre-users-password-1" not in acl["users.acl"] and acl["probe-password"] == "pre-users-password-1"


def test_a_password_that_cannot_be_placed_is_refused_in_status_and_never_rendered(kube, namespace, operator):
    apply_featurestore(kube, namespace, SPEC)
    eventually(lambda: kube.get(StatefulSet, "churn-redis", namespace=namespace), what="the Redis StatefulSet")
    acl_before, template_before = secret_data(kube, namespace, "churn-redis-acl"), checksum(kube, namespace)
    injected = "x\nuser default on nopass ~* +@all"
    kube.patch(Secret, "churn-redis-auth", {"stringData": {"serving-password": injected}}, namespace=namespace, patch_type=PatchType.MERGE)

    refused = eventually(lambda: (lambda c: c.get("reason") == "Invalid" and c)(condition(kube, namespace, "OnlineStoreReady")), what="the refusal in status")
    assert refused["status"] == "False"
    assert "Secret churn-redis-auth key 'serving-password'" in refused["message"] and "newline" in refused["message"]
    assert "nopass" not in refused["message"]
    assert secret_data(kube, namespace, "churn-redis-acl") == acl_before and checksum(kube, namespace) == template_before

    kube.patch(Secret, "churn-redis-auth", {"stringData": {"serving-password": "a-placeable-password-2"}}, namespace=namespace, patch_type=PatchType.MERGE)
    eventually(lambda: checksum(kube, namespace) != template_before, what="Redis to roll onto the fixed password")
    eventually(lambda: condition(kube, namespace, "OnlineStoreReady").get("reason") != "Invalid", what="the refusal to clear")


def test_a_missing_tls_secret_is_reported_before_any_pod_waits_on_it(kube, namespace, operator):
    apply_featurestore(kube, namespace, {**SPEC, "onlineStore": {"redis": {"tls": {"secretName": "churn-redis-tls"}}}})
    refused = eventually(lambda: (lambda c: c.get("reason") == "Invalid" and c)(condition(kube, namespace, "OnlineStoreReady")), what="the missing Secret in status")
    assert "spec.onlineStore.redis.tls.secretName: Secret churn-redis-tls does not exist" in refused["message"]
    tls = {"tls.crt": "c", "tls.key": "k", "ca.crt": "a"}
    kube.create(Secret.from_dict({"metadata": {"name": "churn-redis-tls", "namespace": namespace}, "stringData": tls}))
    unlabelled = eventually(lambda: (lambda c: c.get("reason") == "Invalid" and "not labelled" in c["message"] and c)(condition(kube, namespace, "OnlineStoreReady")), what="the unlabelled Secret in status", timeout=90)
    assert "spec.onlineStore.redis.tls.secretName: Secret churn-redis-tls is not labelled predictflow.io/featurestore=churn" in unlabelled["message"]
    kube.patch(Secret, "churn-redis-tls", {"metadata": {"labels": {"predictflow.io/featurestore": "churn"}}}, namespace=namespace, patch_type=PatchType.MERGE)
    stateful_set = eventually(lambda: next(iter(kube.list(StatefulSet, namespace=namespace)), None), what="the TLS Redis StatefulSet")
    assert stateful_set.metadata.name.startswith("churn-redis-") and "--tls" in stateful_set.spec.template.spec.containers[0].readinessProbe.to_dict()["exec"]["command"]
