"""Feature lookups on a local 3-shard Redis Cluster: ours against redis-py's own cluster client.

The churn example's customers are materialized into the cluster by the runtime (the fast path,
one pipeline per shard). `ours` is the service's cluster read path (AsyncClusterFeatureLookup:
HMGET of the plan's fields, grouped by node, decoded as Feast decodes); `raw` is redis-py's
asyncio RedisCluster, HGETALL of the same keys (a cluster pipeline for 100), nothing decoded.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any, Callable

import yaml

import predictflow_contract as contract
from bench.timing import interleaved, percentiles
from predictflow_devtools.paths import CHURN_REPO
from predictflow_devtools.redis_cluster import start_redis_cluster
from predictflow_runtime import datagen
from predictflow_runtime.materialize import online_store_client, run
from predictflow_runtime.store import open_store

SHARDS = 3
TARGET_RATIO = 1.2


def lookup_cluster_benchmark(directory: Path, customers: int, first_customer: int, rounds: int, per_round: dict[int, int], warmup: int, seed: int) -> dict[str, Any]:
    from predictflow_serving.lookup import AsyncClusterFeatureLookup
    from predictflow_serving.model import FEATURE_REFERENCES
    from predictflow_serving.plan import plan_for_store
    from predictflow_serving.store_client import async_cluster_client

    cluster = start_redis_cluster(directory / "cluster", shards=SHARDS)
    loop = asyncio.new_event_loop()
    try:
        offline = directory / "cluster-offline"
        datagen.write(offline, customers=customers)
        os.environ[contract.OFFLINE_PATH_ENV] = str(offline)
        os.environ[contract.REDIS_PASSWORD_ENV] = cluster.password
        config = contract.feature_store_config("churn", ",".join([*cluster.endpoints, "password=${REDIS_PASSWORD}"]))
        config["online_store"]["redis_type"] = contract.FEAST_REDIS_CLUSTER_TYPE
        (directory / "cluster.yaml").write_text(yaml.safe_dump(config))
        store = open_store(directory / "cluster.yaml", CHURN_REPO, work_dir=directory / "cluster-work")
        report = run(store, online_store_client(store), full=True)
        assert report.succeeded and report.rows == customers, report

        connection_string = store.config.online_store.connection_string
        ours_client, raw = async_cluster_client(connection_string), async_cluster_client(connection_string)
        lookup = AsyncClusterFeatureLookup(plan_for_store(store, FEATURE_REFERENCES), ours_client)
        redis_key = {cid: lookup.plan.commands([{"customer_id": cid}])[0][0] for cid in range(first_customer, first_customer + customers)}
        rng = random.Random(seed)

        def rows_of(size: int) -> Callable[[int], list]:
            def inputs(count: int) -> list:
                return [[{"customer_id": rng.randrange(first_customer, first_customer + customers)} for _ in range(size)] for _ in range(count)]

            return inputs

        async def raw_hgetall(rows: list) -> None:
            if len(rows) == 1:
                await raw.hgetall(redis_key[rows[0]["customer_id"]])  # type: ignore[misc]
                return
            pipe = raw.pipeline()
            for row in rows:
                pipe.hgetall(redis_key[row["customer_id"]])
            await pipe.execute()

        def ours(rows: list) -> list:
            return loop.run_until_complete(lookup.get_many(rows))

        sample = rows_of(100)(1)[0]
        feast_rows = store.get_online_features(list(FEATURE_REFERENCES), sample).to_dict()
        for i, row in enumerate(ours(sample)):
            assert row.found and all(value == feast_rows[name][i] for name, value in row.features.items()), row

        results: dict[str, Any] = {"shards": SHARDS}
        for size in (1, 100):
            timings = interleaved(
                {"ours": ours, "raw": lambda rows: loop.run_until_complete(raw_hgetall(rows))},
                rows_of(size),
                rounds,
                per_round[size],
                warmup if size == 1 else warmup // 5,
            )
            entry = {}
            for name in ("ours", "raw"):
                entry[f"{name}_p50_ms"], entry[f"{name}_p99_ms"] = percentiles(timings[name])
            results[f"entities_{size}"] = entry
        loop.run_until_complete(ours_client.aclose())
        loop.run_until_complete(raw.aclose())
        return results
    finally:
        loop.close()
        cluster.stop()


def ratios(results: dict[str, Any]) -> dict[str, float]:
    return {f"lookup_cluster {size} ours/raw p99": results[size]["ours_p99_ms"] / results[size]["raw_p99_ms"] for size in ("entities_1", "entities_100")}


def report(results: dict[str, Any]) -> str:
    lines = []
    for size in ("entities_1", "entities_100"):
        entry = results[size]
        ratio = entry["ours_p99_ms"] / entry["raw_p99_ms"]
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        lines.append(
            f"lookup_cluster {size:>12} ({results['shards']} shards): ours p50 {entry['ours_p50_ms']:.3f} p99 {entry['ours_p99_ms']:.3f} ms | "
            f"redis-py cluster p50 {entry['raw_p50_ms']:.3f} p99 {entry['raw_p99_ms']:.3f} ms | {ratio:.2f} ({verdict} the {TARGET_RATIO} target)"
        )
    return "\n".join(lines)
