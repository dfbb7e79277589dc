"""The local feature_store.yaml renderer and how a pod's config is loaded (with Feast's own loader)."""

from pathlib import Path

import pytest
import yaml
from feast.repo_config import RepoConfig

from predictflow_runtime.local_config import render_local_config
from predictflow_runtime.store import StoreConfigError, load_config, private_registry_config, unset_variables

pytestmark = pytest.mark.unit


def test_rendered_config_is_a_valid_feast_config(tmp_path):
    text = render_local_config("churn", "127.0.0.1:6379,ssl=true", tmp_path / "registry.db", key_ttl_seconds=3600)
    raw = yaml.safe_load(text)
    config = RepoConfig(**raw)
    assert config.project == "churn"
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "127.0.0.1:6379,ssl=true"
    assert config.online_store.key_ttl_seconds == 3600
    assert config.entity_key_serialization_version == 3
    assert config.offline_store.type == "file"
    assert config.registry.path == str(tmp_path / "registry.db")


def test_zero_ttl_is_omitted():
    raw = yaml.safe_load(render_local_config("churn", "redis:6379", "/tmp/registry.db"))
    assert "key_ttl_seconds" not in raw["online_store"]


def test_password_reference_is_written_as_a_reference():
    text = render_local_config("churn", "redis:6379,password=${REDIS_PASSWORD}", "/tmp/registry.db")
    assert yaml.safe_load(text)["online_store"]["connection_string"].endswith("password=${REDIS_PASSWORD}")


def test_feast_expands_the_password_from_the_environment(tmp_path, monkeypatch):
    config_file = tmp_path / "feature_store.yaml"
    config_file.write_text(render_local_config("churn", "redis:6379,ssl=true,password=${REDIS_PASSWORD}", "/x.db"))
    monkeypatch.setenv("REDIS_PASSWORD", "from-the-secret")
    config = load_config(config_file, tmp_path, tmp_path / "private.db")
    assert config.online_store.connection_string == "redis:6379,ssl=true,password=from-the-secret"
    assert "from-the-secret" not in config_file.read_text()


def test_unset_variable_is_a_clear_error_not_a_literal_password(tmp_path, monkeypatch):
    config_file = tmp_path / "feature_store.yaml"
    config_file.write_text(render_local_config("churn", "redis:6379,password=${REDIS_PASSWORD}", "/x.db"))
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    with pytest.raises(StoreConfigError, match="REDIS_PASSWORD"):
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
