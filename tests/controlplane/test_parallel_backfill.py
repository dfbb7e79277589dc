"""A backfill of several pods: an Indexed Job whose slices' reports add up, and a switch that waits for every slice."""

import time

import pytest
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event

import predictflow_contract as contract
from predictflow_devtools.featurestores import absent, apply_featurestore, backfill, condition, status
from predictflow_devtools.kubelet import finish_job_pods, mark_pods_ready
from predictflow_devtools.waiting import eventually

pytestmark = pytest.mark.controlplane

SLICES = 3
SPEC = {"project": "churn", "materialization": {"backfillParallelism": SLICES}}


def test_the_store_serves_only_once_every_slice_of_the_backfill_succeeded(kube, namespace, operator):
    apply_featurestore(kube, namespace, SPEC)
    eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "redis"}), what="the Redis pod")
    job = backfill(kube, namespace)
    assert (job.spec.completionMode, job.spec.completions, job.spec.parallelism) == ("Indexed", SLICES, SLICES)
    env = {item.name: item.value for item in job.spec.template.spec.containers[0].env}
    assert env[contract.BACKFILL_SLICES_ENV] == str(SLICES)

    name = job.metadata.name
    for index, rows in ((0, 300), (1, 280)):
        report = {"rows": rows, "sourceRows": 3000, "slice": f"{index}/{SLICES}"}
        eventually(lambda: finish_job_pods(kube, namespace, name, report=report, index=index), what=f"the pod of slice {index}")  # noqa: B023
    time.sleep(3)  # the operator sees pod and Job changes at once; give it time to (wrongly) move on
    waiting = status(kube, namespace)
    assert waiting["pendingOnlineStore"]["state"] == "Backfilling", waiting
    assert "onlineStore" not in waiting and absent(kube, Deployment, "churn-serving", namespace)

    last = {"rows": 420, "sourceRows": 3000, "slice": f"2/{SLICES}"}
    eventually(lambda: finish_job_pods(kube, namespace, name, report=last, index=2), what="the pod of slice 2")
    told = f"Job {name} wrote 1000 rows (the offline source holds 3000)"

    def verified_event() -> bool:
        return any(told in (event.message or "") for event in kube.list(Event, namespace=namespace) if event.involvedObject.kind == "FeatureStore")

    eventually(verified_event, what="an event telling the slices' rows added up", timeout=60)
    eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "serving"}), what="the serving pod")
    eventually(lambda: condition(kube, namespace, "Ready").get("status") == "True", what="Ready=True", timeout=90)
