"""The operator writes and deletes only what its FeatureStore owns: a namesake is left alone and reported."""

import pytest
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec, ServicePort, ServiceSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Secret, Service
from lightkube.types import PatchType

from predictflow_operator import FIELD_MANAGER
from predictflow_operator.clients.kube import APPLIED_ANNOTATION
from predictflow_devtools.featurestores import apply_featurestore, condition, status
from predictflow_devtools.kubelet import finish_job_pods, mark_pods_ready
from predictflow_devtools.waiting import eventually

pytestmark = pytest.mark.controlplane

# What a Helm release called `churn` would have: its own labels, no owner.
HELM_LABELS = {"app.kubernetes.io/instance": "churn", "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/component": "redis"}


def untouched(before, after):
    """Same object, same contents (its own controllers may still write its status), no trace of the operator."""
    managers = {f.manager for f in after.metadata.managedFields or []}
    return (
        after.metadata.uid == before.metadata.uid
        and after.metadata.generation == before.metadata.generation
        and after.metadata.labels == before.metadata.labels
        and APPLIED_ANNOTATION not in (after.metadata.annotations or {})
        and not after.metadata.ownerReferences
        and FIELD_MANAGER not in managers
    )


def test_a_service_of_another_release_with_a_childs_name_is_left_untouched_and_reported(kube, namespace, operator):
    foreign = Service(
        metadata=ObjectMeta(name="churn-redis-headless", namespace=namespace, labels=HELM_LABELS),
        spec=ServiceSpec(clusterIP="None", selector={"app": "payments"}, ports=[ServicePort(name="redis", port=6379)]),
    )
    before = kube.create(foreign)
    apply_featurestore(kube, namespace, {"project": "churn"})

    store = eventually(lambda: (c := condition(kube, namespace, "OnlineStoreReady")).get("reason") == "NotOwned" and c, what="NotOwned")
    assert "Service churn-redis-headless already exists and is not owned by this FeatureStore" in store["message"]
    assert status(kube, namespace)["observedGeneration"] == 1
    assert untouched(before, kube.get(Service, "churn-redis-headless", namespace=namespace))
    # its own Service, which nobody else holds, is still made
    eventually(lambda: kube.get(Service, "churn-redis", namespace=namespace), what="the FeatureStore's own Service")


def test_a_secret_with_the_generated_passwords_name_is_neither_used_nor_overwritten(kube, namespace, operator):
    before = kube.create(Secret(metadata=ObjectMeta(name="churn-redis-auth", namespace=namespace), stringData={"password": "theirs"}))
    apply_featurestore(kube, namespace, {"project": "churn"})

    store = eventually(lambda: (c := condition(kube, namespace, "OnlineStoreReady")).get("reason") == "NotOwned" and c, what="NotOwned")
    assert "Secret churn-redis-auth already exists and is not owned" in store["message"]
    after = kube.get(Secret, "churn-redis-auth", namespace=namespace)
    assert untouched(before, after) and after.data == before.data


def test_a_deployment_it_does_not_own_is_not_deleted_when_serving_is_off(kube, namespace, operator):
    labels = {"app": "payments-serving"}
    before = kube.create(
        Deployment(
            metadata=ObjectMeta(name="churn-serving", namespace=namespace, labels=HELM_LABELS),
            spec=DeploymentSpec(
                replicas=0,
                selector=LabelSelector(matchLabels=labels),
                template=PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=PodSpec(containers=[Container(name="app", image="payments:1")])),
            ),
        )
    )
    apply_featurestore(kube, namespace, {"project": "churn", "serving": {"enabled": False}})
    ours = {"predictflow.io/featurestore": "churn"}
    eventually(lambda: mark_pods_ready(kube, namespace, {**ours, "app.kubernetes.io/component": "redis"}), what="the Redis pod")
    job = eventually(
        lambda: next(iter(kube.list(Job, namespace=namespace, labels={**ours, "app.kubernetes.io/component": "backfill"})), None), what="the backfill"
    )
    eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name), what="the backfill pod")

    serving = eventually(lambda: (c := condition(kube, namespace, "ServingReady")).get("reason") == "NotOwned" and c, what="NotOwned")
    assert "Deployment churn-serving already exists and is not owned" in serving["message"]
    after = kube.get(Deployment, "churn-serving", namespace=namespace)
    assert untouched(before, after) and after.spec.template.spec.containers[0].image == "payments:1"


def test_a_secret_not_labelled_for_the_featurestore_is_not_read_until_its_owner_opts_in(kube, namespace, operator):
    kube.create(Secret(metadata=ObjectMeta(name="shared-token", namespace=namespace), stringData={"token": "a-token-of-the-team"}))
    existing = {"mode": "existing", "endpoint": "cache.example:6379", "authSecretRef": {"name": "shared-token", "key": "token"}}
    apply_featurestore(kube, namespace, {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": existing}})

    store = eventually(lambda: (c := condition(kube, namespace, "OnlineStoreReady")).get("reason") == "SecretNotPermitted" and c, what="SecretNotPermitted")
    assert "Secret shared-token is not labelled predictflow.io/featurestore=churn" in store["message"]
    assert "pendingOnlineStore" not in status(kube, namespace) or status(kube, namespace)["pendingOnlineStore"]["state"] == "Provisioning"

    kube.patch(Secret, "shared-token", {"metadata": {"labels": {"predictflow.io/featurestore": "churn"}}}, namespace=namespace, patch_type=PatchType.MERGE)
    adopted = eventually(lambda: (c := condition(kube, namespace, "OnlineStoreReady")).get("reason") == "EndpointAdopted" and c, what="EndpointAdopted")
    assert adopted["status"] == "True"
