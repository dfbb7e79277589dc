"""Session fixtures: the loopback control plane and real redis-servers."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from .controlplane import ControlPlane, ControlPlaneInfo, apply_manifests
from .redis_server import RedisServer, start_redis

from .paths import REPO_ROOT


def binaries_dir() -> Path:
    """KUBEBUILDER_ASSETS (the envtest convention) wins over `make tools`' ./bin."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    return Path(assets) if assets else REPO_ROOT / "bin"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory) -> ControlPlaneInfo:
    plane = ControlPlane(binaries_dir(), tmp_path_factory.mktemp("controlplane"))
    info = plane.start()
    try:
        crds = sorted((REPO_ROOT / "crds").glob("*.yaml"))
        if crds:
            apply_manifests(info.kubeconfig, kubectl_binary(), crds)
        yield info
    finally:
        plane.stop()


def kubectl_binary() -> Path:
    candidate = binaries_dir() / "kubectl"
    return candidate if candidate.exists() else REPO_ROOT / "bin" / "kubectl"


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> str:
    """A real moto server process standing in for the AWS API; returns its endpoint URL."""
    import sys
    import urllib.request

    from . import processes

    port = processes.free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = processes.spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log, tie_to_parent=True)
    url = f"http://127.0.0.1:{port}"
    processes.wait_until(lambda: urllib.request.urlopen(f"{url}/moto-api/", timeout=2).status == 200, timeout=60, what="moto server", logs=[log])
    yield url
    processes.terminate([proc.pid])


AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> RedisServer:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_tls_server(tmp_path_factory) -> RedisServer:
    """TLS + requirepass: what an ElastiCache endpoint with in-transit encryption and AUTH looks like."""
    server = start_redis(tmp_path_factory.mktemp("redis-tls"), tls=True, password=secrets.token_urlsafe(24))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kube(control_plane):
    """A synchronous lightkube client for the loopback control plane."""
    from lightkube import Client, KubeConfig

    client = Client(config=KubeConfig.from_file(str(control_plane.kubeconfig)), field_manager="predictflow-tests")
    yield client
    client.close()


@pytest.fixture
def namespace(kube, request):
    """A fresh namespace per test, deleted afterwards."""
    from lightkube.resources.core_v1 import Namespace
    from lightkube.models.meta_v1 import ObjectMeta

    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-") + "-" + secrets.token_hex(3)
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    kube.delete(Namespace, name)
