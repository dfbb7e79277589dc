"""Materialization into a real redis-server with real Feast, driven by watermarks kept in Redis.

The watermark cycle (backfill, incremental, FLUSHALL, backfill again) runs against
redis-servers of its own, so flushing them cannot disturb other modules' data; the CLI runs
against the shared session servers under a project name of its own.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import redis
from feast import FeatureStore

import predictflow_contract as contract
from predictflow_devtools import feast_config
from predictflow_devtools.paths import CHURN_REPO, python_path
from predictflow_devtools.redis_server import RedisServer, start_redis
from predictflow_runtime import datagen
from predictflow_runtime.freshness import freshness_channel
from predictflow_runtime.materialize import run
from predictflow_runtime.store import StoreConfigError, open_store
from predictflow_runtime.watermark import advance_watermark, marker_key, read_watermark

pytestmark = [pytest.mark.dataplane, pytest.mark.timeout(300)]

CUSTOMERS = 200
VIEW = "churn_features"
FEATURES = ["tenure_months", "monthly_charges", "total_charges", "contract_type", "support_tickets_90d"]
KEY_TTL_SECONDS = 86_400


@dataclass
class Setup:
    project: str
    config: Path
    offline: Path
    server: RedisServer

    def environment(self, **extra: str) -> dict[str, str]:
        env = {
            contract.CONFIG_ENV: str(self.config),
            contract.FEATURE_REPO_ENV: str(CHURN_REPO),
            contract.OFFLINE_PATH_ENV: str(self.offline),
            **feast_config.credentials_env(self.server),
        }
        return {**env, **extra}


def use_environment(monkeypatch: pytest.MonkeyPatch, setup: Setup) -> None:
    for name, value in setup.environment().items():
        monkeypatch.setenv(name, value)


def make_setup(tmp_path: Path, server: RedisServer) -> Setup:
    project = f"mat_{uuid.uuid4().hex[:8]}"
    config = tmp_path / "feature_store.yaml"
    config.write_text(feast_config.feature_store_yaml(project, server, KEY_TTL_SECONDS))
    offline = tmp_path / "offline"
    datagen.write(offline, customers=CUSTOMERS, seed=7)
    return Setup(project, config, offline, server)


def newest_offline_rows(offline: Path) -> pd.DataFrame:
    rows = pd.read_parquet(offline / datagen.FEATURES_FILE)
    rows = rows.sort_values(["event_timestamp", "created"]).groupby("customer_id").tail(1)
    return rows.set_index("customer_id").sort_index()


def online_rows(store: FeatureStore, customer_ids: list[int]) -> pd.DataFrame:
    response = store.get_online_features(
        features=[f"{VIEW}:{name}" for name in FEATURES],
        entity_rows=[{"customer_id": int(i)} for i in customer_ids],
    ).to_dict()
    return pd.DataFrame(response).set_index("customer_id").sort_index()


def assert_online_equals_newest_offline(store: FeatureStore, offline: Path) -> None:
    expected = newest_offline_rows(offline)[FEATURES]
    actual = online_rows(store, expected.index.tolist())[FEATURES]
    assert actual.isna().sum().sum() == 0, "some customers have no online values"
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)


def append_offline_rows(offline: Path, customer_ids: list[int], event_time: pd.Timestamp) -> None:
    """Newer rows for some customers, as a later ingestion would land them."""
    path = offline / datagen.FEATURES_FILE
    rows = pd.read_parquet(path)
    newest = newest_offline_rows(offline).loc[customer_ids].reset_index()
    newest["event_timestamp"] = event_time
    newest["created"] = event_time + timedelta(seconds=1)
    newest["tenure_months"] += 100
    newest["support_tickets_90d"] += 7
    pd.concat([rows, newest[rows.columns]], ignore_index=True).to_parquet(path, index=False)


@pytest.fixture(params=["plain", "tls"])
def own_server(request, tmp_path_factory):
    """A redis-server only this test uses, so FLUSHALL is safe."""
    tls = request.param == "tls"
    server = start_redis(tmp_path_factory.mktemp(f"redis-{request.param}"), tls=tls)
    yield server
    server.stop()


def test_watermarks_drive_backfill_incremental_and_refill(own_server, tmp_path, monkeypatch):
    setup = make_setup(tmp_path, own_server)
    use_environment(monkeypatch, setup)
    store = open_store(work_dir=tmp_path / "work")
    client = own_server.client()
    marker = marker_key(setup.project, VIEW)

    # No marker: a full backfill of every customer's newest row.
    first = run(store, client)
    assert first.succeeded, first.failures
    (result,) = first.results
    assert result.interval.full and result.rows == CUSTOMERS
    watermark = read_watermark(client, setup.project, VIEW)
    assert watermark == first.watermark
    assert client.ttl(marker) == -1, "markers never expire"
    entity_key = next(k for k in client.scan_iter(count=1000) if k != marker.encode())
    assert 0 < client.ttl(entity_key) <= KEY_TTL_SECONDS, "feature rows keep the store's key_ttl_seconds"
    assert_online_equals_newest_offline(store, setup.offline)

    # A new pod deriving its registry leaves the online data alone.
    keys_before = client.dbsize()
    reader = open_store(work_dir=tmp_path / "second-pod")
    assert client.dbsize() == keys_before
    assert_online_equals_newest_offline(reader, setup.offline)

    # Newer offline rows after the watermark: an incremental run writes just those.
    updated = [1001, 1050, 1200]
    append_offline_rows(setup.offline, updated, pd.Timestamp(watermark) + timedelta(milliseconds=1))
    second = run(store, client)
    assert second.succeeded, second.failures
    (result,) = second.results
    assert not result.interval.full
    assert result.interval.start == watermark
    assert result.rows == len(updated)
    assert read_watermark(client, setup.project, VIEW) == second.watermark > watermark
    assert_online_equals_newest_offline(store, setup.offline)

    # FLUSHALL takes the marker with the data: the next plain run refills everything.
    client.flushall()
    assert online_rows(store, updated)[FEATURES].isna().all().all()
    third = run(store, client)
    assert third.succeeded, third.failures
    (result,) = third.results
    assert result.interval.full and result.rows == CUSTOMERS
    assert read_watermark(client, setup.project, VIEW) == third.watermark
    assert_online_equals_newest_offline(store, setup.offline)


def test_full_ignores_the_marker(redis_server, tmp_path, monkeypatch):
    setup = make_setup(tmp_path, redis_server)
    use_environment(monkeypatch, setup)
    store = open_store(work_dir=tmp_path / "work")
    client = redis_server.client()
    assert run(store, client).results[0].rows == CUSTOMERS
    assert run(store, client).results[0].rows == 0
    forced = run(store, client, full=True)
    assert forced.results[0].interval.full and forced.results[0].rows == CUSTOMERS


def test_markers_only_move_forward_and_never_expire(redis_server):
    client = redis_server.client()
    project, now = f"mat_{uuid.uuid4().hex[:8]}", pd.Timestamp.now(tz="UTC").to_pydatetime()
    key = marker_key(project, VIEW)
    assert advance_watermark(client, project, VIEW, now)
    assert not advance_watermark(client, project, VIEW, now - timedelta(minutes=5)), "a slow older run rewound it"
    assert read_watermark(client, project, VIEW) == now
    client.expire(key, 3600)
    assert advance_watermark(client, project, VIEW, now + timedelta(minutes=5))
    assert read_watermark(client, project, VIEW) == now + timedelta(minutes=5)
    assert client.ttl(key) == -1


def test_unknown_feature_view_is_refused(redis_server, tmp_path, monkeypatch):
    setup = make_setup(tmp_path, redis_server)
    use_environment(monkeypatch, setup)
    store = open_store(work_dir=tmp_path / "work")
    with pytest.raises(StoreConfigError, match="churn_features"):
        run(store, redis_server.client(), feature_views=["no_such_view"])


def run_cli(setup: Setup, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": python_path(),
        contract.WORK_DIR_ENV: str(tmp_path / "job-work"),
        **setup.environment(**env),
    }
    return subprocess.run(
        [sys.executable, "-m", "predictflow_runtime.materialize", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )


def wait_for_message(pubsub: redis.client.PubSub, deadline_seconds: float = 60) -> dict:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is not None:
            return json.loads(message["data"])
    raise AssertionError("no freshness message arrived")


@pytest.mark.parametrize("server_fixture", ["redis_server", "redis_tls_server"])
def test_cli_materializes_publishes_freshness_and_keeps_the_password_out_of_logs(
    server_fixture, request, tmp_path, monkeypatch
):
    server: RedisServer = request.getfixturevalue(server_fixture)
    setup = make_setup(tmp_path, server)
    client = server.client()
    pubsub = client.pubsub()
    pubsub.subscribe(freshness_channel(setup.project))
    assert pubsub.get_message(timeout=10)["type"] == "subscribe"
    report_path = tmp_path / "termination-log"
    try:
        job = run_cli(setup, tmp_path, "--verbose", PREDICTFLOW_REPORT_PATH=str(report_path))
        output = job.stdout + job.stderr
        assert job.returncode == 0, output
        assert f"{VIEW}: full backfill done: {CUSTOMERS} rows written" in output
        if server.password:
            assert server.password not in output
        message = wait_for_message(pubsub)
    finally:
        pubsub.close()
    watermark = client.get(marker_key(setup.project, VIEW)).decode()
    # what the operator reads from the pod's termination message before it trusts the backfill
    report = json.loads(report_path.read_text())
    held = pq.read_metadata(setup.offline / "churn_features.parquet").num_rows  # every history row, not one per customer
    assert (report["rows"], report["sourceRows"], report["failures"]) == (CUSTOMERS, held, [])
    assert report["views"] == {VIEW: {"rows": CUSTOMERS, "sourceRows": held}}
    assert message["project"] == setup.project
    assert message["feature_views"] == [VIEW]
    assert message["rows"] == CUSTOMERS
    assert message["watermark"] == watermark
    assert message["finished_at"] >= watermark

    # Feast's own reader sees what the job wrote.
    use_environment(monkeypatch, setup)
    store = open_store(work_dir=tmp_path / "reader")
    assert_online_equals_newest_offline(store, setup.offline)

    # A second run is incremental: nothing newer offline, so no rows, and the marker moves on.
    again = run_cli(setup, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{VIEW}: incremental done: 0 rows written" in again.stderr
    assert client.get(marker_key(setup.project, VIEW)).decode() > watermark


def test_cli_failure_exits_non_zero_with_a_clear_message_and_no_password(redis_tls_server, tmp_path):
    setup = make_setup(tmp_path, redis_tls_server)
    wrong = "wrong-" + secrets.token_urlsafe(16)
    job = run_cli(setup, tmp_path, "--verbose", REDIS_PASSWORD=wrong)
    output = job.stdout + job.stderr
    assert job.returncode == 1, output
    assert "materialization failed" in output
    assert "password" in output.lower() or "auth" in output.lower()
    assert wrong not in output and redis_tls_server.password not in output
    assert redis_tls_server.client().get(marker_key(setup.project, VIEW)) is None


def test_a_backfill_compares_a_sample_with_the_serving_store_and_reports_differences(redis_server, redis_tls_server, tmp_path):
    """The switch's Verifying step: the job reads a sample from the new store and from the one that
    serves, through the serving store's config under the compare variable names."""
    (tmp_path / "serving").mkdir()
    serving = make_setup(tmp_path / "serving", redis_server)
    assert run_cli(serving, tmp_path / "serving").returncode == 0
    new_config = tmp_path / "new.yaml"
    new_config.write_text(feast_config.feature_store_yaml(serving.project, redis_tls_server, KEY_TTL_SECONDS))
    new = Setup(serving.project, new_config, serving.offline, redis_tls_server)
    compare_config = tmp_path / contract.COMPARE_KEY  # what the operator mounts: the serving store under the compare names
    compare_config.write_text(feast_config.compare_yaml(serving.project, redis_server, KEY_TTL_SECONDS))
    compare_env = feast_config.credentials_env(redis_server, compare=True)

    def backfill() -> dict:
        report_path = tmp_path / "report.json"
        job = run_cli(
            new, tmp_path / "new", "--full",
            **{contract.REPORT_PATH_ENV: str(report_path), contract.COMPARE_CONFIG_ENV: str(compare_config), **compare_env},
        )
        assert job.returncode == 0, job.stdout + job.stderr
        return json.loads(report_path.read_text())["compared"]

    assert backfill() == {"sampled": 100, "mismatched": 0, "examples": []}

    # the serving store loses this project's entities: every sampled entity now reads differently
    client = redis_server.client()
    for key in list(client.scan_iter(count=1000)):
        if key.endswith(serving.project.encode()):
            client.delete(key)
    differs = backfill()
    assert (differs["sampled"], differs["mismatched"]) == (100, 100) and differs["examples"][0] == {"customer_id": 1001}
