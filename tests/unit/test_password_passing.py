"""A password reaches redis-py exactly as the Secret holds it, through the yaml the operator renders
and Feast's own loader: no character of it can rewrite the connection string or the YAML."""

import pytest

from predictflow_operator.api.models import parse_spec
from predictflow_operator.builders.feast_config import feature_store_yaml
from predictflow_operator.builders.store import Credential, SecretKey, StoreTarget
from predictflow_runtime.connection import redis_kwargs
from predictflow_runtime.store import load_config

pytestmark = pytest.mark.unit

HOSTILE = [
    "x,ssl=false",  # would turn TLS off
    "a: b #comment\nnext: line",  # YAML structure
    "null",
    "1e5",
    "true",
    "\"quoted\" 'single' \\back",
    "$HOME ${REDIS_PASSWORD} %s",
    "émoji 🔑 tab\tend",
    "=,=,,password=other",
]


@pytest.mark.parametrize("password", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_password_arrives_intact_and_tls_stays_on(tmp_path, monkeypatch, password):
    token = Credential("", SecretKey("auth", "token"))
    target = StoreTarget("elasticache", "cache.example:6379", token, token, tls=True)
    config_file = tmp_path / "feature_store.yaml"
    config_file.write_text(feature_store_yaml(parse_spec({"project": "churn"}), target))
    monkeypatch.setenv("REDIS_PASSWORD", password)

    config = load_config(config_file, tmp_path, tmp_path / "registry.db")
    kwargs = redis_kwargs(config.online_store.connection_string)

    assert kwargs["password"] == password
    assert kwargs["ssl"] is True
    assert (kwargs["host"], kwargs["port"]) == ("cache.example", 6379)
