"""NetworkPolicies: who may open a connection to a FeatureStore's Redis and to its serving pods."""

from __future__ import annotations

from typing import Any

from ..api.models import FeatureStoreSpec
from . import materialization, redis, serving
from .common import COMPONENT_LABEL, FS_LABEL, Owner, child_name, metadata

COMPONENT = "network-policy"


def _pods_of(owner: Owner, component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {FS_LABEL: owner.name, COMPONENT_LABEL: component}}}


def _ingress_policy(owner: Owner, name: str, component: str, peers: list[dict[str, Any]], port: int) -> dict[str, Any]:
    """Connections to `port` of the FeatureStore's `component` pods only from `peers`."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(owner, name, COMPONENT),
        "spec": {
            "podSelector": _pods_of(owner, component)["podSelector"],
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": [{"protocol": "TCP", "port": port}]}],
        },
    }


def online_store_name(owner: Owner) -> str:
    return child_name(owner, "online-store")


def operator_peer(namespace: str, pod_labels: dict[str, str]) -> dict[str, Any]:
    """The operator's own pods, wherever the chart installed them."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}, "podSelector": {"matchLabels": dict(pod_labels)}}


def online_store(owner: Owner, spec: FeatureStoreSpec, operator: dict[str, Any] | None = None) -> dict[str, Any]:
    """The in-cluster Redis accepts connections from this FeatureStore's serving, materialization and
    backfill pods, from its own pods (replication, and a cluster's bus) and from the operator (its
    readings as the monitoring user, a cluster's forming as the topology user), from nothing else. With the exporter sidecar, its metrics port
    is open to scrapers anywhere in the cluster: it serves INFO figures, no key and no value."""
    clients = (serving.COMPONENT, materialization.COMPONENT, materialization.BACKFILL_COMPONENT, redis.COMPONENT)
    peers = [_pods_of(owner, c) for c in clients] + ([operator] if operator else [])
    policy = _ingress_policy(owner, online_store_name(owner), redis.COMPONENT, peers, redis.PORT)
    # Redis Cluster's node-to-node bus, between the FeatureStore's own Redis pods only. Always there:
    # during a switch the store being retired may be a cluster while the spec asks for a single primary.
    policy["spec"]["ingress"].append({"from": [_pods_of(owner, redis.COMPONENT)], "ports": [{"protocol": "TCP", "port": redis.BUS_PORT}]})
    if spec.online_store.redis.metrics.enabled:
        policy["spec"]["ingress"].append({"ports": [{"protocol": "TCP", "port": redis.EXPORTER_PORT}]})
    return policy


def serving_name(owner: Owner) -> str:
    return child_name(owner, "serving")


def serving_policy(owner: Owner, spec: FeatureStoreSpec) -> dict[str, Any] | None:
    """With spec.serving.networkPolicy.enabled: only the namespaces and pods it names reach the
    serving port (the kubelet's probes come from the node and are not subject to it)."""
    policy = spec.serving.network_policy
    if not policy.enabled:
        return None
    peer: dict[str, Any] = {"podSelector": {"matchLabels": dict(policy.allowed_pod_labels)}}
    if policy.allowed_namespace_labels:
        peer["namespaceSelector"] = {"matchLabels": dict(policy.allowed_namespace_labels)}
    return _ingress_policy(owner, serving_name(owner), serving.COMPONENT, [peer], serving.PORT)
