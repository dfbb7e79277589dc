"""The in-cluster Redis's ACL users, on a real redis-server started with the operator's own redis.conf
and ACL Secret, driven by the real runtime: materialization writes as its user, Feast and the
serving lookups read as theirs, and neither can run a command its job does not need."""

from __future__ import annotations

import asyncio
import base64
import datetime
import os
import socket
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from feast.infra.online_stores.helpers import _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from predictflow_devtools import processes
from predictflow_devtools.pki import CertificateAuthority
from predictflow_devtools.paths import CHURN_REPO
from predictflow_devtools.prometheus import redis_exporter_binary
from predictflow_devtools.runtime_jobs import materialize, role_env
from predictflow_devtools.redis_server import RedisServer, start_operator_redis
from predictflow_operator import passwords
from predictflow_operator.api.models import parse_spec
from predictflow_operator.builders import feast_config, redis as builder
from predictflow_operator.builders.common import Owner
from predictflow_operator.builders.store import MONITOR, READER, WRITER, credential, target_of
from predictflow_operator.reconcilers import store_reading
from predictflow_runtime import datagen
from predictflow_runtime.store import open_store
from predictflow_runtime.watermark import marker_key

pytestmark = [pytest.mark.dataplane, pytest.mark.timeout(300)]

OWNER = Owner("churn", "ml", "0b9c3f6e-0000-4000-8000-000000000001")
VIEW = "churn_features"
CUSTOMERS = 50
# Commands no client of the store may run: keyspace-wide, admin, or handing the data to someone else.
FORBIDDEN = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "GET", "*"),
    ("CONFIG", "SET", "appendonly", "no"),
    ("REPLICAOF", "10.0.0.1", "6379"),
    ("SLAVEOF", "10.0.0.1", "6379"),
    ("DEBUG", "SLEEP", "0"),
    ("MODULE", "LIST"),
    ("SHUTDOWN", "NOSAVE"),
    ("KEYS", "*"),
    ("ACL", "LIST"),
    ("SWAPDB", "0", "1"),
    ("MIGRATE", "10.0.0.1", "6379", "k", "0", "100"),
    ("CLIENT", "KILL", "TYPE", "normal"),
    ("SCRIPT", "FLUSH"),
]


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))  # no packet leaves: this only picks the outgoing interface
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _decoded(secret: dict) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


class OperatorRedis:
    """What the operator renders for one FeatureStore, and a redis-server running it."""

    def __init__(self, directory: Path, project: str, bind: str = "127.0.0.1", tls: dict[str, str] | None = None, ca_cert: Path | None = None):
        """`tls`: the files of spec.onlineStore.redis.tls.secretName's Secret, `ca_cert` its ca.crt on disk."""
        redis_spec = {"tls": {"secretName": "churn-redis-tls"}} if tls else {}
        self.spec = parse_spec({"project": project, "onlineStore": {"redis": redis_spec}})
        self.mounts = {builder.TLS_DIR: tls} if tls else {}
        self.ca_cert = ca_cert
        self.instance = builder.instance(OWNER, self.spec)
        generated = {user: passwords.generate() for user in builder.users(False)}
        # through the operator's own path: the auth Secret, read back and checked, then rendered
        self.passwords = builder.passwords_of(builder.password_secret(OWNER, self.instance, generated), False)
        acl = _decoded(builder.acl_secret(OWNER, self.instance, self.passwords))
        self.auth_files = {key: acl[key] for key in (builder.ACL_KEY, builder.REPLICA_AUTH_KEY)}
        self.directory = directory
        conf = builder.config_map(OWNER, self.spec, self.instance)["data"]
        self.conf = conf
        self.primary = self._start("primary", conf["primary.conf"], bind)

    def _start(self, name: str, conf: str, bind: str, replica_of: RedisServer | None = None) -> RedisServer:
        return start_operator_redis(
            self.directory / name, conf, {builder.AUTH_DIR: self.auth_files, **self.mounts},
            user=builder.REPLICATION_USER, password=self.passwords[builder.REPLICATION_USER], bind=bind, replica_of=replica_of, ca_cert=self.ca_cert,
        )

    def start_replica(self) -> RedisServer:
        return self._start("replica", self.conf["replica.conf"], "127.0.0.1", replica_of=self.primary)

    def client(self, user: str, server: RedisServer | None = None, **kwargs) -> redis.Redis:
        server = server or self.primary
        if self.ca_cert is not None:
            kwargs.update(ssl=True, ssl_ca_certs=str(self.ca_cert))
        return redis.Redis(host=kwargs.pop("host", server.host), port=server.port, username=user, password=self.passwords[user], **kwargs)

    def feast_yaml(self, tmp_path: Path):
        """The feature_store.yaml the operator renders for this store, pointed at the test server,
        and the store as its clients see it (builders.store.StoreTarget)."""
        record = builder.record(OWNER, self.spec).model_copy(update={"endpoint": self.primary.endpoint})
        target = target_of(record)
        path = tmp_path / f"feature_store-{uuid.uuid4().hex[:6]}.yaml"
        ca_dir = {"ca_dir": str(self.ca_cert.parent)} if self.ca_cert else {}  # where the pod mounts ca.crt
        path.write_text(feast_config.feature_store_yaml(self.spec, target, **ca_dir))
        return path, target

    def stop(self) -> None:
        self.primary.stop()


@pytest.fixture
def store(tmp_path):
    running = OperatorRedis(tmp_path / "redis", f"acl_{uuid.uuid4().hex[:8]}")
    yield running
    running.stop()


def _materialize(store: OperatorRedis, tmp_path: Path, *args: str, role: str = WRITER) -> subprocess.CompletedProcess:
    config, target = store.feast_yaml(tmp_path)
    offline = tmp_path / "offline"
    if not offline.exists():
        datagen.write(offline, customers=CUSTOMERS, seed=11)
    return materialize(config, offline, tmp_path, role_env(target, role, store.passwords), *args)


def _refused(client: redis.Redis, *command) -> bool:
    try:
        client.execute_command(*command)
    except NoPermissionError:
        return True
    except ResponseError as error:
        # DEBUG and MODULE are also off by redis.conf (enable-*-command no), checked before the ACL
        return command[0] in ("DEBUG", "MODULE") and "command not allowed" in str(error)
    return False


def test_the_default_user_cannot_authenticate_or_run_anything(store):
    anonymous = redis.Redis(host=store.primary.host, port=store.primary.port)
    with pytest.raises(AuthenticationError, match="Authentication required"):
        anonymous.ping()
    for password in store.passwords.values():  # AUTH <password> is AUTH default <password>
        with pytest.raises(AuthenticationError):
            redis.Redis(host=store.primary.host, port=store.primary.port, password=password).ping()
    with pytest.raises(AuthenticationError):
        redis.Redis(host=store.primary.host, port=store.primary.port, username="default", password="").ping()
    with pytest.raises(AuthenticationError):  # one user's password opens no other user
        wrong = store.passwords[builder.MATERIALIZATION_USER]
        redis.Redis(host=store.primary.host, port=store.primary.port, username=builder.SERVING_USER, password=wrong).ping()


def test_materialization_writes_features_and_watermarks_as_its_user_and_serving_reads_them(store, tmp_path, monkeypatch):
    job = _materialize(store, tmp_path, "--full")
    assert job.returncode == 0, job.stdout + job.stderr
    assert f"{VIEW}: full backfill done: {CUSTOMERS} rows written" in job.stderr
    assert all(password not in job.stdout + job.stderr for password in store.passwords.values())
    reader = store.client(builder.SERVING_USER)
    project = store.spec.project
    assert reader.ping() is True

    # Feast itself, configured as serving pods are, reads what the job wrote
    config, target = store.feast_yaml(tmp_path)
    for name, value in {"PREDICTFLOW_FEAST_CONFIG": str(config), "PREDICTFLOW_FEATURE_REPO": str(CHURN_REPO), "PREDICTFLOW_OFFLINE_PATH": str(tmp_path / "offline"), **role_env(target, READER, store.passwords)}.items():
        monkeypatch.setenv(name, value)
    feast = open_store(work_dir=tmp_path / "reader")
    rows = feast.get_online_features(features=[f"{VIEW}:tenure_months"], entity_rows=[{"customer_id": 1001}]).to_dict()
    assert rows["tenure_months"][0] is not None

    # the serving process's own store client, from the same connection string
    from predictflow_serving.store_client import Timeouts, read_path_kwargs

    connection = feast.config.online_store.connection_string
    assert f"username={builder.SERVING_USER}" in connection
    lookups = redis.Redis(**read_path_kwargs(connection, Timeouts()))
    key = _redis_key(project, EntityKeyProto(join_keys=["customer_id"], entity_values=[ValueProto(int64_val=1001)]))
    assert any(value is not None for value in lookups.hmget(key, [f"_ts:{VIEW}"]))

    # the serving user can read, and nothing else: no write, no delete, no watermark, nothing admin
    assert reader.hgetall(key)
    for command in [("HSET", key, "f", "v"), ("DEL", key), ("EXPIRE", key, "1"), ("SET", marker_key(project, VIEW), "x"), ("GET", marker_key(project, VIEW)), ("PUBLISH", "predictflow:freshness:x", "m"), ("EVAL", "return 1", "0"), *FORBIDDEN]:
        assert _refused(reader, *command), command
    assert reader.hgetall(key)  # still there: nothing above ran

    # a second run as the writer is incremental from the watermark it left
    again = _materialize(store, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{VIEW}: incremental done: 0 rows written" in again.stderr

    # ...while a job given the reader's credentials cannot write at all
    refused = _materialize(store, tmp_path, "--full", role=READER)
    assert refused.returncode != 0 and "no permissions to run" in refused.stderr


def test_the_materialization_user_has_no_admin_or_keyspace_wide_command(store):
    writer = store.client(builder.MATERIALIZATION_USER)
    writer.hset("k", "f", "v")
    for command in [*FORBIDDEN, ("DEL", "k"), ("SUBSCRIBE", "predictflow:freshness:x"), ("PUBLISH", "elsewhere", "m")]:
        assert _refused(writer, *command), command
    assert writer.hget("k", "f") == b"v"


def test_the_replication_user_only_replicates_and_pings(store):
    replica_user = store.client(builder.REPLICATION_USER)
    assert replica_user.ping() is True
    for command in [("HGETALL", "k"), ("HSET", "k", "f", "v"), *FORBIDDEN]:
        assert _refused(replica_user, *command), command


def test_a_replica_syncs_from_the_primary_with_the_replication_user(store):
    replica = store.start_replica()
    try:
        store.client(builder.MATERIALIZATION_USER).hset("replicated", "f", "v")
        reader = store.client(builder.SERVING_USER, replica)
        processes.wait_until(lambda: reader.hget("replicated", "f") == b"v", timeout=20, what="the replica to sync", logs=[replica.directory / "redis.log"])
        assert "MASTER <-> REPLICA sync: Finished with success" in (replica.directory / "redis.log").read_text()
        with pytest.raises(ResponseError, match="read only replica"):
            store.client(builder.MATERIALIZATION_USER, replica).hset("replicated", "f", "w")
    finally:
        replica.stop()


def test_clients_from_other_hosts_are_served_with_protected_mode_on(tmp_path):
    """Protected mode stays on: with `default` off it refuses no authenticated client."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    running = OperatorRedis(tmp_path / "redis", "acl_remote", bind=f"127.0.0.1 {address}")
    try:
        assert "protected-mode yes" in (running.primary.directory / "redis.conf").read_text()
        assert running.client(builder.SERVING_USER, host=address).ping() is True
    finally:
        running.stop()


def test_with_a_tls_secret_redis_serves_tls_only_and_every_client_and_replica_uses_it(tmp_path):
    ca = CertificateAuthority(tmp_path / "pki", name="cert-manager-stand-in")
    pair = ca.issue("redis", common_name="churn-redis.ml.svc", hosts=("churn-redis.ml.svc", "127.0.0.1", "localhost"))
    files = {"tls.crt": pair.cert.read_text(), "tls.key": pair.key.read_text(), "ca.crt": ca.cert_path.read_text()}
    store = OperatorRedis(tmp_path / "redis", f"acl_{uuid.uuid4().hex[:8]}", tls=files, ca_cert=ca.cert_path)
    replica = None
    try:
        assert "port 0" in store.conf["primary.conf"] and "tls-replication yes" in store.conf["replica.conf"]
        with pytest.raises(redis.exceptions.ConnectionError):  # no plain listener
            redis.Redis(host=store.primary.host, port=store.primary.port, username="serving", password=store.passwords["serving"], socket_timeout=2).ping()

        # the pod's own probe command, as the StatefulSet runs it
        pod = builder.stateful_set(OWNER, store.spec, store.instance, "c", "redis")["spec"]["template"]["spec"]
        probe = pod["containers"][0]["readinessProbe"]["exec"]["command"]
        probe = [part.replace(builder.TLS_DIR, str(store.primary.directory / "mount-1")) for part in probe]
        answered = subprocess.run(
            [*probe[:1], "-p", str(store.primary.port), *probe[1:]], capture_output=True, text=True, timeout=10,
            env={"PATH": os.environ["PATH"], "REDISCLI_AUTH": store.passwords[builder.REPLICATION_USER]},
        )
        assert answered.stdout.strip() == "PONG", answered.stdout + answered.stderr

        # the real materialization over TLS, as its user, with the CA the pod mounts
        job = _materialize(store, tmp_path, "--full")
        assert job.returncode == 0, job.stdout + job.stderr
        reader = store.client(builder.SERVING_USER)
        key = _redis_key(store.spec.project, EntityKeyProto(join_keys=["customer_id"], entity_values=[ValueProto(int64_val=1001)]))
        assert reader.hgetall(key) and _refused(reader, "FLUSHALL") and _refused(reader, "HSET", key, "f", "v")

        replica = store.start_replica()
        on_replica = store.client(builder.SERVING_USER, replica)
        processes.wait_until(lambda: bool(on_replica.hgetall(key)), timeout=20, what="the TLS replica to sync", logs=[replica.directory / "redis.log"])
    finally:
        if replica is not None:
            replica.stop()
        store.stop()


def test_the_monitoring_user_reads_the_watermarks_and_info_and_no_feature(store, tmp_path):
    job = _materialize(store, tmp_path, "--full")
    assert job.returncode == 0, job.stdout + job.stderr
    project = store.spec.project
    started = datetime.datetime.now(datetime.UTC)

    async def operator_reading():
        # the operator's own reading code, as the operator's user
        login = credential(builder.record(OWNER, store.spec), MONITOR)
        client = aioredis.Redis(host=store.primary.host, port=store.primary.port, username=login.username, password=store.passwords[login.username])
        try:
            return await store_reading.read_watermarks(client, project), await store_reading.read_memory(client)
        finally:
            await client.aclose()

    watermarks, memory = asyncio.run(operator_reading())
    assert list(watermarks) == [VIEW] and abs((watermarks[VIEW] - started).total_seconds()) < 300
    assert memory.used_bytes > 0 and memory.maxmemory == 0

    monitor = store.client(builder.MONITORING_USER)
    key = _redis_key(project, EntityKeyProto(join_keys=["customer_id"], entity_values=[ValueProto(int64_val=1001)]))
    assert store.client(builder.SERVING_USER).hgetall(key), "the feature is there to be refused"
    for command in [("HGETALL", key), ("HMGET", key, f"_ts:{VIEW}"), ("GET", key), ("SET", marker_key(project, VIEW), "x"), ("SADD", "predictflow:watermarks:x", "v"), ("PUBLISH", "predictflow:freshness:x", "m"), *FORBIDDEN]:
        assert _refused(monitor, *command), command


def test_the_exporter_sidecar_scrapes_as_its_own_user_without_one_refusal(store, tmp_path):
    container = builder.exporter_container(store.spec.online_store.redis, store.instance, "unused")
    port = processes.free_port()
    args = [a.replace(f"localhost:{builder.PORT}", store.primary.endpoint).replace(f":{builder.EXPORTER_PORT}", f"127.0.0.1:{port}") for a in container["args"]]
    [password_env] = container["env"]
    log = tmp_path / "exporter.log"
    exporter = processes.spawn([redis_exporter_binary(), *args], log, tie_to_parent=True, env={**os.environ, password_env["name"]: store.passwords[builder.EXPORTER_USER]})
    try:
        processes.wait_until(lambda: _scrape(f"http://127.0.0.1:{port}/metrics") is not None, timeout=30, what="the exporter's metrics", logs=[log])
        metrics = _scrape(f"http://127.0.0.1:{port}/metrics")
        assert "\nredis_up 1" in metrics and "\nredis_memory_used_bytes " in metrics and "\nredis_slowlog_length " in metrics
        assert "NOPERM" not in log.read_text(), log.read_text()
    finally:
        processes.terminate([exporter.pid])

    exporter_user = store.client(builder.EXPORTER_USER)
    assert exporter_user.info("memory")["used_memory"] > 0
    for command in [("HGETALL", "k"), ("GET", marker_key(store.spec.project, VIEW)), ("SMEMBERS", "predictflow:watermarks:x"), *FORBIDDEN]:
        assert _refused(exporter_user, *command), command


def _scrape(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 and "redis_up 1" in response.text else None


def test_the_watermarks_survive_a_restart_from_the_append_only_file(store, tmp_path):
    """Redis 7.0 replays an AOF's MULTI/EXEC as the `default` user, which is off: a script that made
    two writes (and so was logged as a transaction) would be refused on load and its writes lost."""
    job = _materialize(store, tmp_path, "--full")
    assert job.returncode == 0, job.stdout + job.stderr
    project, monitor = store.spec.project, store.client(builder.MONITORING_USER)
    marker, views = monitor.get(marker_key(project, VIEW)), monitor.smembers(f"predictflow:watermarks:{project}")
    assert marker and views == {VIEW.encode()}
    keys = store.client(builder.MATERIALIZATION_USER).dbsize()
    store.primary.stop()
    store.primary.start()
    monitor = store.client(builder.MONITORING_USER)
    assert (monitor.get(marker_key(project, VIEW)), monitor.smembers(f"predictflow:watermarks:{project}")) == (marker, views)
    assert store.client(builder.MATERIALIZATION_USER).dbsize() == keys
    assert "NOPERM" not in (store.primary.directory / "redis.log").read_text()
