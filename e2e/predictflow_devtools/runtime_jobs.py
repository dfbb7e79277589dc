"""The runtime's materialization run as a process, configured as the operator configures its Jobs:
the rendered feature_store.yaml, the churn repo, an offline store, and one Redis user's credentials."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from .paths import CHURN_REPO, python_path


def role_env(target: Any, role: str, passwords_by_user: dict[str, str]) -> dict[str, str]:
    """REDIS_USERNAME and REDIS_PASSWORD of the user a client role of `target` (a StoreTarget) authenticates as."""
    credential = target.credential(role)
    return {"REDIS_USERNAME": credential.username, "REDIS_PASSWORD": passwords_by_user[credential.username]}


def materialize(config: Path, offline: Path, work_root: Path, credentials: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": python_path(),
        "PREDICTFLOW_WORK_DIR": str(work_root / f"job-{uuid.uuid4().hex[:6]}"),
        "PREDICTFLOW_FEAST_CONFIG": str(config),
        "PREDICTFLOW_FEATURE_REPO": str(CHURN_REPO),
        "PREDICTFLOW_OFFLINE_PATH": str(offline),
        **credentials,
    }
    return subprocess.run([sys.executable, "-m", "predictflow_runtime.materialize", *args], env=env, capture_output=True, text=True, timeout=240)
