"""The cluster itself works: a Ready node, pods from a locally built image, CoreDNS resolving
Service names, pod-to-Service traffic, and PersistentVolumeClaims that bind and keep data."""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest

from kind_support import Kubectl, condition, pod_ready, run_pod_to_completion
from predictflow_devtools.waiting import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(600)]

SMOKE_IMAGE = os.environ.get("PREDICTFLOW_KIND_SMOKE_IMAGE", "predictflow-kind/smoke:bookworm")


@pytest.fixture(scope="module")
def smoke(kube: Kubectl) -> Iterator[Kubectl]:
    namespace = f"kind-smoke-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", namespace)
    try:
        yield kube.in_namespace(namespace)
    finally:
        kube.run("delete", "namespace", namespace, "--wait=false")


def test_every_node_is_ready(kube: Kubectl) -> None:
    nodes = kube.items("nodes")
    assert nodes, "the cluster has no nodes"
    for node in nodes:
        assert condition(node, "Ready").get("status") == "True", f"{node['metadata']['name']}: {condition(node, 'Ready')}"


def test_system_pods_run(kube: Kubectl) -> None:
    system_namespaces = ("kube-system", "local-path-storage")

    def system_pods_ready() -> list[dict]:
        pods = [p for p in kube.items("pods", "--all-namespaces") if p["metadata"]["namespace"] in system_namespaces]
        return pods if pods and all(pod_ready(p) for p in pods) else []

    pods = eventually(system_pods_ready, what="every system pod Ready", timeout=180, interval=2)
    names = " ".join(p["metadata"]["name"] for p in pods)
    for component in ("etcd", "kube-apiserver", "coredns", "kube-proxy", "local-path-provisioner"):
        assert component in names


def test_pod_reaches_a_service_by_its_dns_name(smoke: Kubectl) -> None:
    smoke.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": smoke.namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": SMOKE_IMAGE,
                                "imagePullPolicy": "IfNotPresent",
                                "command": [
                                    "sh",
                                    "-c",
                                    'mkdir -p /srv && echo "hello from $(hostname)" > /srv/index.html '
                                    "&& exec python3 -m http.server 8080 --directory /srv",
                                ],
                                "ports": [{"containerPort": 8080}],
                                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": smoke.namespace},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    smoke.run("rollout", "status", "deployment/web", "--timeout=180s", timeout=200)
    cluster_ip = smoke.json("get", "service", "web")["spec"]["clusterIP"]
    fqdn = f"web.{smoke.namespace}.svc.cluster.local"
    # kube-proxy programs a new Service within a sync period of the endpoint turning ready: retry briefly.
    client = (
        "import socket, time, urllib.request\n"
        f"print('resolved', socket.gethostbyname('{fqdn}'))\n"
        "for attempt in range(30):\n"
        "    try:\n"
        "        print('body', urllib.request.urlopen('http://web/', timeout=10).read().decode().strip()); break\n"
        "    except OSError as error:\n"
        "        print('retrying after', error); time.sleep(1)\n"
    )
    output = run_pod_to_completion(smoke, "client", SMOKE_IMAGE, ["python3", "-c", client])
    assert f"resolved {cluster_ip}" in output
    assert "body hello from web-" in output


def test_claim_binds_and_keeps_data_across_pods(smoke: Kubectl) -> None:
    smoke.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": smoke.namespace},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}},
        }
    )
    token = uuid.uuid4().hex
    mounts = [{"name": "data", "mountPath": "/data"}]
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    write = ["sh", "-c", f"echo {token} > /data/token"]
    run_pod_to_completion(smoke, "writer", SMOKE_IMAGE, write, volume_mounts=mounts, volumes=volumes)
    assert smoke.json("get", "pvc", "data")["status"]["phase"] == "Bound"
    read = ["cat", "/data/token"]
    assert token in run_pod_to_completion(smoke, "reader", SMOKE_IMAGE, read, volume_mounts=mounts, volumes=volumes)
