"""An AWS error on the serving ElastiCache store is reported, and rolls no pod."""

import sys
import urllib.request

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Namespace

from predictflow_devtools import processes
from predictflow_devtools.featurestores import apply_featurestore, condition, status
from predictflow_devtools.kubelet import finish_job_pods, mark_pods_ready
from predictflow_devtools.operator_process import OperatorProcess
from predictflow_devtools.pytest_plugin import AWS_TEST_ENV
from predictflow_devtools.waiting import eventually

pytestmark = pytest.mark.controlplane
CHECKSUM = "predictflow.io/checksum"


def test_an_aws_outage_on_the_serving_group_is_reported_and_rolls_no_pod(own_plane, own_kube, tmp_path):
    kube, namespace = own_kube, "aws-blip"
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    port = processes.free_port()
    moto = processes.spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], tmp_path / "moto.log", tie_to_parent=True)
    url = f"http://127.0.0.1:{port}"
    processes.wait_until(lambda: urllib.request.urlopen(f"{url}/moto-api/", timeout=2).status == 200, timeout=60, what="moto server", logs=[tmp_path / "moto.log"])
    operator = OperatorProcess(own_plane.kubeconfig, tmp_path / "operator.log", AWS_ENDPOINT_URL=url, PREDICTFLOW_ELASTICACHE_POLL_SECONDS="1", PREDICTFLOW_CLUSTER_IDENTITY="aws-blip", **AWS_TEST_ENV).start()
    try:
        apply_featurestore(kube, namespace, {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"replicas": 1}}})
        job = eventually(lambda: next(iter(kube.list(Job, namespace=namespace, labels={"app.kubernetes.io/component": "backfill"})), None), what="the backfill Job")
        eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name), what="the backfill pod")
        eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "serving"}), what="a serving pod")
        eventually(lambda: status(kube, namespace).get("phase") == "Ready", what="Ready on the managed group")
        before = kube.get(Deployment, "churn-serving", namespace=namespace)

        processes.terminate([moto.pid])  # AWS stops answering
        blip = eventually(lambda: (c := condition(kube, namespace, "OnlineStoreReady")).get("reason") == "AwsError" and c, what="the AWS error in status")
        assert blip["status"] == "False" and "AWS" in blip["message"]
        assert status(kube, namespace)["phase"] == "Degraded"

        after = kube.get(Deployment, "churn-serving", namespace=namespace)
        assert after.spec.template.metadata.annotations[CHECKSUM] == before.spec.template.metadata.annotations[CHECKSUM]
        assert after.metadata.generation == before.metadata.generation, "the serving fleet was rolled by an AWS error"
    finally:
        operator.stop()
        processes.terminate([moto.pid])
