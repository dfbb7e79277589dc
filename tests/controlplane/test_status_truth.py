"""A status that never lies: long names, refused children and empty backfills are all reported."""

import pytest
from lightkube import ApiError
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.batch_v1 import CronJob, Job

from predictflow_devtools.featurestores import absent, apply_featurestore, condition, patch_spec, status
from predictflow_devtools.kubelet import finish_job_pods, mark_pods_ready
from predictflow_devtools.waiting import eventually
from predictflow_operator.builders.common import MAX_CHILD_NAME

pytestmark = pytest.mark.controlplane

SPEC = {"project": "churn"}


def backfill(kube, namespace, name):
    return eventually(
        lambda: next(iter(kube.list(Job, namespace=namespace, labels={"app.kubernetes.io/component": "backfill", "predictflow.io/featurestore": name})), None),
        what="the backfill Job",
    )


def bring_to_ready(kube, namespace, name="churn"):
    labels = {"predictflow.io/featurestore": name}
    eventually(lambda: mark_pods_ready(kube, namespace, {**labels, "app.kubernetes.io/component": "redis"}), what="the Redis pod")
    job = backfill(kube, namespace, name)
    eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name), what="the backfill pod")
    eventually(lambda: mark_pods_ready(kube, namespace, {**labels, "app.kubernetes.io/component": "serving"}), what="a serving pod")
    eventually(lambda: condition(kube, namespace, "Ready", name).get("status") == "True", what="Ready=True")


def test_a_long_valid_name_gets_children_that_fit_and_goes_ready(kube, namespace, operator):
    name = "churn-features-for-the-retention-team-eu1"
    apply_featurestore(kube, namespace, SPEC, name=name)
    bring_to_ready(kube, namespace, name)
    job = backfill(kube, namespace, name)
    owned = {"predictflow.io/featurestore": name}
    for kind in (Job, StatefulSet, CronJob, Deployment):
        for child in kube.list(kind, namespace=namespace, labels=owned):
            assert len(child.metadata.name) <= MAX_CHILD_NAME, child.metadata.name
    assert status(kube, namespace, name)["phase"] == "Ready"


def test_a_name_longer_than_a_label_value_is_rejected_by_the_api_server(kube, namespace):
    with pytest.raises(ApiError) as refused:
        apply_featurestore(kube, namespace, SPEC, name="x" * 64)
    assert "at most 63 characters" in refused.value.status.message


def test_a_backfill_that_wrote_nothing_over_a_full_source_never_serves(kube, namespace, operator):
    apply_featurestore(kube, namespace, SPEC)
    eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "redis"}), what="the Redis pod")
    job = backfill(kube, namespace, "churn")
    eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name, report={"rows": 0, "sourceRows": 5000}), what="the backfill pod")

    empty = eventually(lambda: (c := condition(kube, namespace, "Materialized")).get("reason") == "BackfillEmpty" and c, what="BackfillEmpty")
    assert f"Job {job.metadata.name} wrote 0 rows but the offline source holds 5000 rows" in empty["message"]
    current = status(kube, namespace)
    assert current["phase"] == "Failed" and "onlineStore" not in current
    assert current["pendingOnlineStore"]["state"] == "Verifying"
    assert absent(kube, Deployment, "churn-serving", namespace)


def test_a_refused_child_lands_in_status_with_the_api_servers_message_and_the_generation_advances(kube, namespace, operator):
    apply_featurestore(kube, namespace, SPEC)
    bring_to_ready(kube, namespace)
    generation = patch_spec(kube, namespace, {"onlineStore": {"redis": {"persistence": {"storageClassName": "fast"}}}}).metadata.generation

    def refused():
        current = status(kube, namespace)
        store = condition(kube, namespace, "OnlineStoreReady")
        return current.get("observedGeneration") == generation and store.get("reason") == "ApplyFailed" and (current, store)

    current, store = eventually(refused, what="the refused StatefulSet in status")
    assert "applying StatefulSet churn-redis" in store["message"] and "Forbidden" in store["message"]
    assert store["status"] == "False" and store["observedGeneration"] == generation
    ready = condition(kube, namespace, "Ready")
    assert ready["status"] == "False" and ready["observedGeneration"] == generation
    assert current["phase"] == "Degraded" and current["onlineStore"]["type"] == "redis"
    # serving keeps running on what works
    assert kube.get(Deployment, "churn-serving", namespace=namespace).spec.template.metadata.labels["predictflow.io/store-type"] == "redis"
