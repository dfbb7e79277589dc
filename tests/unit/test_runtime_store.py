"""Opening a pod's FeatureStore: a private registry derived from the definitions, online data untouched."""

import os
import shutil
from pathlib import Path

import pytest

import predictflow_contract as contract
import yaml

from predictflow_runtime.store import REGISTRY_FILE, StoreConfigError, open_store
from predictflow_devtools.paths import CHURN_REPO

pytestmark = pytest.mark.unit

# Nothing listens on port 1: any attempt to reach the online store fails at once.
UNREACHABLE_REDIS = "127.0.0.1:1,socket_connect_timeout=1"


def _config(tmp_path: Path, registry: str = contract.REGISTRY_PATH, project: str = "churn") -> Path:
    """The operator's config, its registry pointed at `registry` (a path any pod could share)."""
    config = contract.feature_store_config(project, UNREACHABLE_REDIS)
    config["registry"]["path"] = registry
    path = tmp_path / "feature_store.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _configmap_volume(root: Path, files: dict[str, str]) -> Path:
    """The layout kubelet gives a ConfigMap volume: ..<timestamp>/ files, ..data -> it, name -> ..data/name."""
    volume = root / "configmap"
    snapshot = volume / "..2026_11_26_12_00_00.000000001"
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    (volume / "..data").symlink_to(snapshot.name)
    for name in files:
        (volume / name).symlink_to(Path("..data") / name)
    return volume


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_registry_is_derived_without_reaching_the_online_store(tmp_path, monkeypatch):
    monkeypatch.setenv("PREDICTFLOW_OFFLINE_PATH", str(tmp_path / "offline"))
    store = open_store(_config(tmp_path), CHURN_REPO, tmp_path / "work")
    view = store.get_feature_view("churn_features")
    assert [f.name for f in view.features] == [
        "tenure_months", "monthly_charges", "total_charges", "contract_type", "support_tickets_90d"
    ]
    assert [c.name for c in view.entity_columns] == ["customer_id"]
    assert store.get_entity("customer").join_key == "customer_id"
    assert view.batch_source.path == f"{tmp_path / 'offline'}/churn_features.parquet"


def test_registry_is_private_and_the_definitions_dir_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("PREDICTFLOW_OFFLINE_PATH", str(tmp_path / "offline"))
    definitions = tmp_path / "definitions"
    shutil.copytree(CHURN_REPO, definitions, ignore=shutil.ignore_patterns("data", "__pycache__"))
    before = _listing(definitions)
    shared = tmp_path / "shared-registry.db"
    store = open_store(_config(tmp_path, registry=str(shared)), definitions, tmp_path / "work")
    assert store.config.registry.path == str(tmp_path / "work" / REGISTRY_FILE)
    assert (tmp_path / "work" / REGISTRY_FILE).is_file()
    assert not shared.exists()
    assert _listing(definitions) == before


def test_configmap_volume_definitions_load(tmp_path, monkeypatch):
    monkeypatch.setenv("PREDICTFLOW_OFFLINE_PATH", str(tmp_path / "offline"))
    volume = _configmap_volume(tmp_path, {"definitions.py": (CHURN_REPO / "definitions.py").read_text()})
    store = open_store(_config(tmp_path), volume, tmp_path / "work")
    assert [v.name for v in store.list_feature_views()] == ["churn_features"]


def test_each_open_derives_the_registry_afresh(tmp_path, monkeypatch):
    """A reused work dir (a restarted container keeps its emptyDir) never keeps removed views."""
    monkeypatch.setenv("PREDICTFLOW_OFFLINE_PATH", str(tmp_path / "offline"))
    first = _configmap_volume(tmp_path / "a", {"definitions.py": (CHURN_REPO / "definitions.py").read_text()})
    open_store(_config(tmp_path), first, tmp_path / "work")
    only_entity = (
        "from feast import Entity\nfrom feast.value_type import ValueType\n"
        "customer = Entity(name='customer', join_keys=['customer_id'], value_type=ValueType.INT64)\n"
    )
    second = _configmap_volume(tmp_path / "b", {"definitions.py": only_entity})
    store = open_store(_config(tmp_path), second, tmp_path / "work")
    assert store.list_feature_views() == []


def test_definitions_are_reimported_for_each_store(tmp_path, monkeypatch):
    monkeypatch.setenv("PREDICTFLOW_OFFLINE_PATH", "/data/one")
    one = open_store(_config(tmp_path), CHURN_REPO, tmp_path / "one")
    monkeypatch.setenv("PREDICTFLOW_OFFLINE_PATH", "/data/two")
    two = open_store(_config(tmp_path), CHURN_REPO, tmp_path / "two")
    assert one.get_feature_view("churn_features").batch_source.path.startswith("/data/one/")
    assert two.get_feature_view("churn_features").batch_source.path.startswith("/data/two/")


def test_default_offline_path_follows_the_repo_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("PREDICTFLOW_OFFLINE_PATH", raising=False)
    definitions = tmp_path / "definitions"
    (definitions / "data").mkdir(parents=True)
    shutil.copy(CHURN_REPO / "definitions.py", definitions)
    (definitions / "data" / "churn_features.parquet").write_bytes(b"placeholder")
    store = open_store(_config(tmp_path), definitions, tmp_path / "work")
    path = Path(store.get_feature_view("churn_features").batch_source.path)
    assert path.read_bytes() == b"placeholder"


def test_environment_selects_config_and_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("PREDICTFLOW_FEAST_CONFIG", str(_config(tmp_path)))
    monkeypatch.setenv("PREDICTFLOW_FEATURE_REPO", str(CHURN_REPO))
    monkeypatch.setenv("PREDICTFLOW_WORK_DIR", str(tmp_path / "work"))
    store = open_store()
    assert store.project == "churn"
    assert Path(store.config.registry.path).parent == tmp_path / "work"


def test_project_mismatch_is_refused(tmp_path):
    fraud = "from feast import Project\nproject = Project(name='fraud')\n"
    repo = _configmap_volume(tmp_path, {"definitions.py": fraud})
    with pytest.raises(StoreConfigError, match="fraud"):
        open_store(_config(tmp_path), repo, tmp_path / "work")


def test_missing_paths_are_clear_errors(tmp_path):
    with pytest.raises(StoreConfigError, match="PREDICTFLOW_FEATURE_REPO"):
        open_store(_config(tmp_path), tmp_path / "nowhere", tmp_path / "work")
    with pytest.raises(StoreConfigError, match="PREDICTFLOW_FEAST_CONFIG"):
        open_store(tmp_path / "none.yaml", CHURN_REPO, tmp_path / "work")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreConfigError, match="no Python definitions"):
        open_store(_config(tmp_path), empty, tmp_path / "work")


def test_cwd_and_sys_path_are_restored(tmp_path, monkeypatch):
    import sys

    monkeypatch.setenv("PREDICTFLOW_OFFLINE_PATH", str(tmp_path))
    cwd, path = os.getcwd(), list(sys.path)
    open_store(_config(tmp_path), CHURN_REPO, tmp_path / "work")
    assert os.getcwd() == cwd and sys.path == path
    assert "definitions" not in sys.modules
