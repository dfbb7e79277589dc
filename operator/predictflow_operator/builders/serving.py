"""BentoML serving: Deployment, Service, PodDisruptionBudget and HorizontalPodAutoscaler."""

from __future__ import annotations

from typing import Any

import predictflow_contract as contract

from ..api.models import FeatureStoreSpec
from .common import CHECKSUM_ANNOTATION, FS_LABEL, STORE_LABEL, STORE_TYPE_LABEL, Owner, child_name, labels, metadata, selector
from .placement import SPREAD_OVER_NODES_AND_ZONES, pod_placement
from .resources import SERVING, container_resources
from .runtime_pod import pod_spec
from .store import READER, StoreTarget

COMPONENT = "serving"
PORT = contract.SERVING_PORT


def name(owner: Owner) -> str:
    return child_name(owner, "serving")


def _probes(spec: FeatureStoreSpec) -> dict[str, Any]:
    http = lambda path: {"httpGet": {"path": path, "port": "http"}}  # noqa: E731
    return {
        # Starting derives the Feast registry and loads the model: allow it time once.
        "startupProbe": {**http(contract.LIVE_PATH), "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 36},
        # Fails within ~2 s of Redis becoming unreachable; the service pings with a short timeout.
        "readinessProbe": {**http(contract.READY_PATH), "periodSeconds": 2, "timeoutSeconds": 2, "failureThreshold": 1},
        # Checks Redis too (when livenessChecksRedis), but only restarts after a minute of failures,
        # so a Redis blip does not restart the fleet while a real outage still re-resolves DNS.
        "livenessProbe": {**http(contract.LIVE_PATH), "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 6},
    }


def deployment(owner: Owner, spec: FeatureStoreSpec, store: StoreTarget, serving_image: str, config_checksum: str) -> dict[str, Any]:
    serving = spec.serving
    container = {
        "name": "serving",
        "image": serving.image or serving_image,
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [
            {"name": contract.ON_STORE_DOWN_ENV, "value": serving.on_store_down},
            {"name": contract.LIVENESS_CHECKS_REDIS_ENV, "value": "true" if serving.liveness_checks_redis else "false"},
            {"name": contract.TTL_EXPIRED_FEATURES_ENV, "value": serving.ttl_expired_features},
            {"name": contract.STORE_TYPE_ENV, "value": store.type},
            {"name": "BENTOML_PORT", "value": str(PORT)},
        ],
        "resources": container_resources(serving.resources, SERVING),
        # Endpoints drop the pod a moment after it is told to stop: keep answering meanwhile.
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        **_probes(spec),
    }
    template_labels = labels(owner, COMPONENT, **{STORE_TYPE_LABEL: store.type, STORE_LABEL: store.label})
    placement = pod_placement(serving, _pods(owner), SPREAD_OVER_NODES_AND_ZONES)
    # With autoscaling the manifest leaves replicas out: the HorizontalPodAutoscaler sets them.
    replicas = {} if serving.autoscaling.enabled else {"replicas": serving.replicas}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(owner, name(owner), COMPONENT),
        "spec": {
            **replicas,
            "selector": {"matchLabels": selector(owner, COMPONENT)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "minReadySeconds": 2,
            "template": {
                "metadata": {"labels": template_labels, "annotations": {CHECKSUM_ANNOTATION: config_checksum}},
                "spec": {**pod_spec(owner, spec, store, READER, container, placement), "terminationGracePeriodSeconds": 30},
            },
        },
    }


def service(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(owner, name(owner), COMPONENT),
        # the operator's own label too: a Helm release named like the FeatureStore may label its pods
        # with the same instance and component (the Deployment's selector is immutable, so it stays)
        "spec": {"selector": {**selector(owner, COMPONENT), FS_LABEL: owner.name}, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
    }


def _pods(owner: Owner) -> dict[str, str]:
    return {**selector(owner, COMPONENT), FS_LABEL: owner.name}


def most_replicas(spec: FeatureStoreSpec) -> int:
    autoscaling = spec.serving.autoscaling
    return autoscaling.max_replicas if autoscaling.enabled else spec.serving.replicas


def pod_disruption_budget(owner: Owner, spec: FeatureStoreSpec) -> dict[str, Any] | None:
    if most_replicas(spec) < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(owner, name(owner), COMPONENT),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _pods(owner)}},
    }


def horizontal_pod_autoscaler(owner: Owner, spec: FeatureStoreSpec) -> dict[str, Any] | None:
    autoscaling = spec.serving.autoscaling
    if not autoscaling.enabled:
        return None
    utilization = {"type": "Utilization", "averageUtilization": autoscaling.target_cpu_utilization_percentage}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(owner, name(owner), COMPONENT),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name(owner)},
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": utilization}}],
        },
    }


def replicas_handover(owner: Owner, replicas: int) -> dict[str, Any]:
    """The Deployment's replica count alone, applied by HANDOVER_MANAGER before the operator's own
    manifest drops the field: without a second owner, server-side apply would remove it and the
    Deployment would fall back to one replica until the autoscaler's next sync."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name(owner), "namespace": owner.namespace}, "spec": {"replicas": replicas}}
