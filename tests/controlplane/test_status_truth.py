"""A status that never lies: long names, refused children and empty backfills are all reported."""

import pytest
from lightkube import ApiError
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.batch_v1 import CronJob, Job

from predictflow_devtools.featurestores import absent, apply_featurestore, backfill, bring_to_ready, claims, condition, patch_spec, status
from predictflow_devtools.kubelet import finish_job_pods, mark_pods_ready
from predictflow_devtools.waiting import eventually
from predictflow_operator.builders.common import MAX_CHILD_NAME

pytestmark = pytest.mark.controlplane

SPEC = {"project": "churn"}


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


def test_a_refused_volume_expansion_lands_in_status_with_the_api_servers_message_and_the_generation_advances(kube, namespace, operator):
    """No provisioner binds claims on this tier, and the API server resizes only bound claims: the
    expansion is refused, and the status says so in the server's words."""
    apply_featurestore(kube, namespace, SPEC)
    bring_to_ready(kube, namespace)
    eventually(lambda: claims(kube, namespace), what="the Redis pod's claim")
    generation = patch_spec(kube, namespace, {"onlineStore": {"redis": {"persistence": {"size": "2Gi"}}}}).metadata.generation

    def refused():
        current = status(kube, namespace)
        store = condition(kube, namespace, "OnlineStoreReady")
        return current.get("observedGeneration") == generation and store.get("reason") == "ApplyFailed" and (current, store)

    current, store = eventually(refused, what="the refused expansion in status")
    assert "patching PersistentVolumeClaim data-churn-redis-0" in store["message"] and "Forbidden" in store["message"]
    assert store["status"] == "False" and store["observedGeneration"] == generation
    ready = condition(kube, namespace, "Ready")
    assert ready["status"] == "False" and ready["observedGeneration"] == generation
    assert current["phase"] == "Degraded" and current["onlineStore"]["name"] == "churn-redis"
    # nothing was torn down: the StatefulSet and serving keep running on what works
    assert kube.get(StatefulSet, "churn-redis", namespace=namespace).metadata.deletionTimestamp is None
    assert kube.get(Deployment, "churn-serving", namespace=namespace).spec.template.metadata.labels["predictflow.io/store-type"] == "redis"


def test_a_storage_class_change_replaces_the_store_through_the_switch(kube, namespace, operator):
    apply_featurestore(kube, namespace, SPEC)
    bring_to_ready(kube, namespace)
    patch_spec(kube, namespace, {"onlineStore": {"redis": {"persistence": {"storageClassName": "fast"}}}})

    pending = eventually(lambda: status(kube, namespace).get("pendingOnlineStore"), what="a pending replacement")
    new = pending["name"]
    assert new.startswith("churn-redis-") and pending["type"] == "redis"
    replacement = eventually(lambda: kube.get(StatefulSet, new, namespace=namespace), what="the new StatefulSet")
    assert replacement.spec.volumeClaimTemplates[0].spec.storageClassName == "fast"
    assert status(kube, namespace)["onlineStore"]["name"] == "churn-redis"  # the old one serves meanwhile

    eventually(lambda: mark_pods_ready(kube, namespace, {"predictflow.io/redis": new}), what="the new Redis pod")
    job = eventually(
        lambda: next((j for j in kube.list(Job, namespace=namespace, labels={"app.kubernetes.io/component": "backfill"}) if j.metadata.name == status(kube, namespace).get("pendingOnlineStore", {}).get("backfillJob")), None),
        what="the replacement's backfill",
    )
    eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name), what="the backfill pod")
    eventually(lambda: status(kube, namespace).get("onlineStore", {}).get("name") == new, what="the cutover")
    eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "serving"}), what="a new serving pod")
    eventually(lambda: absent(kube, StatefulSet, "churn-redis", namespace), what="the old instance retired")
    final = eventually(lambda: (s := status(kube, namespace)).get("phase") == "Ready" and s, what="Ready on the replacement")
    assert final["retiringOnlineStores"] == [] and final["onlineStore"]["endpoint"] == f"{new}.{namespace}.svc:6379"
