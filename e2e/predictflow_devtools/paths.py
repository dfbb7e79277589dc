"""Where the checkout keeps what the tools run: sources, the example repo, the CRDs."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHURN_REPO = REPO_ROOT / "feature_repo" / "churn"
# The folders that make the project importable without installing it (pyproject's pytest pythonpath).
SOURCE_PATHS = [REPO_ROOT / folder for folder in ("contract", "operator", "serving", "feature_repo", "e2e")]


def python_path(environ_path: str = "") -> str:
    """PYTHONPATH for a child process: the project's sources first, then what was already set."""
    paths = [str(path) for path in SOURCE_PATHS] + [p for p in environ_path.split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(paths))
