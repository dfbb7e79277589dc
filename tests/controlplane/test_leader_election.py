"""Two operator replicas on one Lease: one acts, the other waits, and takes over when the leader dies."""

import secrets
import time

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Namespace

from predictflow_devtools.featurestores import apply_featurestore, status
from predictflow_devtools.kubelet import finish_job_pods, mark_pods_ready
from predictflow_devtools.operator_process import OperatorProcess
from predictflow_devtools.waiting import eventually

pytestmark = pytest.mark.controlplane


def holder(kube, namespace):
    try:
        return kube.get(Lease, "predictflow-operator", namespace=namespace).spec.holderIdentity
    except Exception:
        return None


def passes(replica):
    return replica.log_text().count("pass over ")


def test_one_replica_acts_and_the_standby_takes_over_a_switch_when_it_dies(own_plane, own_kube, tmp_path):
    plane, kube = own_plane, own_kube
    namespace = "leader-" + secrets.token_hex(3)
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    election = ("--leader-election-namespace", namespace)
    first = OperatorProcess(plane.kubeconfig, tmp_path / "a.log", *election, POD_NAME="replica-a").start()
    second = None
    try:
        eventually(lambda: holder(kube, namespace) == "replica-a", what="replica-a to lead")
        second = OperatorProcess(plane.kubeconfig, tmp_path / "b.log", *election, POD_NAME="replica-b").start()
        eventually(lambda: "waiting to lead as replica-b" in second.log_text(), what="replica-b to wait")

        apply_featurestore(kube, namespace, {"project": "churn"})
        eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "redis"}), what="the Redis pod")
        job = eventually(lambda: next(iter(kube.list(Job, namespace=namespace, labels={"app.kubernetes.io/component": "backfill"})), None), what="the backfill Job")
        assert status(kube, namespace)["pendingOnlineStore"]["state"] == "Backfilling"
        assert passes(first) > 0 and passes(second) == 0, "the standby acted"

        first.kill()
        died = time.monotonic()
        eventually(lambda: holder(kube, namespace) == "replica-b", what="replica-b to take the Lease", timeout=60)
        took_over = time.monotonic() - died
        print(f"standby took over {took_over:.1f} s after the leader died")

        # the new leader carries the switch on from the recorded status
        eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name), what="the backfill pod")
        eventually(lambda: status(kube, namespace).get("onlineStore", {}).get("type") == "redis", what="the cutover by replica-b")
        assert passes(second) > 0
    finally:
        for replica in (first, second):
            if replica is not None:
                replica.stop()
