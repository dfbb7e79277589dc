import pytest
import yaml
from pydantic import ValidationError

from predictflow_operator.api import crd
from predictflow_operator.api.models import FeatureStoreSpec, parse_spec
from predictflow_devtools.pytest_plugin import REPO_ROOT

pytestmark = pytest.mark.unit
CRD_FILE = REPO_ROOT / "crds" / "predictflow.io_featurestores.yaml"


def test_the_committed_crd_is_what_the_models_render():
    assert CRD_FILE.read_text() == crd.render(), "crds/ drifted from the API models: run `make crds`"


def _walk(schema, path=""):
    yield path, schema
    for name, prop in (schema.get("properties") or {}).items():
        yield from _walk(prop, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")


def test_every_spec_field_has_a_description():
    spec = yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    missing = [path for path, node in _walk(spec) if path and not path.endswith("[]") and not node.get("description")]
    assert missing == []


def test_schema_defaults_equal_model_defaults():
    """The API server and the operator agree on every default."""
    spec = yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]

    def defaulted(schema):
        out = {}
        for name, prop in schema.get("properties", {}).items():
            if prop.get("type") == "object" and "properties" in prop:
                out[name] = defaulted(prop)
            elif "default" in prop:
                out[name] = prop["default"]
        return out

    from_schema = defaulted(spec)
    from_models = FeatureStoreSpec(project="churn").model_dump(by_alias=True)
    from_models.pop("project")

    def only_schema_keys(model, schema):
        return {k: only_schema_keys(model[k], v) if isinstance(v, dict) else model[k] for k, v in schema.items()}

    assert only_schema_keys(from_models, from_schema) == from_schema


def test_the_design_api_names_are_used():
    spec = parse_spec({"project": "churn", "onlineStore": {"type": "elasticache", "keyTTLSeconds": 60, "elasticache": {"mode": "existing", "endpoint": "h:6379", "authSecretRef": {"name": "s", "key": "k"}, "deletionPolicy": "Delete"}}, "serving": {"livenessChecksRedis": False, "onStoreDown": "unavailable"}})
    assert spec.online_store.key_ttl_seconds == 60
    assert spec.online_store.elasticache.auth_secret_ref.name == "s"
    assert spec.serving.on_store_down == "unavailable" and spec.serving.liveness_checks_redis is False


def test_unknown_fields_are_rejected_by_the_models_too():
    with pytest.raises(ValidationError):
        parse_spec({"project": "churn", "onlineStore": {"tpye": "redis"}})
