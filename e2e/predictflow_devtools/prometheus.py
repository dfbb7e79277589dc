"""A real Prometheus server (Debian's `prometheus` package) on loopback, scraping static targets.

The tests start it with the targets they run, wait for a scrape after their traffic, and ask
PromQL questions through its HTTP API, as a person on call would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import processes

SCRAPE_INTERVAL_S = 1


def binary() -> str:
    found = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(found).exists():
        raise RuntimeError("prometheus is not installed: `make deps` installs Debian's prometheus package")
    return found


def redis_exporter_binary() -> str:
    found = shutil.which("prometheus-redis-exporter") or "/usr/bin/prometheus-redis-exporter"
    if not Path(found).exists():
        raise RuntimeError("prometheus-redis-exporter is not installed: `make deps` installs Debian's package")
    return found


@dataclass
class Prometheus:
    directory: Path
    targets: dict[str, str]  # job -> host:port (scraped at /metrics)
    port: int = field(default_factory=processes.free_port)
    _process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "scrape_timeout": f"{SCRAPE_INTERVAL_S}s"},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in self.targets.items()],
        }
        (self.directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        args = [
            binary(),
            f"--config.file={self.directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self._process = processes.spawn(args, self.directory / "prometheus.log", tie_to_parent=True)
        processes.wait_until(lambda: self._get("/-/ready") is not None, timeout=60, what="prometheus", logs=[self.log])
        return self

    @property
    def log(self) -> Path:
        return self.directory / "prometheus.log"

    def stop(self) -> None:
        if self._process is not None:
            processes.terminate([self._process.pid], grace=10)
            self._process = None

    def _get(self, path: str) -> bytes | None:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return response.read()

    def query(self, promql: str) -> list[dict]:
        """The instant vector PromQL returns now (the API's `result`)."""
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        answer = json.loads(body or b"{}")
        if answer.get("status") != "success":
            raise RuntimeError(f"{promql}: {answer}")
        return answer["data"]["result"]

    def scalar(self, promql: str) -> float | None:
        """The one value a query returns, or None when it returns nothing."""
        result = self.query(promql)
        if not result:
            return None
        if len(result) > 1:
            raise AssertionError(f"{promql} returned {len(result)} series: {result}")
        return float(result[0]["value"][1])

    def targets_up(self) -> dict[str, bool]:
        answer = json.loads(self._get("/api/v1/targets") or b"{}")
        return {t["labels"]["job"]: t["health"] == "up" for t in answer["data"]["activeTargets"]}

    def wait_for(self, promql: str, expected, timeout: float = 30) -> float | None:  # noqa: ANN001
        """Poll until the query's value satisfies `expected` (a value or a predicate); returns the last value."""
        check = expected if callable(expected) else (lambda value: value == expected)
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.scalar(promql)
            if value is not None and check(value):
                return value
            time.sleep(0.5)
        raise AssertionError(f"{promql} = {value} after {timeout:.0f} s, expected {expected}\n{processes.tails([self.log], 15)}")
