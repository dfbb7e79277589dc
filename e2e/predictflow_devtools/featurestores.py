"""Test helpers for FeatureStores on the loopback control plane."""

from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import ConfigMap, PersistentVolumeClaim, Secret, Service
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType

from predictflow_operator.clients.kube import FeatureStoreResource

from .kubelet import finish_job_pods, mark_pods_ready
from .waiting import eventually

CHILD_KINDS = (StatefulSet, Service, ConfigMap, Secret, CronJob, Job, Deployment, PodDisruptionBudget)


def apply_featurestore(kube, namespace, spec, name="churn"):
    body = {"apiVersion": "predictflow.io/v1alpha1", "kind": "FeatureStore", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    return kube.apply(FeatureStoreResource.from_dict(body), field_manager="tests", force=True)


def patch_spec(kube, namespace, patch, name="churn"):
    return kube.patch(FeatureStoreResource, name, {"spec": patch}, namespace=namespace, patch_type=PatchType.MERGE)


def status(kube, namespace, name="churn"):
    return kube.get(FeatureStoreResource, name, namespace=namespace).get("status") or {}


def condition(kube, namespace, kind, name="churn"):
    return next((c for c in status(kube, namespace, name).get("conditions", []) if c["type"] == kind), {})


def children(kube, namespace, name="churn"):
    """Every object labelled as this FeatureStore's: {(kind, name): object}."""
    found = {}
    for kind in CHILD_KINDS:
        for obj in kube.list(kind, namespace=namespace, labels={"app.kubernetes.io/instance": name}):
            found[(kind.__name__, obj.metadata.name)] = obj
    return found


def claims(kube, namespace):
    return list(kube.list(PersistentVolumeClaim, namespace=namespace))


def absent(kube, kind, name, namespace):
    """True once the object is gone (404)."""
    from lightkube import ApiError

    try:
        kube.get(kind, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return True
        raise
    return False


def backfill(kube, namespace, name="churn"):
    """The FeatureStore's backfill Job, once the operator has created it."""
    labels = {"app.kubernetes.io/component": "backfill", "predictflow.io/featurestore": name}
    return eventually(lambda: next(iter(kube.list(Job, namespace=namespace, labels=labels)), None), what="the backfill Job")


def bring_to_ready(kube, namespace, name="churn", serving_pods=1):
    """Play the kubelet: the Redis pod ready, the backfill pod succeeded, the serving pods ready
    (once `serving_pods` of them exist). Returns the backfill Job's name."""
    labels = {"predictflow.io/featurestore": name}
    eventually(lambda: mark_pods_ready(kube, namespace, {**labels, "app.kubernetes.io/component": "redis"}), what="the Redis pod")
    job = backfill(kube, namespace, name)
    eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name), what="the backfill pod")
    eventually(
        lambda: mark_pods_ready(kube, namespace, {**labels, "app.kubernetes.io/component": "serving"}) >= serving_pods,
        what=f"{serving_pods} serving pod(s)",
    )
    eventually(lambda: condition(kube, namespace, "Ready", name).get("status") == "True", what="Ready=True", timeout=90)
    return job.metadata.name
