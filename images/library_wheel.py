"""Build the `predictflow-serving` library wheel: FeatureClient for a user's own serving image.

    python images/library_wheel.py [OUT_DIR]

Prints the path of the wheel (a copy in OUT_DIR when given). The wheel is built once per state
of its sources into $PREDICTFLOW_CACHE/library/<key>/ (default ~/.cache/predictflow) and reused.

It holds predictflow_serving and the two packages it imports, predictflow_contract and
predictflow_runtime, at the root project's version. Its dependencies are only what those
packages import (Feast with Redis, redis, hiredis, numpy, pandas, pyarrow, prometheus-client, PyYAML,
protobuf), with the root project's pins: no operator libraries, no BentoML (a user brings the
server; the example churn service in predictflow_serving.service needs BentoML installed).
Every import of the shipped modules is checked against that list before the wheel is kept.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "predictflow-serving"
PACKAGES = {
    "predictflow_serving": ROOT / "serving" / "predictflow_serving",
    "predictflow_contract": ROOT / "contract" / "predictflow_contract",
    "predictflow_runtime": ROOT / "feature_repo" / "predictflow_runtime",
}
README = ROOT / "docs" / "serving-contract.md"
# Top-level import name -> the distribution that provides it.
DEPENDENCIES = {
    "feast": "feast[redis]",
    "redis": "redis",
    "hiredis": "hiredis",
    "numpy": "numpy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "prometheus_client": "prometheus-client",
    "yaml": "pyyaml",
    "google": "protobuf",
}
# Imports the user brings with their server: only the example churn service's modules use them.
BROUGHT_BY_THE_USER = {"bentoml": {"predictflow_serving/service.py", "predictflow_serving/model.py"}}


def cache_root() -> Path:
    return Path(os.environ.get("PREDICTFLOW_CACHE") or Path.home() / ".cache" / "predictflow") / "library"


def source_files() -> dict[str, Path]:
    """{path inside the wheel's source tree: file}, bytecode left out."""
    files = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[f"{package}/{path.relative_to(folder).as_posix()}"] = path
    return files


def sources_key(files: dict[str, Path]) -> str:
    digest = hashlib.sha256()
    for name, path in [("build", Path(__file__)), ("pyproject.toml", ROOT / "pyproject.toml"), ("README.md", README), *sorted(files.items())]:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def pinned_dependencies(root_project: dict) -> list[str]:
    """The library's dependencies, each with the root project's specifier when it has one."""
    declared = {requirement_name(spec): spec for spec in root_project.get("dependencies", [])}
    chosen = []
    for wanted in dict.fromkeys(DEPENDENCIES.values()):
        spec = declared.get(requirement_name(wanted), wanted)
        if "[" in wanted and "[" not in spec:
            spec = wanted + spec[len(requirement_name(wanted)) :]
        chosen.append(spec)
    return chosen


def unexplained_imports(files: dict[str, Path]) -> list[str]:
    """Third-party imports of the shipped modules that no dependency provides."""
    problems = []
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                if top in sys.stdlib_module_names or top in PACKAGES or top in DEPENDENCIES:
                    continue
                if name in BROUGHT_BY_THE_USER.get(top, set()):
                    continue
                problems.append(f"{name} imports {top}")
    return problems


def pyproject_text(version: str, dependencies: list[str]) -> str:
    quoted = ", ".join(json.dumps(spec) for spec in dependencies)
    packages = sorted({name.rsplit("/", 1)[0].replace("/", ".") for name in source_files() if name.endswith("/__init__.py")})
    return "\n".join(
        [
            "[project]",
            f"name = {json.dumps(DISTRIBUTION)}",
            f"version = {json.dumps(version)}",
            'description = "Feast online features from Redis for your own serving image, with the PredictFlow operator\'s outage behaviour"',
            'requires-python = ">=3.11"',
            'readme = "README.md"',
            'license = { text = "Apache-2.0" }',
            f"dependencies = [{quoted}]",
            "",
            "[build-system]",
            'requires = ["setuptools>=69"]',
            'build-backend = "setuptools.build_meta"',
            "",
            "[tool.setuptools]",
            f"packages = [{', '.join(json.dumps(p) for p in packages)}]",
            "",
        ]
    )


def wheel_modules(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if name.endswith(".py")}


def build(target: Path, files: dict[str, Path]) -> Path:
    root_project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    problems = unexplained_imports(files)
    if problems:
        raise SystemExit("library_wheel: imports no dependency provides: " + "; ".join(problems))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="library-stage-", dir=target.parent) as stage_name:
        stage = Path(stage_name)
        for name, path in files.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, stage / name)
        shutil.copy2(README, stage / "README.md")
        (stage / "pyproject.toml").write_text(pyproject_text(root_project["version"], pinned_dependencies(root_project)))
        partial = stage / "wheel"
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(partial), str(stage)],
            check=True,
            stdout=sys.stderr,
        )
        [wheel] = partial.glob("*.whl")
        missing = set(files) - wheel_modules(wheel)
        if missing:
            raise SystemExit(f"library_wheel: {wheel.name} lacks {', '.join(sorted(missing))}")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    [built] = target.glob("*.whl")
    return built


def library_wheel() -> Path:
    """The cached wheel for the current sources, built when there is none."""
    files = source_files()
    directory = cache_root() / sources_key(files)
    existing = sorted(directory.glob("*.whl"))
    if existing:
        return existing[0]
    print(f"library_wheel: building {DISTRIBUTION} into {directory}", file=sys.stderr)
    return build(directory, files)


def main(argv: list[str]) -> int:
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    wheel = library_wheel()
    if argv:
        out = Path(argv[0])
        out.mkdir(parents=True, exist_ok=True)
        wheel = Path(shutil.copy2(wheel, out / wheel.name))
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
