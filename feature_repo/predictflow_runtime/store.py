"""Open a Feast FeatureStore inside a pod, with a registry derived from the repo's definitions.

The operator mounts the rendered feature_store.yaml ($PREDICTFLOW_FEAST_CONFIG) and the repo
definitions ($PREDICTFLOW_FEATURE_REPO, possibly read-only, possibly a ConfigMap volume).
`open_store()` copies the definitions into a private working repo, loads the yaml with
Feast's own loader (which expands ${VAR} references such as ${REDIS_PASSWORD} from the
environment), and registers the definitions into a fresh file registry in that working repo.

No registry is shared between processes: each one derives its own, so Feast's
materialization state gate on a shared registry (feast-dev/feast#6780) never applies, and
the registry path named in the yaml is replaced by a file private to the process.

Registering uses `FeatureStore.apply(..., partial=True)`. Its only online-store effect is
`OnlineStore.update(tables_to_delete=[])`, which for Redis deletes nothing and opens no
connection, so a pod can derive its registry while Redis is down and never touches data.
`FeatureStore.teardown()` and `apply(partial=False)` would delete online data; neither is used.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from feast import FeatureStore, Project
from feast.repo_config import RepoConfig, load_repo_config
from feast.repo_contents import RepoContents
from feast.repo_operations import get_repo_files, parse_repo

import predictflow_contract as contract

DEFAULT_CONFIG = Path(contract.CONFIG_MOUNT_DIR) / contract.CONFIG_KEY
REGISTRY_FILE = "registry.db"
DEFINITIONS_DIR = "repo"
FEASTIGNORE = ".feastignore"

_VARIABLE_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# parse_repo imports modules relative to the working directory, a process-wide setting.
_IMPORT_LOCK = threading.Lock()


class StoreConfigError(RuntimeError):
    """The rendered feature_store.yaml or the repo definitions cannot be used."""


def config_path_from_env() -> Path:
    return Path(os.environ.get(contract.CONFIG_ENV) or DEFAULT_CONFIG)


def repo_path_from_env() -> Path:
    return Path(os.environ.get(contract.FEATURE_REPO_ENV) or contract.DEFAULT_FEATURE_REPO)


def unset_variables(config_text: str, environ: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """`${NAME}` references Feast would leave unexpanded because NAME is not set."""
    names = dict.fromkeys(_VARIABLE_REFERENCE.findall(config_text))
    # ${NAME_AS_JSON} is derived from NAME (export_json_escaped): NAME is what must be set
    return [name for name in names if name.removesuffix(contract.AS_JSON_SUFFIX) not in environ]


def export_json_escaped(config_text: str, environ: dict[str, str] | os._Environ = os.environ) -> None:
    """Set every ${NAME_AS_JSON} the yaml references from NAME. Feast expands ${VAR} in the yaml
    text, splits the connection string on commas and json-decodes each value: a JSON string of
    letters, digits and \\u escapes can end neither the value nor the YAML scalar."""
    for name in dict.fromkeys(_VARIABLE_REFERENCE.findall(config_text)):
        base = name.removesuffix(contract.AS_JSON_SUFFIX)
        if name != base and base in environ:
            environ[name] = contract.json_escaped(environ[base])


def private_registry_config(registry: Any, registry_path: Path) -> dict[str, Any]:
    """The yaml's registry settings, pointed at a file registry only this process writes."""
    settings = dict(registry) if isinstance(registry, dict) else {}
    registry_type = settings.get("registry_type", "file")
    if registry_type != "file":
        raise StoreConfigError(f"registry_type {registry_type!r} is not supported: each pod derives a file registry")
    settings.pop("registry_store_type", None)
    settings.update(registry_type="file", path=str(registry_path))
    return settings


def load_config(config_path: Path, repo_path: Path, registry_path: Path) -> RepoConfig:
    """Feast's loader (with ${VAR} expansion), then the registry moved to `registry_path`."""
    if not config_path.is_file():
        raise StoreConfigError(f"feature_store.yaml not found at {config_path} (set {contract.CONFIG_ENV})")
    text = config_path.read_text()
    missing = unset_variables(text)
    if missing:
        names = ", ".join(missing)
        raise StoreConfigError(f"{config_path} references environment variables that are not set: {names}")
    export_json_escaped(text)
    config = load_repo_config(repo_path, config_path)
    config.registry_config = private_registry_config(config.registry_config, registry_path)
    return config


def _skip_hidden(directory: str, names: list[str]) -> set[str]:
    """Drop hidden entries (a ConfigMap volume's ..data and ..<timestamp> copies) and bytecode."""
    return {name for name in names if (name.startswith(".") and name != FEASTIGNORE) or name == "__pycache__"}


def _copy_source_link_rest(source: str, destination: str) -> None:
    """Definitions are copied (a consistent snapshot); data files stay where they are, linked."""
    if source.endswith(".py") or Path(source).name == FEASTIGNORE:
        shutil.copy2(source, destination)
    else:
        os.symlink(os.path.abspath(source), destination)


def copy_definitions(source: Path, destination: Path) -> Path:
    """Snapshot the repo into a clean, writable directory that Feast can import from.

    A ConfigMap volume holds each file twice (a symlink and a hidden ..<timestamp> copy);
    Feast would import the hidden one under an impossible module name. Other files (e.g.
    a data/ folder) are linked, so paths relative to the repo keep working.
    """
    if not source.is_dir():
        raise StoreConfigError(f"feature repo not found at {source} (set {contract.FEATURE_REPO_ENV})")
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination, ignore=_skip_hidden, copy_function=_copy_source_link_rest)
    if not get_repo_files(destination):
        raise StoreConfigError(f"feature repo {source} holds no Python definitions")
    return destination


def _module_name(repo_root: Path, path: Path) -> str:
    return ".".join(path.relative_to(repo_root).with_suffix("").parts)


@contextmanager
def _importable_from(repo_root: Path) -> Iterator[None]:
    """Import the repo's modules fresh, then forget them, restoring whatever they shadowed."""
    repo_root = repo_root.resolve()
    shadowed_names = {_module_name(repo_root, path).split(".")[0] for path in get_repo_files(repo_root)}
    with _IMPORT_LOCK:
        stashed = {name: module for name, module in sys.modules.items() if name.split(".")[0] in shadowed_names}
        for name in stashed:
            del sys.modules[name]
        before = set(sys.modules)
        previous_cwd = os.getcwd()
        sys.path.insert(0, str(repo_root))
        os.chdir(repo_root)
        try:
            yield
        finally:
            os.chdir(previous_cwd)
            sys.path.remove(str(repo_root))
            for name in set(sys.modules) - before:
                module_file = getattr(sys.modules[name], "__file__", None) or ""
                if module_file.startswith(str(repo_root) + os.sep):
                    del sys.modules[name]
            sys.modules.update(stashed)


def read_definitions(repo_root: Path) -> RepoContents:
    with _importable_from(repo_root):
        return parse_repo(repo_root.resolve())


def definition_objects(contents: RepoContents, project: str) -> list[Any]:
    """Every Feast object of the repo, with the project of feature_store.yaml."""
    projects = list(contents.projects)
    if len(projects) > 1 or any(p.name != project for p in projects):
        names = ", ".join(p.name for p in projects)
        raise StoreConfigError(f"the repo defines project(s) {names}; feature_store.yaml says {project!r}")
    return [
        *(projects or [Project(name=project)]),
        *contents.data_sources,
        *contents.entities,
        *contents.feature_views,
        *contents.on_demand_feature_views,
        *contents.stream_feature_views,
        *contents.label_views,
        *contents.feature_services,
        *contents.permissions,
    ]


def derive_registry(store: FeatureStore, repo_root: Path) -> None:
    """Register the definitions into the store's (private, fresh) registry, leaving online data alone."""
    objects = definition_objects(read_definitions(repo_root), store.config.project)
    store.apply(objects, partial=True)


def _make_work_dir(work_dir: Path | str | None) -> Path:
    chosen = work_dir or os.environ.get(contract.WORK_DIR_ENV)
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="predictflow-feast-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def open_store(
    config_path: Path | str | None = None,
    repo_path: Path | str | None = None,
    work_dir: Path | str | None = None,
) -> FeatureStore:
    """A FeatureStore for this process: the pod's config, a registry derived from the definitions.

    Arguments default to $PREDICTFLOW_FEAST_CONFIG, $PREDICTFLOW_FEATURE_REPO and
    $PREDICTFLOW_WORK_DIR (else a fresh directory under the system temp dir, removed at exit).
    """
    work = _make_work_dir(work_dir)
    definitions = copy_definitions(Path(repo_path) if repo_path else repo_path_from_env(), work / DEFINITIONS_DIR)
    registry_file = work / REGISTRY_FILE
    registry_file.unlink(missing_ok=True)  # derived from the definitions alone, never from a previous run
    config = load_config(Path(config_path) if config_path else config_path_from_env(), definitions, registry_file)
    store = FeatureStore(repo_path=str(definitions), config=config)
    derive_registry(store, definitions)
    return store
