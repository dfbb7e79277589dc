"""The in-cluster Redis Cluster store on real redis-servers started with the operator's own
cluster.conf and ACL file: the operator's planner and steps (redis_topology, reconcilers.redis_cluster)
form the cluster from bare nodes, keep it whole when a primary fails or a pod comes back without
its data, and the runtime, Feast and the lookup library work on it as their own users."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster

from predictflow_devtools.paths import CHURN_REPO
from predictflow_devtools.redis_cluster import free_cluster_port
from predictflow_devtools.runtime_jobs import materialize, role_env
from predictflow_devtools.redis_server import RedisServer, start_operator_redis
from predictflow_operator import passwords
from predictflow_operator.api.models import parse_spec
from predictflow_operator.builders import feast_config, redis as builder
from predictflow_operator.builders.common import Owner
from predictflow_operator.builders.store import READER, WRITER, target_of
from predictflow_operator.reconcilers import redis_cluster, store_reading
from predictflow_operator.redis_topology import Topology, plan
from predictflow_runtime import datagen
from predictflow_runtime.store import open_store
from predictflow_serving.client import FeatureClient

pytestmark = [pytest.mark.dataplane, pytest.mark.timeout(300)]

OWNER = Owner("churn", "ml", "0b9c3f6e-0000-4000-8000-000000000001")
SHARDS, REPLICAS = 3, 1
VIEW = "churn_features"
CUSTOMERS = 60


class ClusterPods:
    """What the operator renders for a 3-shard store, one redis-server per pod; the operator's
    planner and steps do the rest."""

    def __init__(self, directory: Path, project: str):
        self.spec = parse_spec({"project": project, "onlineStore": {"redis": {"shards": SHARDS, "replicas": REPLICAS}}})
        self.instance = builder.instance(OWNER, self.spec)
        generated = {user: passwords.generate() for user in builder.users(True)}
        self.passwords = builder.passwords_of(builder.password_secret(OWNER, self.instance, generated), True)
        acl = {key: base64.b64decode(value).decode() for key, value in builder.acl_secret(OWNER, self.instance, self.passwords, True)["data"].items()}
        self.auth_files = {key: acl[key] for key in (builder.ACL_KEY, builder.REPLICA_AUTH_KEY)}
        self.conf = builder.config_map(OWNER, self.spec, self.instance)["data"]["cluster.conf"]
        self.directory = directory
        self.servers: dict[str, RedisServer] = {}
        self.login = redis_cluster.Login(builder.TOPOLOGY_USER, self.passwords[builder.TOPOLOGY_USER])
        for ordinal in range(builder.pod_count(self.spec.online_store.redis)):
            self.start(f"{self.instance}-{ordinal}")

    def start(self, pod: str, port: int | None = None) -> RedisServer:
        """The pod (re)started; with `port`, somewhere new, as a rescheduled pod gets a new IP."""
        server = start_operator_redis(
            self.directory / pod,
            self.conf,
            {builder.AUTH_DIR: self.auth_files},
            user=builder.REPLICATION_USER,
            password=self.passwords[builder.REPLICATION_USER],
            port=port or free_cluster_port(),
            args=("--cluster-announce-hostname", "127.0.0.1"),
        )
        self.servers[pod] = server
        return server

    def addresses(self) -> list[redis_cluster.PodAddress]:
        return [
            redis_cluster.PodAddress(pod, "127.0.0.1", server.port, host=_host(pod), phase="Running" if server._proc else "Failed")
            for pod, server in self.servers.items()
        ]

    def look(self) -> Topology:
        members = asyncio.run(redis_cluster.read_members(self.addresses(), self.login))
        return plan(members, SHARDS, REPLICAS)

    def reconcile_until_settled(self, timeout: float = 60) -> tuple[Topology, int]:
        """Passes as the operator makes them (observe, then carry out), until there is nothing to do."""
        deadline, passes = time.monotonic() + timeout, 0
        while True:
            topology = self.look()
            if topology.settled:
                return topology, passes
            assert time.monotonic() < deadline, f"not settled after {passes} passes: {topology.message}"
            asyncio.run(redis_cluster.carry_out(topology.steps, self.addresses(), self.login))
            passes += 1
            time.sleep(0.5)

    def client(self, user: str, **kwargs) -> RedisCluster:
        startup = [ClusterNode("127.0.0.1", s.port) for s in self.servers.values() if s._proc is not None]
        return RedisCluster(startup_nodes=startup, username=user, password=self.passwords[user], **kwargs)

    def feast_yaml(self, tmp_path: Path) -> tuple[Path, object]:
        """The operator's feature_store.yaml for this store, its endpoint one of the pods."""
        first = next(s for s in self.servers.values() if s._proc is not None)
        record = builder.record(OWNER, self.spec).model_copy(update={"endpoint": first.endpoint})
        target = target_of(record)
        path = tmp_path / f"feature_store-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(feast_config.feature_store_yaml(self.spec, target))
        return path, target

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture
def pods(tmp_path):
    running = ClusterPods(tmp_path / "pods", f"cluster_{uuid.uuid4().hex[:8]}")
    yield running
    running.stop()


def _materialize(pods: ClusterPods, tmp_path: Path) -> subprocess.CompletedProcess:
    config, target = pods.feast_yaml(tmp_path)
    return materialize(config, tmp_path / "offline", tmp_path, role_env(target, WRITER, pods.passwords), "--full")


def _host(pod: str) -> str:
    """Pods 0-5 on three Kubernetes nodes so that following in ordinal order (0-3, 1-4, 2-5) would pair each primary with a replica on its own node."""
    return f"node-{int(pod.rpartition('-')[2]) % SHARDS}"


def _shards_apart(topology: Topology) -> None:
    """Three shards over all slots, each with a replica on another Kubernetes node."""
    assert len(topology.shards) == SHARDS and topology.ready
    assert all(len(shard.replicas) == REPLICAS for shard in topology.shards)
    for shard in topology.shards:
        assert _host(shard.primary) != _host(shard.replicas[0]), shard


def test_the_operator_forms_the_cluster_and_every_client_works_on_it_as_its_own_user(pods, tmp_path, monkeypatch):
    topology = pods.look()
    assert not topology.ready and "no slots are assigned yet" in topology.message
    topology, passes = pods.reconcile_until_settled()
    _shards_apart(topology)
    assert [s.slots for s in topology.shards] == ["0-5460", "5461-10922", "10923-16383"]
    assert passes >= 3  # meet, then slots, then replicas: each waits for what the one before made known
    assert pods.reconcile_until_settled()[1] == 0  # settled: another pass finds nothing to do

    datagen.write(tmp_path / "offline", customers=CUSTOMERS, seed=11)
    job = _materialize(pods, tmp_path)
    assert job.returncode == 0, job.stdout + job.stderr
    assert f"{VIEW}: full backfill done: {CUSTOMERS} rows written" in job.stderr
    assert all(password not in job.stdout + job.stderr for password in pods.passwords.values())
    writer = {"username": builder.MATERIALIZATION_USER, "password": pods.passwords[builder.MATERIALIZATION_USER]}
    holders = [n for n in pods.servers.values() if n.client(socket_timeout=2, **writer).dbsize() > 0]
    assert len(holders) == 2 * SHARDS  # every primary holds keys, and its replica has them too

    config, target = pods.feast_yaml(tmp_path)
    for name, value in {
        "PREDICTFLOW_FEAST_CONFIG": str(config),
        "PREDICTFLOW_FEATURE_REPO": str(CHURN_REPO),
        "PREDICTFLOW_OFFLINE_PATH": str(tmp_path / "offline"),
        **role_env(target, READER, pods.passwords),
    }.items():
        monkeypatch.setenv(name, value)
    feast = open_store(work_dir=tmp_path / "reader")
    features = [f"{VIEW}:tenure_months", f"{VIEW}:monthly_charges"]
    entities = [{"customer_id": datagen.FIRST_CUSTOMER_ID + i} for i in range(CUSTOMERS)]
    theirs = feast.get_online_features(features=features, entity_rows=entities).to_dict()
    assert all(value is not None for value in theirs["tenure_months"])
    ours = asyncio.run(_lookup(features, entities))
    assert [[r.features[f.partition(":")[2]] for f in features] for r in ours] == [[theirs[f.partition(":")[2]][i] for f in features] for i in range(CUSTOMERS)]

    watermarks, memory = asyncio.run(_read_as_monitor(pods))  # the operator's own readings
    assert list(watermarks) == [VIEW] and memory.used_bytes > 0
    with pytest.raises(redis.exceptions.NoPermissionError):  # no client but the operator forms the cluster
        pods.client(builder.SERVING_USER).execute_command("CLUSTER", "MEET", "127.0.0.1", "1", target_nodes=RedisCluster.RANDOM)


async def _lookup(features: list[str], entities: list[dict]) -> list:
    client = FeatureClient.from_env(features=features)
    try:
        return await client.get_many(entities)
    finally:
        await client.aclose()


async def _read_as_monitor(pods: ClusterPods):
    first = next(iter(pods.servers.values()))
    client = AsyncRedisCluster(host="127.0.0.1", port=first.port, username="monitoring", password=pods.passwords["monitoring"])
    try:
        return await store_reading.read_watermarks(client, pods.spec.project), await store_reading.read_memory(client)
    finally:
        await client.aclose()


def test_a_failed_primary_is_replaced_by_its_replica_and_comes_back_as_one(pods):
    topology, _ = pods.reconcile_until_settled()
    writer = pods.client(builder.MATERIALIZATION_USER)
    writer.set("predictflow:watermark:probe", "before")
    slot = writer.keyslot("predictflow:watermark:probe")
    victim = next(s for s in topology.shards if any(int(a) <= slot <= int(b or a) for a, _, b in (r.partition("-") for r in s.slots.split(","))))
    pods.servers[victim.primary].stop()
    deadline = time.monotonic() + 20
    while True:  # Redis Cluster's own failover: the operator is not needed for it
        topology = pods.look()
        if topology.ready and victim.replicas[0] in [s.primary for s in topology.shards]:
            break
        assert time.monotonic() < deadline, topology.message
        time.sleep(0.5)
    assert f"{victim.primary}: " in topology.message  # status names the silent pod
    assert pods.client(builder.MATERIALIZATION_USER).get("predictflow:watermark:probe") == b"before"

    pods.servers[victim.primary].start()  # the pod back with its volume: it follows its old replica
    topology, _ = pods.reconcile_until_settled()
    assert len(topology.shards) == SHARDS and all(len(s.replicas) == REPLICAS for s in topology.shards)
    assert victim.primary in [r for s in topology.shards for r in s.replicas]


def test_a_pod_that_comes_back_empty_elsewhere_is_joined_again_and_its_old_self_forgotten(pods):
    topology, _ = pods.reconcile_until_settled()
    pod = topology.shards[1].replicas[0]
    old = pods.servers[pod]
    operator = {"username": builder.TOPOLOGY_USER, "password": pods.passwords[builder.TOPOLOGY_USER], "socket_timeout": 2}
    old_id = old.client(**operator).execute_command("CLUSTER", "MYID").decode()
    old.stop()
    shutil.rmtree(old.directory / "data")
    (old.directory / "data").mkdir()
    pods.start(pod, port=free_cluster_port())  # a new address and no nodes.conf: a new node
    topology, passes = pods.reconcile_until_settled(timeout=90)
    assert passes >= 2
    assert len(topology.shards) == SHARDS and all(len(s.replicas) == REPLICAS for s in topology.shards)
    for server in pods.servers.values():
        listed = server.client(**operator).execute_command("CLUSTER", "NODES").decode()
        assert old_id not in listed and len(listed.splitlines()) == 2 * SHARDS
