"""Renders the FeatureStore CustomResourceDefinition from the API models.

`python -m predictflow_operator.api.crd` prints the CRD YAML that crds/ holds.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pydantic import BaseModel

from .. import GROUP, KIND, PLURAL, VERSION
from .models import FeatureStoreSpec, FeatureStoreStatus, StoreMemory, StoreShard

_DROPPED_KEYS = {"title"}
MAX_NAME = 63

PRINTER_COLUMNS = [
    {"name": "Type", "type": "string", "jsonPath": ".status.onlineStore.type", "description": "Online store serving traffic"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Endpoint", "type": "string", "jsonPath": ".status.onlineStore.endpoint"},
    {"name": "Freshness", "type": "date", "jsonPath": ".status.freshness.oldestWatermark", "description": "Age of the oldest feature view's watermark"},
    {"name": "Last-Materialized", "type": "date", "jsonPath": ".status.lastMaterialization.end"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs and turn pydantic's JSON Schema into a Kubernetes structural schema."""
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _structural(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return {**target, **_structural(extra, defs)}
    if "anyOf" in node and len(node["anyOf"]) == 2 and {"type": "null"} in node["anyOf"]:
        # `X | None`: X, which the operator leaves out of the status rather than writing null
        [present] = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        return _structural({**present, **rest}, defs)
    if "anyOf" in node and {b.get("type") for b in node["anyOf"]} == {"integer", "string"}:
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}], **rest}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or key == "$defs":
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key == "additionalProperties" and value is False:
            continue  # structural schemas prune unknown fields; strict field validation rejects them
        if key == "additionalProperties" and value is True:
            continue  # dict[str, Any]: the field says x-kubernetes-preserve-unknown-fields instead
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
            continue
        out[key] = _structural(value, defs)
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    return out


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="serialization")
    return _structural(raw, raw.get("$defs", {}))


def _default_objects(schema: dict[str, Any]) -> dict[str, Any]:
    """Nested objects default to {} so the API server fills in their own defaults."""
    for prop in schema.get("properties", {}).values():
        if prop.get("type") == "object" and "properties" in prop:
            prop.setdefault("default", {})
            _default_objects(prop)
    return schema


def _drop_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    schema.pop("default", None)
    for prop in schema.get("properties", {}).values():
        _drop_defaults(prop)
    if isinstance(schema.get("items"), dict):
        _drop_defaults(schema["items"])
    return schema


def spec_schema() -> dict[str, Any]:
    spec = _default_objects(_schema(FeatureStoreSpec))
    spec["description"] = "Desired state of a Feast online feature-serving stack."
    return spec


def status_schema() -> dict[str, Any]:
    status = _drop_defaults(_schema(FeatureStoreStatus))
    status["description"] = "Observed state, written by the operator."
    conditions = status["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    item = conditions["items"]
    item["required"] = ["type", "status"]
    memory = _drop_defaults(_schema(StoreMemory))
    memory["description"] = "Memory of the serving store, read from Redis INFO on the operator's passes."
    status["properties"]["onlineStore"]["properties"]["memory"] = memory
    shards = {"type": "array", "items": _drop_defaults(_schema(StoreShard))}
    shards["description"] = "A Redis Cluster's shards: which pod holds which slots, and its replicas."
    status["properties"]["onlineStore"]["properties"]["topology"] = shards
    return status


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["pfs"],
                "categories": ["predictflow"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A Feast feature store: an online store (in-cluster Redis or AWS ElastiCache), "
                            "scheduled materialization from the offline store, and BentoML model serving.",
                            "required": ["spec"],
                            "x-kubernetes-validations": [
                                {
                                    "rule": f"size(self.metadata.name) <= {MAX_NAME}",
                                    "message": f"a FeatureStore name is at most {MAX_NAME} characters: it is a label value on every child",
                                }
                            ],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


def render() -> str:
    header = "# Generated by `make crds` from operator/predictflow_operator/api/models.py; do not edit.\n"
    return header + yaml.safe_dump(crd(), sort_keys=False, width=120)


if __name__ == "__main__":
    sys.stdout.write(render())
