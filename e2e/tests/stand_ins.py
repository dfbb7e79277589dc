"""In-cluster stand-ins: a TLS + AUTH Redis in place of ElastiCache, and in-cluster load clients."""

from __future__ import annotations

import base64
import json
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kind_support import Kubectl, pod_ready, wait_for_pod_phase
from predictflow_devtools.pki import CertificateAuthority
from predictflow_devtools.waiting import eventually

LOADGEN = Path(__file__).with_name("loadgen.py")


def random_password(length: int = 32) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class FakeElastiCache:
    """Redis with TLS (port 6379, no plain port) and a password, the way ElastiCache serves."""

    name: str
    namespace: str
    tls_secret: str
    auth_secret: str

    @property
    def endpoint(self) -> str:
        return f"{self.name}.{self.namespace}.svc:6379"

    def spec(self) -> dict[str, Any]:
        """spec.onlineStore for a FeatureStore using this store in `existing` mode."""
        return {
            "type": "elasticache",
            "elasticache": {
                "mode": "existing",
                "endpoint": self.endpoint,
                "authSecretRef": {"name": self.auth_secret, "key": "token"},
                "caSecretRef": {"name": self.tls_secret, "key": "ca.crt"},
            },
        }

    def redis_cli(self, kube: Kubectl, *command: str) -> str:
        """redis-cli inside the stand-in's pod; the password stays in the pod's environment."""
        script = 'REDISCLI_AUTH="$REDIS_PASSWORD" exec redis-cli --tls --cacert /tls/ca.crt -h "$0" "$@"'
        return kube.exec(f"deploy/{self.name}", "sh", "-c", script, f"{self.name}.{self.namespace}.svc", *command)


def deploy_fake_elasticache(kube: Kubectl, image: str, workdir: Path, featurestore: str, name: str = "fake-elasticache") -> FakeElastiCache:
    """The Secrets are labelled for `featurestore`, the opt-in a FeatureStore needs to read them."""
    namespace = kube.namespace
    assert namespace
    ca = CertificateAuthority(workdir / "fake-elasticache-ca")
    hosts = (name, f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")
    server = ca.issue("server", common_name=hosts[1], hosts=hosts)
    store = FakeElastiCache(name, namespace, f"{name}-tls", f"{name}-auth")
    encode = lambda data: base64.b64encode(data).decode()  # noqa: E731
    tls = {
        "tls.crt": encode(server.cert.read_bytes()),
        "tls.key": encode(server.key.read_bytes()),
        "ca.crt": encode(ca.cert_path.read_bytes()),
    }
    # The server writes its password into a config file at start, so it never shows in argv.
    start = (
        "umask 077; printf 'requirepass %s\\n' \"$REDIS_PASSWORD\" > /tmp/auth.conf; "
        "exec redis-server /tmp/auth.conf --port 0 --tls-port 6379 --tls-auth-clients no "
        "--tls-cert-file /tls/tls.crt --tls-key-file /tls/tls.key --tls-ca-cert-file /tls/ca.crt "
        "--save '' --appendonly no"
    )
    labels = {"app": name}
    opt_in = {"predictflow.io/featurestore": featurestore}
    kube.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": store.tls_secret, "namespace": namespace, "labels": opt_in}, "data": tls},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": store.auth_secret, "namespace": namespace, "labels": opt_in},
            "stringData": {"token": random_password()},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "redis",
                                "image": image,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", start],
                                "env": [
                                    {
                                        "name": "REDIS_PASSWORD",
                                        "valueFrom": {"secretKeyRef": {"name": store.auth_secret, "key": "token"}},
                                    }
                                ],
                                "ports": [{"name": "redis", "containerPort": 6379}],
                                "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 1},
                                "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": True}],
                            }
                        ],
                        "volumes": [{"name": "tls", "secret": {"secretName": store.tls_secret}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": labels, "ports": [{"name": "redis", "port": 6379, "targetPort": "redis"}]},
        },
    )
    kube.run("rollout", "status", f"deployment/{name}", "--timeout=180s", timeout=200)
    # Through its Service, once kube-proxy has the endpoint.
    eventually(lambda: store.redis_cli(kube, "PING").strip() == "PONG", what=f"{name} to answer", timeout=60, interval=1)
    return store


class InClusterLoad:
    """loadgen.py in a pod next to the service, so its requests go through the Service."""

    def __init__(self, kube: Kubectl, image: str) -> None:
        self.kube = kube
        self.image = image
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "e2e-loadgen", "namespace": kube.namespace},
                "data": {"loadgen.py": LOADGEN.read_text()},
            }
        )

    def start(self, name: str, *args: str) -> str:
        self.kube.delete("pod", name, "--wait=true")
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": self.kube.namespace, "labels": {"app": "e2e-loadgen"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "loadgen",
                            "image": self.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python", "/loadgen/loadgen.py", *args],
                            "volumeMounts": [{"name": "loadgen", "mountPath": "/loadgen"}],
                        }
                    ],
                    "volumes": [{"name": "loadgen", "configMap": {"name": "e2e-loadgen"}}],
                },
            }
        )
        eventually(
            lambda: (pod := self.kube.get("pod", name)) and (pod_ready(pod) or pod["status"].get("phase") != "Pending"),
            what=f"load pod {name} to start",
            timeout=120,
            interval=0.5,
        )
        return name

    def stop(self, name: str) -> None:
        self.kube.exec(name, "python", "-c", "open('/tmp/stop', 'w').close()")

    def result(self, name: str, timeout: float = 600) -> dict[str, Any]:
        pod = wait_for_pod_phase(self.kube, name, {"Succeeded", "Failed"}, timeout=timeout)
        output = self.kube.logs(name)
        assert pod["status"]["phase"] == "Succeeded", f"load pod {name} failed: {output[-2000:]}"
        self.kube.delete("pod", name, "--wait=false")
        return json.loads(output.strip().splitlines()[-1])
