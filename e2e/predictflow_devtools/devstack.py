"""A local serving stack for tests, the benchmark and the local demo.

It does what the operator and the image build do, with local paths: write the example data
and the operator's feature_store.yaml for the store, fill Redis with the materialization job
(`python -m predictflow_runtime.materialize --full`), train the model into a BENTOML_HOME
(`python -m predictflow_serving.model`), and run a service with `bentoml serve` as a process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import predictflow_contract as contract
from predictflow_runtime import datagen

from . import feast_config
from .paths import CHURN_REPO, REPO_ROOT, python_path
from .redis_server import RedisServer


@dataclass(frozen=True)
class LocalStack:
    """The files and environment a serving pod would get from the operator."""

    directory: Path
    env: dict[str, str]

    def process_env(self, **overrides: str) -> dict[str, str]:
        """This process's environment plus the stack's, with the project's sources importable."""
        env = dict(os.environ)
        env.update(self.env)
        env.update(overrides)
        env["PYTHONPATH"] = python_path(env.get("PYTHONPATH", ""))
        return env


def _run(args: list[str], env: Mapping[str, str], what: str, timeout: float = 300) -> None:
    done = subprocess.run(args, env=dict(env), capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def prepare_stack(
    directory: Path,
    server: RedisServer,
    *,
    customers: int = 1000,
    project: str = "churn",
    key_ttl_seconds: int = 0,
) -> LocalStack:
    """Data, feature_store.yaml, a materialized Redis and a trained model, under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data"
    datagen.write(data, customers=customers)
    config = directory / contract.CONFIG_KEY
    config.write_text(feast_config.feature_store_yaml(project, server, key_ttl_seconds))
    env = {
        contract.CONFIG_ENV: str(config),
        contract.FEATURE_REPO_ENV: str(CHURN_REPO),
        contract.OFFLINE_PATH_ENV: str(data),
        **feast_config.credentials_env(server),
        contract.STORE_TYPE_ENV: "redis",
        "BENTOML_HOME": str(directory / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    stack = LocalStack(directory, env)

    job_env = stack.process_env(**{contract.WORK_DIR_ENV: str(directory / "materialize-work")})
    _run([sys.executable, "-m", "predictflow_runtime.materialize", "--full"], job_env, "materialization")
    _run([sys.executable, "-m", "predictflow_serving.model", "--data", str(data)], stack.process_env(), "training")
    return stack


@dataclass
class BentoServer:
    """`bentoml serve <target>` as a process group on a loopback port."""

    target: str
    port: int
    env: dict[str, str]
    log: Path
    _process: Optional[subprocess.Popen] = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> "BentoServer":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "bentoml", "serve", self.target, "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=REPO_ROOT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.target} exited with {self._process.returncode}:\n{self.log_tail()}")
            if self.status(contract.READY_PATH) == 200:
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.target} was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def status(self, path: str, timeout: float = 5) -> Optional[int]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except (urllib.error.URLError, OSError):
            return None

    def log_tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process else None

    def stop(self, grace: float = 15) -> None:
        """SIGTERM to the server's process group (it started it), SIGKILL after `grace`."""
        if self._process is None:
            return
        process, self._process = self._process, None
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # workers that outlived the main process
        except ProcessLookupError:
            pass
        process.wait(timeout=grace)
