"""Test helpers for FeatureStores on the loopback control plane."""

from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import ConfigMap, PersistentVolumeClaim, Secret, Service
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType

from predictflow_operator.clients.kube import FeatureStoreResource

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
