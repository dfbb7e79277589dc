"""Print the pinned requirements of one image: `python images/requirements.py IMAGE PYPROJECT`.

The version specifiers come from pyproject.toml (one place for them); each image installs only
the distributions its packages import, so the operator image carries no Feast or BentoML.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_RUNTIME = ("feast", "redis", "hiredis", "mmh3", "numpy", "pyarrow", "pandas", "pyyaml", "boto3")
_SERVING = _RUNTIME + ("bentoml", "prometheus-client")
IMAGE_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "operator": ("kopf", "lightkube", "pydantic", "pyyaml", "boto3", "prometheus-client", "redis", "croniter"),
    "runtime": _RUNTIME,
    "serving": _SERVING,
    # A user's serving image (examples/fraud): BentoML beside the runtime's dependencies, which
    # cover those of the predictflow-serving library wheel; the same set as serving, so it shares
    # serving's wheels.
    "fraud-example": _SERVING,
}


def distribution_name(requirement: str) -> str:
    """The normalised project name of a PEP 508 requirement (`feast[redis]==1` -> `feast`)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def image_requirements(image: str, dependencies: list[str]) -> list[str]:
    wanted = IMAGE_DISTRIBUTIONS[image]
    by_name = {distribution_name(dependency): dependency for dependency in dependencies}
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise KeyError(f"pyproject.toml has no dependency named {', '.join(missing)}")
    return [by_name[name] for name in wanted]


def main(argv: list[str]) -> int:
    image, pyproject = argv
    dependencies = tomllib.loads(Path(pyproject).read_text())["project"]["dependencies"]
    print("\n".join(image_requirements(image, dependencies)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
