"""The operator as a real process against a test control plane (so a restart is a real restart)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import processes
from .paths import python_path


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log: Path, *args: str, **env: str) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.args = args
        self.env = env
        self._proc = None

    def start(self) -> "OperatorProcess":
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONPATH": python_path(),
            # Far longer than any test: every step a test waits for is driven by watches.
            "PREDICTFLOW_RESYNC_SECONDS": "600",
            **self.env,
        }
        self._proc = processes.spawn(
            [sys.executable, "-m", "predictflow_operator", "--verbose", *self.args], self.log, tie_to_parent=True, env=env
        )
        return self

    def stop(self) -> None:
        if self._proc is not None:
            processes.terminate([self._proc.pid], grace=10)
            self._proc = None

    def kill(self) -> None:
        """SIGKILL: a replica that dies without a word (a node lost), not one that shuts down."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
