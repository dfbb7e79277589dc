"""Build the project's wheel from a staged copy of its sources and check that it is complete.

`python images/project_wheel.py REPO_ROOT STAGE_DIR WHEEL_DIR SOURCE...` (SOURCEs: files and
folders relative to REPO_ROOT, pyproject.toml among them)

When pyproject.toml lists the packages explicitly, setuptools takes only those, not their
subpackages (api, builders, clients, ...). The staged copy gets the full list, found in the
sources, and the wheel is checked to hold every package, so an image never ships half a package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path


def package_dirs(root: Path, config: dict) -> dict[str, Path]:
    """Every package and subpackage an explicit `packages` list points at: {dotted name: folder}.

    Empty when setuptools finds the packages itself (`packages.find`), which includes subpackages."""
    setuptools = config["tool"]["setuptools"]
    found: dict[str, Path] = {}
    if not isinstance(setuptools.get("packages"), list):
        return found
    for top in setuptools["packages"]:
        folder = root / setuptools.get("package-dir", {}).get(top, top)
        for init in sorted(folder.rglob("__init__.py")):
            relative = init.parent.relative_to(folder)
            found[".".join((top, *relative.parts))] = init.parent
    return found


def with_package_list(pyproject: str, packages: list[str]) -> str:
    listed = ", ".join(f'"{name}"' for name in packages)
    completed, count = re.subn(r"(?m)^packages\s*=\s*\[[^\]]*\]", f"packages = [{listed}]", pyproject)
    if count != 1:
        raise ValueError("pyproject.toml: expected one `packages = [...]` line under [tool.setuptools]")
    return completed


def wheel_packages(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {str(Path(name).parent).replace("/", ".") for name in archive.namelist() if name.endswith("/__init__.py")}


def stage(root: Path, stage_dir: Path, sources: list[str], packages: dict[str, Path]) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in sources:
        source, target = root / name, stage_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    if packages:
        pyproject = stage_dir / "pyproject.toml"
        pyproject.write_text(with_package_list(pyproject.read_text(), sorted(packages)))


def main(argv: list[str]) -> int:
    root, stage_dir, wheel_dir, *sources = argv
    root, stage_dir, wheel_dir = Path(root), Path(stage_dir), Path(wheel_dir)
    packages = package_dirs(root, tomllib.loads((root / "pyproject.toml").read_text()))
    stage(root, stage_dir, sources, packages)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheel_dir), str(stage_dir)],
        check=True, stdout=sys.stderr,
    )
    [wheel] = wheel_dir.glob("*.whl")
    missing = set(packages) - wheel_packages(wheel)
    if missing:
        print(f"project_wheel: {wheel.name} lacks {', '.join(sorted(missing))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
