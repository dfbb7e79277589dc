"""Predict traffic from inside the cluster, so that requests go through the serving Service.

Runs in a pod (standard library only) and prints one JSON summary line when done:

    loadgen.py traffic URL --customers 1001-1100 --stop-file /tmp/stop
        one request at a time on a new connection each (so every request is routed afresh
        to a ready endpoint, as a fleet of clients would be), until the stop file appears;
        counts failures (anything but 200), answers with a missing score or a null feature,
        and stale answers
    loadgen.py latency URL --customers 1001-1100 --requests 1000 --warmup 100
        sequential requests on one keep-alive connection (as a gateway holds them); reports
        latency percentiles in milliseconds
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import time
from urllib.parse import urlsplit

MAX_RECORDED = 50


def customers(spec: str) -> list[int]:
    first, _, last = spec.partition("-")
    return list(range(int(first), int(last or first) + 1))


def predict(connection: http.client.HTTPConnection, customer_id: int) -> tuple[int, dict]:
    connection.request(
        "POST", "/predict", body=json.dumps({"customer_id": customer_id}), headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    raw = response.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"raw": raw[:200].decode(errors="replace")}
    return response.status, body


def answer_problem(body: dict) -> str | None:
    features = body.get("features")
    if body.get("score") is None:
        return "no score"
    if not features or any(value is None for value in features.values()):
        return "null feature"
    return None


def traffic(host: str, port: int, ids: list[int], stop_file: str, pause: float) -> dict:
    counts = {"requests": 0, "ok": 0, "failed": 0, "null_features": 0, "stale": 0}
    problems: list[dict] = []
    kinds: dict[str, dict] = {}  # problem -> {count, first, last, example}
    started = time.monotonic()
    while not os.path.exists(stop_file):
        customer_id = random.choice(ids)
        connection = http.client.HTTPConnection(host, port, timeout=10)
        at = round(time.monotonic() - started, 3)
        try:
            status, body = predict(connection, customer_id)
        except (OSError, http.client.HTTPException) as error:
            status, body = 0, {"error": repr(error)}
        finally:
            connection.close()
        counts["requests"] += 1
        problem = None
        if status != 200:
            counts["failed"] += 1
            problem = f"status {status}"
        else:
            counts["ok"] += 1
            if answer_problem(body):
                counts["null_features"] += 1
                problem = answer_problem(body)
            elif body.get("stale"):
                counts["stale"] += 1
                problem = "stale"
        if problem:
            kind = kinds.setdefault(problem, {"count": 0, "first": at, "example": body})
            kind["count"] += 1
            kind["last"] = at
            if len(problems) < MAX_RECORDED:
                problems.append({"at": at, "customer_id": customer_id, "problem": problem, "body": body})
        time.sleep(pause)
    return {**counts, "seconds": round(time.monotonic() - started, 1), "problem_kinds": kinds, "problems": problems}


def latency(host: str, port: int, ids: list[int], requests: int, warmup: int) -> dict:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    failed = 0
    failures: list[dict] = []
    samples: list[float] = []
    for index in range(warmup + requests):
        customer_id = random.choice(ids)
        began = time.perf_counter()
        try:
            status, body = predict(connection, customer_id)
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=10)
            status, body = 0, {"error": repr(error)}
        took = (time.perf_counter() - began) * 1000
        if index < warmup:
            continue
        samples.append(took)
        if status != 200:
            failed += 1
            if len(failures) < MAX_RECORDED:
                failures.append({"customer_id": customer_id, "status": status, "body": body})
    connection.close()
    samples.sort()

    def percentile(p: float) -> float:
        return round(samples[min(len(samples) - 1, int(p / 100 * len(samples)))], 2)

    return {
        "requests": len(samples),
        "failed": failed,
        "failures": failures,
        "p50_ms": percentile(50),
        "p90_ms": percentile(90),
        "p99_ms": percentile(99),
        "max_ms": round(samples[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["traffic", "latency"])
    parser.add_argument("url")
    parser.add_argument("--customers", default="1001-1100")
    parser.add_argument("--stop-file", default="/tmp/stop")
    parser.add_argument("--pause", type=float, default=0.02)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    target = urlsplit(args.url)
    ids = customers(args.customers)
    if args.mode == "traffic":
        summary = traffic(target.hostname, target.port or 80, ids, args.stop_file, args.pause)
    else:
        summary = latency(target.hostname, target.port or 80, ids, args.requests, args.warmup)
    print(json.dumps(summary), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
