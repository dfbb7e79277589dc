"""Operator-wide settings, from the environment (the Helm chart sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass

VERSION = "0.1.0"


@dataclass(frozen=True)
class Settings:
    runtime_image: str
    serving_image: str
    redis_image: str
    resync_seconds: float
    aws_endpoint_url: str | None
    elasticache_poll_seconds: float
    # A FeatureStore reads only Secrets it owns or that are labelled for it (policy.requireSecretLabel).
    require_secret_label: bool = True
    # Names this Kubernetes cluster in the ids and tags of the ElastiCache groups it creates, so two
    # clusters sharing an AWS account never take each other's groups. Empty: managed groups are left alone.
    cluster_identity: str = ""
    # The Redis exporter sidecar's image (the project's Redis image carries the exporter).
    redis_exporter_image: str = ""
    # Rows laid over pricing.PRICE_LIST (the chart's pricing.elasticache), as JSON.
    elasticache_prices: str = ""
    # Where the operator's own pods run, so the Redis NetworkPolicy admits its readings; empty
    # (an operator outside the cluster): no such peer.
    operator_namespace: str = ""
    operator_pod_labels: tuple[tuple[str, str], ...] = ()
    # How often each FeatureStore's serving store is read (watermarks, INFO); up to the resync while it fails.
    store_read_seconds: float = 60.0
    # How soon a Redis Cluster that is forming or failing over is looked at again.
    cluster_poll_seconds: float = 2.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            runtime_image=os.environ.get("PREDICTFLOW_RUNTIME_IMAGE", f"predictflow/runtime:{VERSION}"),
            serving_image=os.environ.get("PREDICTFLOW_SERVING_IMAGE", f"predictflow/serving:{VERSION}"),
            redis_image=os.environ.get("PREDICTFLOW_REDIS_IMAGE", "redis:7-alpine"),
            resync_seconds=float(os.environ.get("PREDICTFLOW_RESYNC_SECONDS", "300")),
            aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
            elasticache_poll_seconds=float(os.environ.get("PREDICTFLOW_ELASTICACHE_POLL_SECONDS", "30")),
            require_secret_label=os.environ.get("PREDICTFLOW_REQUIRE_SECRET_LABEL", "true").lower() != "false",
            cluster_identity=os.environ.get("PREDICTFLOW_CLUSTER_IDENTITY", "").strip(),
            redis_exporter_image=os.environ.get("PREDICTFLOW_REDIS_EXPORTER_IMAGE", "") or os.environ.get("PREDICTFLOW_REDIS_IMAGE", "redis:7-alpine"),
            elasticache_prices=os.environ.get("PREDICTFLOW_ELASTICACHE_PRICES", ""),
            operator_namespace=os.environ.get("PREDICTFLOW_OPERATOR_NAMESPACE", "").strip(),
            operator_pod_labels=_labels(os.environ.get("PREDICTFLOW_OPERATOR_POD_LABELS", "")),
            store_read_seconds=float(os.environ.get("PREDICTFLOW_STORE_READ_SECONDS", "60")),
            cluster_poll_seconds=float(os.environ.get("PREDICTFLOW_CLUSTER_POLL_SECONDS", "2")),
        )


def _labels(text: str) -> tuple[tuple[str, str], ...]:
    """`k=v,k=v` (the chart's selector labels) as sorted pairs."""
    pairs = [item.split("=", 1) for item in text.split(",") if "=" in item]
    return tuple(sorted((key.strip(), value.strip()) for key, value in pairs))
