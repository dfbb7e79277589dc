"""The one feature_store.yaml (predictflow_contract) as the runtime loads it, with Feast's own loader."""

from pathlib import Path

import pytest
import yaml
from feast.repo_config import RepoConfig

import predictflow_contract as contract
from predictflow_runtime.store import StoreConfigError, load_config, private_registry_config, unset_variables

pytestmark = pytest.mark.unit


def _write(tmp_path: Path, connection: str, key_ttl_seconds: int = 0) -> Path:
    path = tmp_path / "feature_store.yaml"
    path.write_text(contract.render_feature_store_yaml("churn", connection, key_ttl_seconds))
    return path


def test_rendered_config_is_a_valid_feast_config():
    connection = contract.connection_string("127.0.0.1:6379", tls=True, password_env=None)
    config = RepoConfig(**yaml.safe_load(contract.render_feature_store_yaml("churn", connection, 3600)))
    assert config.project == "churn"
    assert config.online_store.type == contract.FEAST_ONLINE_STORE_TYPE
    assert config.online_store.connection_string == "127.0.0.1:6379,ssl=true"
    assert config.online_store.key_ttl_seconds == 3600
    assert config.entity_key_serialization_version == 3
    assert config.offline_store.type == "file"
    assert config.registry.path == contract.REGISTRY_PATH
    assert config.registry.cache_ttl_seconds == 0  # a pod's registry never changes under it


def test_zero_ttl_is_omitted():
    raw = yaml.safe_load(contract.render_feature_store_yaml("churn", "redis:6379"))
    assert "key_ttl_seconds" not in raw["online_store"]


def test_credentials_are_references_never_values():
    connection = contract.connection_string("redis:6379", tls=True, ca_dir="/ca", username_env="WHO")
    assert connection == "redis:6379,ssl=true,ssl_ca_certs=/ca/ca.crt,username=${WHO},password=${REDIS_PASSWORD_AS_JSON}"


def test_unset_password_is_a_clear_error_not_a_literal_password(tmp_path, monkeypatch):
    config_file = _write(tmp_path, contract.connection_string("redis:6379"))
    monkeypatch.delenv(contract.REDIS_PASSWORD_ENV, raising=False)
    with pytest.raises(StoreConfigError, match=contract.REDIS_PASSWORD_ENV):
        load_config(config_file, tmp_path, tmp_path / "private.db")


def test_unset_variables_lists_each_missing_name_once():
    text = "a: ${ONE}\nb: ${TWO}\nc: ${ONE}\nd: $NOT_BRACED"
    assert unset_variables(text, {"TWO": "x"}) == ["ONE"]


def test_registry_moves_to_a_private_file_keeping_its_settings(tmp_path):
    settings = private_registry_config({"path": "/tmp/shared.db", "cache_ttl_seconds": 5}, tmp_path / "own.db")
    assert settings == {"path": str(tmp_path / "own.db"), "cache_ttl_seconds": 5, "registry_type": "file"}
    assert private_registry_config("/tmp/shared.db", Path("/tmp/own.db"))["path"] == "/tmp/own.db"


def test_shared_registry_types_are_refused(tmp_path):
    with pytest.raises(StoreConfigError, match="sql"):
        private_registry_config({"registry_type": "sql", "path": "postgresql://db"}, tmp_path / "own.db")
