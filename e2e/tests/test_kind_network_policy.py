"""The cluster enforces NetworkPolicies: a policy admitting one label to a server lets that
client in and keeps another out, and nothing is kept out without the policy."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Iterator

import pytest

from kind_support import Kubectl
from predictflow_devtools.waiting import eventually

pytestmark = [pytest.mark.kind, pytest.mark.timeout(600)]

SMOKE_IMAGE = os.environ.get("PREDICTFLOW_KIND_SMOKE_IMAGE", "predictflow-kind/smoke:bookworm")
PORT = 8080

# Prints how a TCP connection from inside a client pod ended: connected, refused or timeout.
CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close(); print('connected')\n"
    "except ConnectionRefusedError: print('refused')\n"
    "except OSError: print('timeout')\n"
)


def pod(namespace: str, name: str, labels: dict[str, str], command: list[str], **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {"name": "main", "image": SMOKE_IMAGE, "imagePullPolicy": "IfNotPresent", "command": command, **container}
            ],
        },
    }


@pytest.fixture(scope="module")
def netpol(kube: Kubectl) -> Iterator[Kubectl]:
    namespace = f"kind-netpol-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", namespace)
    scoped = kube.in_namespace(namespace)
    try:
        sleep = ["sleep", "infinity"]
        scoped.apply(
            pod(
                namespace,
                "server",
                {"app": "server"},
                ["python3", "-m", "http.server", str(PORT)],
                ports=[{"containerPort": PORT}],
                readinessProbe={"tcpSocket": {"port": PORT}, "periodSeconds": 1},
            ),
            pod(namespace, "allowed", {"role": "allowed"}, sleep),
            pod(namespace, "denied", {"role": "denied"}, sleep),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "server", "namespace": namespace},
                "spec": {"selector": {"app": "server"}, "ports": [{"port": 80, "targetPort": PORT}]},
            },
        )
        scoped.run("wait", "--for=condition=Ready", "pod/server", "pod/allowed", "pod/denied", "--timeout=180s", timeout=200)
        yield scoped
    finally:
        kube.run("delete", "namespace", namespace, "--wait=false")


def outcome(kube: Kubectl, client: str, host: str, port: int) -> str:
    return kube.exec(client, "python3", "-c", CONNECT, host, str(port)).strip()


def outcomes(kube: Kubectl, targets: list[tuple[str, int]]) -> dict[str, list[str]]:
    return {client: [outcome(kube, client, host, port) for host, port in targets] for client in ("allowed", "denied")}


def test_policy_admits_only_the_selected_client(netpol: Kubectl) -> None:
    server_ip = netpol.json("get", "pod", "server")["status"]["podIP"]
    service_ip = netpol.json("get", "service", "server")["spec"]["clusterIP"]
    # Straight to the pod, and through the Service (after kube-proxy's DNAT).
    targets = [(server_ip, PORT), (service_ip, 80)]
    everyone = {"allowed": ["connected"] * 2, "denied": ["connected"] * 2}
    # kube-proxy programs a new Service within a sync period: wait until both paths work.
    eventually(lambda: outcomes(netpol, targets) == everyone, what="both clients reaching the server", timeout=60, interval=1)

    netpol.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "server-from-allowed", "namespace": netpol.namespace},
            "spec": {
                "podSelector": {"matchLabels": {"app": "server"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "allowed"}}}]}],
            },
        }
    )
    only_allowed = {"allowed": ["connected"] * 2, "denied": ["timeout"] * 2}
    seen: list[dict[str, list[str]]] = []

    def enforced() -> bool:
        seen.append(outcomes(netpol, targets))
        return seen[-1] == only_allowed

    try:
        eventually(enforced, what="the policy to keep the denied client out", timeout=45, interval=1)
    except AssertionError as error:
        raise AssertionError(f"{error}; last outcomes {seen[-1] if seen else None}") from None
    # The kubelet's probes (every second, unready after three failures) still reach the server.
    for _ in range(6):
        assert netpol.json("get", "pod", "server")["status"]["containerStatuses"][0]["ready"], "server probes blocked"
        time.sleep(1)

    netpol.delete("networkpolicy", "server-from-allowed")
    eventually(lambda: outcomes(netpol, targets) == everyone, what="both clients back without the policy", timeout=45, interval=1)
