"""Serving throughput: closed-loop load at rising concurrency against one serving worker each.

Three endpoints on the same Redis, the same data and the same request mix (1 or 100 distinct
random customers x the churn example's 5 features):
- `ours`:         the churn service's POST /predict (`bentoml serve`, one worker);
- `ours_lookup`:  the churn service's lookup-only POST /features (same process);
- `feast_server`: `feast serve --workers 1` POST /get-online-features, on a registry derived
                  from the same definitions (FeatureStore.apply(partial=True): no online data
                  is deleted), without worker recycling (--max-requests 0: a restart every
                  ~1000 requests would be measured instead of the server).
All three answer the same feature values for a sample before anything is timed.

Load generator: N keep-alive connections, each sending its next request when the previous
answer has arrived (closed loop), on one uvloop event loop, with requests encoded up front and
answers parsed by httptools (the C parser uvicorn uses), so a request costs the client well
under 0.1 ms of CPU; the cores it used are recorded for every step beside the server's. Every
step warms up first, then counts the answers that complete within a fixed window: rps is that
count over the window, p50/p99 are over those answers. At each concurrency the endpoints'
steps are cut into slices that take turns (each endpoint keeps its connections open meanwhile),
so bursts of background load land on all alike; an endpoint stops rising after two
steps in a row with p99 beyond 4x the budget (saturated). The figure per endpoint is the highest
rps of a step whose p99 is within the budget (10 ms for 1 entity, 25 ms for 100).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import httptools
import numpy as np
import psutil
import uvloop
import yaml

from predictflow_devtools.devstack import BentoServer, LocalStack
from predictflow_devtools.processes import free_port, spawn, tails, wait_until

BUDGET_MS = {1: 10.0, 100: 25.0}
TARGET_RATIO = {1: 1.5, 100: 3.0}
ENDPOINTS = ("ours", "ours_lookup", "feast_server")
LABELS = {"ours": "ours POST /predict", "ours_lookup": "ours POST /features", "feast_server": "feast serve /get-online-features"}
LOOKUP_PATH = "/features"
REQUESTS_PER_POOL = 1000
# An endpoint stops rising after this many steps in a row with p99 beyond this many budgets:
# saturated, its latency only grows with more clients (a single noisy step does not stop it).
SATURATED_STEPS_TO_STOP = 2
SATURATED_BUDGETS = 4.0
CLIENT = "closed loop, N keep-alive HTTP/1.1 connections on one uvloop event loop, pre-encoded requests, httptools response parser"


@dataclass(frozen=True)
class LoadPlan:
    concurrency: tuple[int, ...]
    step_seconds: float  # measured per endpoint and concurrency, split into `slices`
    slices: int
    warmup_seconds: float  # before the first slice of a step; later slices skip only their first burst


FULL = LoadPlan(concurrency=(1, 2, 4, 8, 16, 32, 64), step_seconds=2.4, slices=3, warmup_seconds=0.4)
QUICK = LoadPlan(concurrency=(1, 4, 16, 64), step_seconds=1.0, slices=2, warmup_seconds=0.2)
SERVER_WARMUP = LoadPlan(concurrency=(4,), step_seconds=1.0, slices=1, warmup_seconds=0.0)
LATER_SLICE_WARMUP_SECONDS = 0.1


@dataclass(frozen=True)
class Endpoint:
    name: str
    port: int
    path: str
    body: Callable[[list[int]], dict[str, Any]]
    pids: tuple[int, ...]  # the server's processes, for its CPU time

    def request(self, customer_ids: list[int]) -> bytes:
        payload = json.dumps(self.body(customer_ids), separators=(",", ":")).encode()
        head = f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        return head.encode() + payload


@dataclass
class Step:
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    answers: int
    client_cpu: float  # cores the load generator used during the step
    server_cpu: float  # cores the server's processes used during the step


class LoadError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# load generator


@dataclass
class _Window:
    measure_from: float
    measure_until: float
    latencies: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.error is None and time.perf_counter() < self.measure_until


class _ClosedLoopConnection(asyncio.Protocol):
    """One client: sends a request, waits for the whole answer, sends the next, until its window ends."""

    def __init__(self, requests: Sequence[bytes], first: int) -> None:
        self.requests = requests
        self.next = first
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0
        self.body = bytearray()
        self.window = _Window(float("inf"), float("inf"))
        self.idle = asyncio.get_running_loop().create_future()
        self.idle.set_result(None)
        self.lost: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def start(self, window: _Window) -> None:
        self.window = window
        self.idle = asyncio.get_running_loop().create_future()
        if self.lost is not None:
            self.fail(self.lost)
        else:
            self.send()

    def send(self) -> None:
        assert self.transport is not None
        request = self.requests[self.next % len(self.requests)]
        self.next += 1
        self.body.clear()
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.fail(f"unparsable answer: {error}")

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        answered = time.perf_counter()
        window = self.window
        status = self.parser.get_status_code()
        if status != 200:
            self.fail(f"answered {status}: {bytes(self.body[:300])!r}")
            return
        if window.measure_from <= answered <= window.measure_until:
            window.latencies.append(answered - self.sent_at)
        if window.running and self.parser.should_keep_alive():
            self.send()
        elif not self.idle.done():
            self.idle.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = f"connection closed by the server ({exc})"
        if not self.idle.done():
            self.fail(self.lost)

    def fail(self, reason: str) -> None:
        if self.window.error is None:
            self.window.error = reason
        if not self.idle.done():
            self.idle.set_result(None)


class _ClosedLoopClients:
    """N keep-alive connections to one endpoint, driven in windows (slices) of closed-loop load."""

    def __init__(self, endpoint: Endpoint, requests: Sequence[bytes], rng: random.Random) -> None:
        self.endpoint = endpoint
        self.requests = requests
        self.rng = rng
        self.connections: list[_ClosedLoopConnection] = []

    async def _connect(self) -> _ClosedLoopConnection:
        first = self.rng.randrange(len(self.requests))
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: _ClosedLoopConnection(self.requests, first), "127.0.0.1", self.endpoint.port)
        return connection

    async def open(self, concurrency: int) -> None:
        self.connections = [await self._connect() for _ in range(concurrency)]

    async def run(self, warmup: float, seconds: float) -> _Window:
        # a server may close a keep-alive connection that idled while the other endpoints had their turn
        self.connections = [await self._connect() if connection.lost else connection for connection in self.connections]
        started = time.perf_counter()
        window = _Window(started + warmup, started + warmup + seconds)
        for connection in self.connections:
            connection.start(window)
        await asyncio.wait_for(asyncio.gather(*(connection.idle for connection in self.connections)), timeout=warmup + seconds + 30)
        return window

    def close(self) -> None:
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.close()
        self.connections.clear()


def _cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _process_tree(pids: Sequence[int]) -> list[psutil.Process]:
    tree = []
    for pid in pids:
        root = psutil.Process(pid)
        tree += [root, *root.children(recursive=True)]
    return tree


@dataclass
class _Tally:
    """A step's slices, added up."""

    latencies: list[float] = field(default_factory=list)
    measured: float = 0.0
    elapsed: float = 0.0
    client: float = 0.0
    server: float = 0.0

    def step(self, concurrency: int) -> Step:
        milliseconds = np.asarray(self.latencies) * 1000.0
        return Step(
            concurrency=concurrency,
            rps=round(len(self.latencies) / self.measured, 1),
            p50_ms=round(float(np.percentile(milliseconds, 50)), 3),
            p99_ms=round(float(np.percentile(milliseconds, 99)), 3),
            answers=len(self.latencies),
            client_cpu=round(self.client / self.elapsed, 2),
            server_cpu=round(self.server / self.elapsed, 2),
        )


def run_level(
    loop: asyncio.AbstractEventLoop, endpoints: Sequence[Endpoint], pools: dict[str, list[bytes]], concurrency: int, plan: LoadPlan, rng: random.Random
) -> dict[str, Step]:
    """One concurrency level: every endpoint's step, in slices that take turns in a rotating order,
    so a burst of background load is shared out among the endpoints instead of hitting one."""
    clients = {endpoint.name: _ClosedLoopClients(endpoint, pools[endpoint.name], rng) for endpoint in endpoints}
    tallies = {endpoint.name: _Tally() for endpoint in endpoints}
    servers = {endpoint.name: _process_tree(endpoint.pids) for endpoint in endpoints}
    seconds = plan.step_seconds / plan.slices
    try:
        for group in clients.values():
            loop.run_until_complete(group.open(concurrency))
        for turn in range(plan.slices):
            shift = turn % len(endpoints)
            for endpoint in [*endpoints[shift:], *endpoints[:shift]]:
                tally, server = tallies[endpoint.name], servers[endpoint.name]
                warmup = plan.warmup_seconds if turn == 0 else LATER_SLICE_WARMUP_SECONDS
                wall, client, served = time.perf_counter(), time.process_time(), _cpu_seconds(server)
                window = loop.run_until_complete(clients[endpoint.name].run(warmup, seconds))
                tally.elapsed += time.perf_counter() - wall
                tally.client += time.process_time() - client
                tally.server += _cpu_seconds(server) - served
                if window.error is not None:
                    raise LoadError(f"{endpoint.name} at concurrency {concurrency}: {window.error}")
                tally.latencies += window.latencies
                tally.measured += seconds
    finally:
        for group in clients.values():
            group.close()
    for endpoint in endpoints:
        if not tallies[endpoint.name].latencies:
            raise LoadError(f"{endpoint.name} at concurrency {concurrency}: no answer within {plan.step_seconds} s")
    return {name: tally.step(concurrency) for name, tally in tallies.items()}


def ramp(endpoints: Sequence[Endpoint], pools: dict[str, list[bytes]], budget_ms: float, plan: LoadPlan, seed: int) -> dict[str, list[Step]]:
    """Rising concurrency, every endpoint at every level until it saturates."""
    loop = uvloop.new_event_loop()
    rng = random.Random(seed)
    steps: dict[str, list[Step]] = {endpoint.name: [] for endpoint in endpoints}
    saturated = dict.fromkeys(steps, 0)
    gc.collect()
    gc.freeze()  # the benchmark process holds Feast's heap; keep full collections out of the timings
    try:
        # first requests pay for lazy imports and caches; not measured
        run_level(loop, endpoints, pools, SERVER_WARMUP.concurrency[0], SERVER_WARMUP, rng)
        for concurrency in plan.concurrency:
            rising = [endpoint for endpoint in endpoints if saturated[endpoint.name] < SATURATED_STEPS_TO_STOP]
            if not rising:
                break
            for name, step in run_level(loop, rising, pools, concurrency, plan, rng).items():
                steps[name].append(step)
                saturated[name] = saturated[name] + 1 if step.p99_ms > SATURATED_BUDGETS * budget_ms else 0
                print(
                    f"  {name:>12} N={concurrency:<3} {step.rps:8.1f} rps  p50 {step.p50_ms:7.2f}  p99 {step.p99_ms:7.2f} ms"
                    f"  (client {step.client_cpu:.2f} / server {step.server_cpu:.2f} cores)",
                    flush=True,
                )
    finally:
        gc.unfreeze()
        loop.close()
    return steps


def best_within(steps: Sequence[Step], budget_ms: float) -> float:
    return max((step.rps for step in steps if step.p99_ms <= budget_ms), default=0.0)


# ---------------------------------------------------------------------------------------------
# the servers


def _http(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 10) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read()[:300]


@dataclass
class FeastServer:
    """`feast serve --workers 1` on a loopback port, from a repo folder holding a derived registry."""

    repo: Path
    port: int
    env: dict[str, str]
    log: Path
    _process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, timeout: float = 120) -> FeastServer:
        args = [
            sys.executable, "-m", "feast.cli.cli", "--chdir", str(self.repo), "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1", "--max-requests", "0",
        ]  # fmt: skip
        self._process = spawn(args, self.log, tie_to_parent=True, env=self.env)
        process = self._process

        def ready() -> bool:
            if process.poll() is not None:
                raise LoadError(f"feast serve exited with {process.returncode}:\n{tails([self.log])}")
            return _http("GET", self.url + "/health", timeout=2)[0] == 200

        try:
            wait_until(ready, timeout=timeout, what="feast serve", logs=[self.log])
            if process.poll() is not None:
                raise LoadError(f"feast serve exited with {process.returncode}:\n{tails([self.log])}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 15) -> None:
        if self._process is None:
            return
        process, self._process = self._process, None
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the gunicorn master and its worker: a group it started
            process.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=grace)


def feast_repo(stack: LocalStack, work: Path) -> Path:
    """A repo folder `feast serve` can run from: the definitions, a registry derived from them by
    the runtime's own open_store (apply with partial=True, so the online store is never torn
    down), and the stack's feature_store.yaml pointing at that registry."""
    from predictflow_runtime.store import REGISTRY_FILE, config_path_from_env, open_store

    os.environ.update(stack.env)
    store = open_store(work_dir=work)
    repo = Path(store.repo_path)
    config = yaml.safe_load(config_path_from_env().read_text())
    config["registry"] = {"registry_type": "file", "path": str(work / REGISTRY_FILE)}
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return repo


def feast_env(stack: LocalStack) -> dict[str, str]:
    """The stack's environment plus the ${NAME_AS_JSON} values the rendered yaml references."""
    from predictflow_runtime.store import config_path_from_env, export_json_escaped

    env = stack.process_env()
    export_json_escaped(config_path_from_env().read_text(), env)
    return env


def served_paths(server: BentoServer) -> set[str]:
    status, spec = _http("GET", server.url + "/docs.json")
    return set(spec.get("paths", {})) if status == 200 and isinstance(spec, dict) else set()


# ---------------------------------------------------------------------------------------------
# agreement before measuring


def _ours_rows(answer: Any, size: int) -> list[dict[str, Any]]:
    """Feature rows from /predict or /features, whether the answer holds one customer or several."""
    if size == 1:
        return [answer["features"]]
    rows = answer.get("predictions") or answer.get("features") or answer.get("rows")
    return [row["features"] for row in rows]


def _feast_rows(answer: dict[str, Any], customer_ids: list[int]) -> list[dict[str, Any]]:
    names = answer["metadata"]["feature_names"]
    columns = {name: result["values"] for name, result in zip(names, answer["results"], strict=True)}
    assert columns["customer_id"] == customer_ids, "feast answered other customers"
    return [{name: columns[name][i] for name in names if name != "customer_id"} for i in range(len(customer_ids))]


def check_agreement(endpoints: Sequence[Endpoint], customer_ids: list[int], feature_names: Sequence[str]) -> None:
    """Every endpoint answers 200 with the same feature values for the same customers."""
    answers: dict[str, list[dict[str, Any]]] = {}
    for size, ids in ((1, customer_ids[:1]), (len(customer_ids), customer_ids)):
        for endpoint in endpoints:
            status, answer = _http("POST", f"http://127.0.0.1:{endpoint.port}{endpoint.path}", endpoint.body(ids))
            if status != 200:
                raise LoadError(f"{endpoint.name} answered {status} to the sample: {answer!r}")
            rows = _feast_rows(answer, ids) if endpoint.name == "feast_server" else _ours_rows(answer, size)
            if len(rows) != len(ids) or any(set(row) != set(feature_names) for row in rows):
                raise LoadError(f"{endpoint.name} answered other features: {rows[:1]!r}")
            answers[endpoint.name] = rows
        reference, *others = endpoints
        for other in others:
            if answers[other.name] != answers[reference.name]:
                raise LoadError(f"{other.name} and {reference.name} disagree: {answers[other.name][:2]!r} vs {answers[reference.name][:2]!r}")


# ---------------------------------------------------------------------------------------------
# the benchmark


def request_pools(endpoints: Sequence[Endpoint], size: int, customers: Sequence[int], seed: int) -> dict[str, list[bytes]]:
    """The same customer sets, in the same order, for every endpoint; `size` distinct ones per request."""
    rng = random.Random(seed * 1000 + size)
    sets = [rng.sample(customers, size) for _ in range(REQUESTS_PER_POOL)]
    return {endpoint.name: [endpoint.request(ids) for ids in sets] for endpoint in endpoints}


def throughput_benchmark(stack: LocalStack, customers: Sequence[int], plan: LoadPlan, seed: int, plot: Path | None) -> dict[str, Any]:
    from predictflow_serving.model import FEATURE_REFERENCES, FEATURES

    def ours_body(ids: list[int]) -> dict[str, Any]:
        return {"customer_id": ids[0]} if len(ids) == 1 else {"customer_ids": ids}

    def feast_body(ids: list[int]) -> dict[str, Any]:
        return {"features": list(FEATURE_REFERENCES), "entities": {"customer_id": ids}}

    ours = BentoServer(
        "predictflow_serving.service:ChurnService",
        free_port(),
        stack.process_env(PREDICTFLOW_WORK_DIR=str(stack.directory / "throughput-serve-work")),
        stack.directory / "throughput-ours.log",
    )
    feast = FeastServer(feast_repo(stack, stack.directory / "throughput-feast-work"), free_port(), feast_env(stack), stack.directory / "throughput-feast.log")
    try:
        ours.start()
        feast.start()
        assert ours.pid is not None
        endpoints = [
            Endpoint("ours", ours.port, "/predict", ours_body, (ours.pid,)),
            Endpoint("feast_server", feast.port, "/get-online-features", feast_body, (feast.pid,)),
        ]
        lookup_served = LOOKUP_PATH in served_paths(ours)
        if lookup_served:
            endpoints.insert(1, Endpoint("ours_lookup", ours.port, LOOKUP_PATH, ours_body, (ours.pid,)))
        else:
            print(f"  the churn service serves no {LOOKUP_PATH}: the lookup-only endpoint is left out", flush=True)
        check_agreement(endpoints, random.Random(seed).sample(list(customers), 100), FEATURES)

        results: dict[str, Any] = {}
        for size, budget in BUDGET_MS.items():
            print(f"  {size} entit{'y' if size == 1 else 'ies'} per request, p99 budget {budget:g} ms:", flush=True)
            steps = ramp(endpoints, request_pools(endpoints, size, customers, seed), budget, plan, seed + size)
            best = {name: best_within(series, budget) for name, series in steps.items()}
            peak = {name: max(step.rps for step in series) for name, series in steps.items()}
            ratio = best["ours"] / best["feast_server"] if best["feast_server"] else None
            results[f"entities_{size}"] = {
                "ours_rps": best["ours"],
                "ours_lookup_rps": best.get("ours_lookup"),
                "feast_server_rps": best["feast_server"],
                "ours_over_feast_server": round(ratio, 2) if ratio is not None else None,
                "target_ratio": TARGET_RATIO[size],
                "p99_budget_ms": budget,
                # the highest rps of any step, whatever its p99: the saturation throughput
                "ours_max_rps": peak["ours"],
                "ours_lookup_max_rps": peak.get("ours_lookup"),
                "feast_server_max_rps": peak["feast_server"],
                "ours_over_feast_server_max": round(peak["ours"] / peak["feast_server"], 2),
                "steps": {name: [asdict(step) for step in series] for name, series in steps.items()},
            }
    finally:
        ours.stop()
        feast.stop()
    results["load"] = {
        "client": CLIENT,
        "concurrency": list(plan.concurrency),
        "step_seconds": plan.step_seconds,
        "slices_per_step": plan.slices,
        "warmup_seconds": plan.warmup_seconds,
        "workers_per_server": 1,
        "lookup_endpoint": LOOKUP_PATH if lookup_served else None,
    }
    if plot is not None:
        draw(results, plot)
        results["load"]["plot"] = plot.name
    return results


# ---------------------------------------------------------------------------------------------
# output


def draw(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    figure, axes = plt.subplots(1, len(BUDGET_MS), figsize=(12, 4.8), constrained_layout=True)
    styles = {"ours": ("tab:blue", "o"), "ours_lookup": ("tab:green", "s"), "feast_server": ("tab:red", "^")}
    for axis, (size, budget) in zip(axes, BUDGET_MS.items(), strict=True):
        entry = results[f"entities_{size}"]
        for name, series in entry["steps"].items():
            color, marker = styles[name]
            axis.plot([s["rps"] for s in series], [s["p99_ms"] for s in series], marker=marker, color=color, label=LABELS[name])
            for s in series:
                axis.annotate(str(s["concurrency"]), (s["rps"], s["p99_ms"]), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
        axis.axhline(budget, color="black", linestyle="--", linewidth=1, label=f"p99 budget {budget:g} ms")
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(ScalarFormatter())
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("achieved requests/s")
        axis.set_ylabel("p99 latency (ms)")
        axis.set_title(f"{size} entit{'y' if size == 1 else 'ies'} x 5 features per request")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Closed-loop load, one serving worker each (labels: concurrent clients)")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(results: dict[str, Any]) -> str:
    lines = []
    for size in BUDGET_MS:
        entry = results[f"entities_{size}"]
        lines.append(f"throughput entities_{size} (p99 <= {entry['p99_budget_ms']:g} ms):")
        for name, series in entry["steps"].items():
            lines.append(f"  {name:>12}: " + " | ".join(f"N={s['concurrency']} {s['rps']:.0f} rps p50 {s['p50_ms']:.2f} p99 {s['p99_ms']:.2f}" for s in series))
        lookup = entry["ours_lookup_rps"]
        ratio = entry["ours_over_feast_server"]
        verdict = (
            "no feast step within budget"
            if ratio is None
            else f"{ratio:.2f}x ({'meets' if ratio >= entry['target_ratio'] else 'MISSES'} the {entry['target_ratio']}x target)"
        )
        lines.append(
            f"  best within budget: ours {entry['ours_rps']:.0f} rps, ours lookup "
            f"{'n/a' if lookup is None else f'{lookup:.0f}'} rps, feast server {entry['feast_server_rps']:.0f} rps; ours/feast {verdict}"
        )
        peak_lookup = entry["ours_lookup_max_rps"]
        lines.append(
            f"  saturation (any p99): ours {entry['ours_max_rps']:.0f} rps, ours lookup "
            f"{'n/a' if peak_lookup is None else f'{peak_lookup:.0f}'} rps, feast server {entry['feast_server_max_rps']:.0f} rps; "
            f"ours/feast {entry['ours_over_feast_server_max']:.2f}x"
        )
    return "\n".join(lines)


def ratios_met(results: dict[str, Any]) -> bool:
    return all(
        (entry := results[f"entities_{size}"])["ours_over_feast_server"] is not None and entry["ours_over_feast_server"] >= TARGET_RATIO[size]
        for size in BUDGET_MS
    )
