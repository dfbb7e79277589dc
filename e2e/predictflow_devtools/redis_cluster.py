"""A real Redis Cluster on loopback: redis-servers in cluster mode, slots assigned by `redis-cli --cluster create`."""

from __future__ import annotations

import random
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.cluster import ClusterNode, RedisCluster

from . import processes
from .redis_server import RedisServer


@dataclass
class RedisClusterServers:
    nodes: list[RedisServer]
    password: str
    replicas: int = 0

    @property
    def endpoints(self) -> list[str]:
        return [node.endpoint for node in self.nodes]

    def feast_connection_string(self) -> str:
        """Feast's `redis_type: redis_cluster` connection string: every node, then the password."""
        return ",".join([*self.endpoints, f"password={self.password}"])

    def client(self, **kwargs) -> RedisCluster:
        startup = [ClusterNode(node.host, node.port) for node in self.nodes]
        return RedisCluster(startup_nodes=startup, password=self.password, **kwargs)

    def primaries(self) -> list[RedisServer]:
        """The nodes serving slots now (their roles change after a failover)."""
        return [node for node in self.nodes if node._proc is not None and node.client(socket_timeout=2).info("replication")["role"] == "master"]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


_BUS_OFFSET = 10_000  # a cluster node also listens on its port + 10000 (the cluster bus)


def free_cluster_port() -> int:
    """A free port below 55536 whose bus port is free too."""
    for _ in range(200):
        port = random.randrange(20_000, 55_536 - 1)
        if all(_free(candidate) for candidate in (port, port + _BUS_OFFSET)):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_ok(server: RedisServer) -> bool:
    try:
        return server.client(socket_timeout=1).cluster("info")["cluster_state"] == "ok"
    except redis.RedisError:
        return False


def start_redis_cluster(directory: Path, *, shards: int = 3, replicas: int = 0, password: str | None = None) -> RedisClusterServers:
    """`shards` primaries with `replicas` replicas each, every slot assigned, cluster_state ok everywhere."""
    password = password or secrets.token_urlsafe(18)
    nodes = []
    for index in range(shards * (1 + replicas)):
        node_dir = directory / f"node-{index}"
        node_dir.mkdir(parents=True, exist_ok=True)
        port = free_cluster_port()
        lines = [
            "bind 127.0.0.1",
            f"port {port}",
            f"dir {node_dir}",
            "save ''",
            "appendonly no",
            "daemonize no",
            "protected-mode no",
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            "cluster-node-timeout 3000",
            f"requirepass {password}",
            f"masterauth {password}",
        ]
        (node_dir / "redis.conf").write_text("\n".join(lines) + "\n")
        nodes.append(RedisServer("127.0.0.1", port, password, None, node_dir).start())
    cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
    created = subprocess.run(
        [cli, "--no-auth-warning", "-a", password, "--cluster", "create", *(n.endpoint for n in nodes), "--cluster-replicas", str(replicas), "--cluster-yes"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if created.returncode != 0:
        for node in nodes:
            node.stop()
        raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}\n{created.stderr}")
    cluster = RedisClusterServers(nodes, password, replicas)
    processes.wait_until(lambda: all(_cluster_ok(node) for node in nodes), timeout=30, what="cluster_state:ok on every node")
    return cluster
