"""Backfill throughput: the fast materialization path against Feast's own, same data, same Redis.

The example churn data for BACKFILL_CUSTOMERS customers (three snapshots each, so the newest of
three rows per customer is written), one redis-server on loopback, emptied before every run. Each
writer materializes everything (`run(full=True)`, in this process: Feast's registry and the
Parquet file are warm for both); Feast once, ours several times around it, the median kept.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import predictflow_contract as contract
from predictflow_devtools import feast_config
from predictflow_devtools.paths import CHURN_REPO
from predictflow_devtools.redis_server import RedisServer
from predictflow_runtime import datagen
from predictflow_runtime.materialize import WRITER_FAST, WRITER_FEAST, run
from predictflow_runtime.store import open_store

BACKFILL_CUSTOMERS = 200_000
OURS_RUNS = 3
TARGET_ROWS_PER_S = 200_000
TARGET_RATIO = 12.0


def _timed_backfill(store: Any, server: RedisServer, writer: str) -> tuple[int, float]:
    client = server.client()
    client.flushall()
    started = time.perf_counter()
    report = run(store, client, full=True, writer=writer)
    seconds = time.perf_counter() - started
    if not report.succeeded:
        raise RuntimeError(f"{writer} backfill failed: {report.failures}")
    return report.rows, seconds


def backfill_benchmark(directory: Path, server: RedisServer, customers: int = BACKFILL_CUSTOMERS) -> dict[str, Any]:
    offline = directory / "backfill-offline"
    datagen.write(offline, customers=customers)
    config = directory / "backfill-feature_store.yaml"
    config.write_text(feast_config.feature_store_yaml("churn", server))
    os.environ[contract.OFFLINE_PATH_ENV] = str(offline)
    os.environ.update(feast_config.credentials_env(server))
    store = open_store(config, CHURN_REPO, work_dir=directory / "backfill-work")

    ours = [_timed_backfill(store, server, WRITER_FAST)]
    feast_rows, feast_seconds = _timed_backfill(store, server, WRITER_FEAST)
    ours += [_timed_backfill(store, server, WRITER_FAST) for _ in range(OURS_RUNS - 1)]
    rows = {count for count, _ in ours} | {feast_rows}
    if len(rows) != 1:
        raise RuntimeError(f"the writers wrote different row counts: {sorted(rows)}")
    written = rows.pop()
    ours_seconds = statistics.median(seconds for _, seconds in ours)
    return {
        "rows": written,
        "offline_rows": written * 3,
        "ours_seconds": round(ours_seconds, 3),
        "feast_seconds": round(feast_seconds, 3),
        "ours_rows_per_s": round(written / ours_seconds),
        "feast_rows_per_s": round(written / feast_seconds),
    }


def ratios_met(backfill: dict[str, Any]) -> bool:
    ratio = backfill["ours_rows_per_s"] / backfill["feast_rows_per_s"]
    return backfill["ours_rows_per_s"] >= TARGET_ROWS_PER_S and ratio >= TARGET_RATIO


def report(backfill: dict[str, Any]) -> str:
    ratio = backfill["ours_rows_per_s"] / backfill["feast_rows_per_s"]
    verdict = "meets" if ratios_met(backfill) else "MISSES"
    return (
        f"backfill {backfill['rows']} rows: ours {backfill['ours_rows_per_s']} rows/s ({backfill['ours_seconds']} s) | "
        f"feast {backfill['feast_rows_per_s']} rows/s ({backfill['feast_seconds']} s) | {ratio:.1f}x "
        f"({verdict} the {TARGET_ROWS_PER_S} rows/s and {TARGET_RATIO:.0f}x targets)"
    )
