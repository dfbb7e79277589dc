"""Serving benchmarks: the fast lookup against raw redis-py and Feast, predict against an echo, throughput against `feast serve`.

    python -m bench.run [--quick] [--only lookup|predict|throughput] [--out bench/results.json]   (from the repository root)

Starts its own redis-server on loopback, fills it with the example data through the
materialization job, trains the model, and serves both the churn service and a constant-echo
BentoML service with `bentoml serve`. Every variant is measured in the same run, after a
warm-up, on the same keys:
- lookup `ours`: predictflow_serving.lookup.AsyncFeatureLookup.get_many, the service's read path
  (decoded feature values);
- lookup `raw`: redis-py's asyncio client, HGETALL on the same keys (pipelined for 100), nothing
  decoded; both async readers run one call at a time on the same event loop;
- lookup `feast`: FeatureStore.get_online_features(...).to_dict();
- predict `ours` / `echo`: POST /predict {"customer_id": N} over a keep-alive HTTP connection.
Calls of the variants alternate one by one, so background load on the machine hits them alike.
Then the serving throughput benchmark (bench/throughput.py) runs on the same stack: closed-loop
load at rising concurrency against ours and `feast serve`, one worker each; it also writes
bench/throughput.png next to the results.
Then lookups on a local 3-shard Redis Cluster against redis-py's cluster client (bench/lookup_cluster.py).
Last, the backfill benchmark (bench/backfill.py): the fast materialization path against Feast's own
over 200,000 customers, into a redis-server of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import backfill, lookup_cluster, throughput
from bench.timing import interleaved, percentiles
from predictflow_devtools.devstack import BentoServer, LocalStack, prepare_stack
from predictflow_devtools.processes import free_port
from predictflow_devtools.redis_server import start_redis

RESULTS = Path(__file__).resolve().parent / "results.json"
CUSTOMERS = 1000
FIRST_CUSTOMER = 1001
TARGET_RATIO = 1.5
PARTS = ("lookup", "predict", "throughput", "backfill", "lookup_cluster")
PLOT = "throughput.png"


@dataclass(frozen=True)
class Plan:
    rounds: int
    per_round_1: int
    per_round_100: int
    per_round_predict: int
    warmup: int


FULL = Plan(rounds=20, per_round_1=500, per_round_100=100, per_round_predict=250, warmup=300)
QUICK = Plan(rounds=6, per_round_1=200, per_round_100=40, per_round_predict=100, warmup=100)


def lookup_benchmark(stack: LocalStack, plan: Plan, seed: int) -> dict:
    os.environ.update(stack.env)  # Feast reads the definitions' offline path from the environment
    from predictflow_runtime.store import open_store
    from predictflow_serving.lookup import AsyncFeatureLookup
    from predictflow_serving.model import FEATURE_REFERENCES
    from predictflow_serving.plan import plan_for_store
    from predictflow_serving.store_client import async_client

    store = open_store(work_dir=stack.directory / "bench-work")
    connection_string = store.config.online_store.connection_string
    loop = asyncio.new_event_loop()
    client = async_client(connection_string)
    raw = async_client(connection_string)
    lookup = AsyncFeatureLookup(plan_for_store(store, FEATURE_REFERENCES), client)
    references = list(FEATURE_REFERENCES)
    redis_key = {cid: lookup.plan.commands([{"customer_id": cid}])[0][0]
                 for cid in range(FIRST_CUSTOMER, FIRST_CUSTOMER + CUSTOMERS)}
    rng = random.Random(seed)

    def rows_of(size: int) -> Callable[[int], list]:
        def inputs(count: int) -> list:
            return [[{"customer_id": rng.randrange(FIRST_CUSTOMER, FIRST_CUSTOMER + CUSTOMERS)} for _ in range(size)]
                    for _ in range(count)]
        return inputs

    async def raw_hgetall(rows: list) -> None:
        if len(rows) == 1:
            await raw.hgetall(redis_key[rows[0]["customer_id"]])  # type: ignore[misc]
            return
        async with raw.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.hgetall(redis_key[row["customer_id"]])
            await pipe.execute()

    def ours(rows: list) -> list:
        return loop.run_until_complete(lookup.get_many(rows))

    # The three readers must agree before they are timed.
    sample = rows_of(100)(1)[0]
    ours_rows = ours(sample)
    feast_rows = store.get_online_features(references, sample).to_dict()
    for i, row in enumerate(ours_rows):
        for name, value in row.features.items():
            assert value == feast_rows[name][i], (name, value, feast_rows[name][i])
    assert all(row.found for row in ours_rows)

    results = {}
    for size, per_round in ((1, plan.per_round_1), (100, plan.per_round_100)):
        timings = interleaved(
            {
                "ours": ours,
                "raw": lambda rows: loop.run_until_complete(raw_hgetall(rows)),
                "feast": lambda rows: store.get_online_features(references, rows).to_dict(),
            },
            rows_of(size),
            plan.rounds,
            per_round,
            plan.warmup if size == 1 else plan.warmup // 5,
        )
        entry = {}
        for name in ("ours", "feast", "raw"):
            entry[f"{name}_p50_ms"], entry[f"{name}_p99_ms"] = percentiles(timings[name])
        entry["samples_per_variant"] = len(timings["ours"])
        results[f"entities_{size}"] = entry
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(raw.aclose())
    loop.close()
    return results


class KeepAliveClient:
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def predict(self, customer_id: int) -> None:
        body = json.dumps({"customer_id": customer_id})
        self.connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"predict answered {response.status}: {payload[:200]!r}")

    def close(self) -> None:
        self.connection.close()


def predict_benchmark(stack: LocalStack, plan: Plan, seed: int) -> dict:
    servers = {
        "ours": BentoServer("predictflow_serving.service:ChurnService", free_port(),
                            stack.process_env(PREDICTFLOW_WORK_DIR=str(stack.directory / "serve-work")),
                            stack.directory / "serve-ours.log"),
        "echo": BentoServer("bench.echo_service:EchoService", free_port(), stack.process_env(),
                            stack.directory / "serve-echo.log"),
    }
    clients: dict[str, KeepAliveClient] = {}
    try:
        for server in servers.values():
            server.start()
        clients = {name: KeepAliveClient(server.port) for name, server in servers.items()}
        rng = random.Random(seed)
        timings = interleaved(
            {name: client.predict for name, client in clients.items()},
            lambda count: [rng.randrange(FIRST_CUSTOMER, FIRST_CUSTOMER + CUSTOMERS) for _ in range(count)],
            plan.rounds,
            plan.per_round_predict,
            plan.warmup,
        )
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
    result = {}
    for name in ("ours", "echo"):
        result[f"{name}_p50_ms"], result[f"{name}_p99_ms"] = percentiles(timings[name])
    result["samples_per_variant"] = len(timings["ours"])
    return result


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def ratios(results: dict) -> dict[str, float]:
    found = {}
    if "lookup" in results:
        lookup = results["lookup"]
        found["lookup entities_1 ours/raw p99"] = lookup["entities_1"]["ours_p99_ms"] / lookup["entities_1"]["raw_p99_ms"]
        found["lookup entities_100 ours/raw p99"] = lookup["entities_100"]["ours_p99_ms"] / lookup["entities_100"]["raw_p99_ms"]
    if "predict" in results:
        found["predict ours/echo p99"] = results["predict"]["ours_p99_ms"] / results["predict"]["echo_p99_ms"]
    return found


def report(results: dict) -> str:
    lines = [f"machine: {results['machine']}"]
    if "lookup" in results:
        lines += lookup_report(results["lookup"])
    if "predict" in results:
        predict = results["predict"]
        lines.append(
            f"predict:               ours p50 {predict['ours_p50_ms']:.3f} p99 {predict['ours_p99_ms']:.3f} ms | "
            f"echo p50 {predict['echo_p50_ms']:.3f} p99 {predict['echo_p99_ms']:.3f} ms"
        )
    for name, value in ratios(results).items():
        verdict = "meets" if value <= TARGET_RATIO else "MISSES"
        lines.append(f"{name}: {value:.2f} ({verdict} the {TARGET_RATIO} target)")
    if "throughput" in results:
        lines.append(throughput.report(results["throughput"]))
    if "lookup_cluster" in results:
        lines.append(lookup_cluster.report(results["lookup_cluster"]))
    if "backfill" in results:
        lines.append(backfill.report(results["backfill"]))
    return "\n".join(lines)


def lookup_report(lookup: dict) -> list[str]:
    lines = []
    for size in ("entities_1", "entities_100"):
        entry = lookup[size]
        lines.append(
            f"lookup {size:>12}: ours p50 {entry['ours_p50_ms']:.3f} p99 {entry['ours_p99_ms']:.3f} ms | "
            f"raw p50 {entry['raw_p50_ms']:.3f} p99 {entry['raw_p99_ms']:.3f} ms | "
            f"feast p50 {entry['feast_p50_ms']:.3f} p99 {entry['feast_p99_ms']:.3f} ms "
            f"(feast/ours p99 {entry['feast_p99_ms'] / entry['ours_p99_ms']:.1f}x)"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses its target")
    parser.add_argument("--backfill-customers", type=int, default=backfill.BACKFILL_CUSTOMERS)
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these parts (repeatable); default: all")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    parts = args.only or list(PARTS)

    directory = Path(tempfile.mkdtemp(prefix="predictflow-bench-"))
    redis = start_redis(directory / "redis")
    results: dict[str, Any] = {}
    started = time.monotonic()
    try:
        serving_parts = [part for part in parts if part not in ("backfill", "lookup_cluster")]
        if serving_parts:
            print("preparing: example data, materialization, model ...", flush=True)
            stack = prepare_stack(directory / "stack", redis, customers=CUSTOMERS)
        if "lookup" in parts:
            print(f"[{time.monotonic() - started:.0f} s] measuring feature lookups ...", flush=True)
            results["lookup"] = lookup_benchmark(stack, plan, args.seed)
        if "predict" in parts:
            print(f"[{time.monotonic() - started:.0f} s] measuring predict over HTTP ...", flush=True)
            results["predict"] = predict_benchmark(stack, plan, args.seed)
        if "throughput" in parts:
            print(f"[{time.monotonic() - started:.0f} s] measuring serving throughput under closed-loop load ...", flush=True)
            results["throughput"] = throughput.throughput_benchmark(
                stack,
                range(FIRST_CUSTOMER, FIRST_CUSTOMER + CUSTOMERS),
                throughput.QUICK if args.quick else throughput.FULL,
                args.seed,
                args.out.parent / PLOT,
            )
        if "lookup_cluster" in parts:
            print(f"[{time.monotonic() - started:.0f} s] measuring lookups on a {lookup_cluster.SHARDS}-shard Redis Cluster ...", flush=True)
            results["lookup_cluster"] = lookup_cluster.lookup_cluster_benchmark(
                directory, CUSTOMERS, FIRST_CUSTOMER, plan.rounds, {1: plan.per_round_1, 100: plan.per_round_100}, plan.warmup, args.seed
            )
        if "backfill" in parts:
            print(f"[{time.monotonic() - started:.0f} s] measuring backfill throughput, ours and Feast's ...", flush=True)
            backfill_redis = start_redis(directory / "backfill-redis")
            try:
                results["backfill"] = backfill.backfill_benchmark(directory, backfill_redis, args.backfill_customers)
            finally:
                backfill_redis.stop()
    finally:
        redis.stop()
        shutil.rmtree(directory, ignore_errors=True)

    results["machine"] = machine()
    kept = json.loads(args.out.read_text()) if args.out.exists() else {}
    args.out.write_text(json.dumps({**kept, **results}, indent=2) + "\n")  # other benchmarks' keys stay
    print(report(results))
    print(f"wrote {args.out}" + (f" and {args.out.parent / PLOT}" if "throughput" in results else ""))
    print(f"benchmark time {time.monotonic() - started:.0f} s")
    missed = [name for name, value in ratios(results).items() if value > TARGET_RATIO]
    throughput_missed = "throughput" in results and not throughput.ratios_met(results["throughput"])
    backfill_missed = "backfill" in results and not backfill.ratios_met(results["backfill"])
    cluster_missed = "lookup_cluster" in results and any(v > lookup_cluster.TARGET_RATIO for v in lookup_cluster.ratios(results["lookup_cluster"]).values())
    return 1 if args.strict and (missed or throughput_missed or backfill_missed or cluster_missed) else 0


if __name__ == "__main__":
    sys.exit(main())
