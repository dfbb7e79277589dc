"""The control-plane tier is real: API server validation, server-side apply, controllers, GC."""

import os

import pytest
from lightkube import ApiError
from lightkube.codecs import from_dict
from lightkube.resources.apps_v1 import ReplicaSet
from lightkube.resources.core_v1 import ConfigMap

from predictflow_devtools.controlplane import ControlPlane
from predictflow_devtools.featurestores import absent
from predictflow_devtools.pytest_plugin import binaries_dir
from predictflow_devtools.waiting import eventually
from predictflow_operator.clients.kube import FeatureStoreResource

pytestmark = pytest.mark.controlplane


def test_server_side_apply_of_a_deployment_makes_the_controller_create_a_replicaset(kube, namespace):
    deployment = from_dict(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]},
                },
            },
        }
    )
    applied = kube.apply(deployment, field_manager="tier-test")
    assert any(entry.operation == "Apply" for entry in applied.metadata.managedFields)

    replica_sets = eventually(lambda: list(kube.list(ReplicaSet, namespace=namespace)) or None, what="a ReplicaSet")
    assert replica_sets[0].metadata.ownerReferences[0].name == "web"


def test_deleting_an_owner_garbage_collects_its_children(kube, namespace):
    owner = kube.create(from_dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner", "namespace": namespace}}))
    kube.create(
        from_dict(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "child",
                    "namespace": namespace,
                    "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}],
                },
            }
        )
    )
    kube.delete(ConfigMap, "owner", namespace=namespace)

    eventually(lambda: absent(kube, ConfigMap, "child", namespace), what="the child ConfigMap to be garbage-collected")


def test_an_object_violating_the_crd_schema_is_rejected_with_the_api_servers_message(kube, namespace):
    bad = {
        "apiVersion": "predictflow.io/v1alpha1",
        "kind": "FeatureStore",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {"project": "churn", "onlineStore": {"redis": {"replicas": -1}}},
    }
    with pytest.raises(ApiError) as rejected:
        kube.create(FeatureStoreResource.from_dict(bad))
    assert rejected.value.status.code == 422
    assert "spec.onlineStore.redis.replicas" in rejected.value.status.message
    with pytest.raises(ApiError) as missing:
        kube.get(FeatureStoreResource, "bad", namespace=namespace)
    assert missing.value.status.code == 404


def test_stopping_a_control_plane_leaves_no_process_behind(tmp_path):
    """What `make cluster-down` does: every process the start spawned is gone afterwards."""
    plane = ControlPlane(binaries_dir(), tmp_path / "plane", tie_to_parent=False)
    plane.start()
    pids = [int(line) for line in plane.pids_file.read_text().split()]
    assert len(pids) == 3
    ControlPlane(binaries_dir(), tmp_path / "plane").stop()  # a new instance, as cluster-down is a new process

    def gone(pid):
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it if it was our child
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"

    assert all(gone(pid) for pid in pids)
