"""Write requests the API server counted, from its own /metrics: what a pass at rest must not add."""

from __future__ import annotations

import re

import httpx

from .controlplane import ControlPlaneInfo

WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")
# What the operator writes: its children (not their status, which controllers keep), the
# FeatureStore's status, and Events.
OPERATOR_RESOURCES = ("statefulsets", "deployments", "services", "configmaps", "secrets", "jobs", "cronjobs", "poddisruptionbudgets", "events")
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$")


def _labels(text: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', text))


def operator_writes(plane: ControlPlaneInfo) -> int:
    """Write requests so far to what the operator writes."""
    response = httpx.get(f"{plane.server}/metrics", headers={"Authorization": f"Bearer {plane.token}"}, verify=str(plane.ca_cert), timeout=10)
    response.raise_for_status()
    total = 0.0
    for line in response.text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = _labels(match["labels"])
        if labels.get("verb") not in WRITE_VERBS:
            continue
        resource, subresource = labels.get("resource"), labels.get("subresource", "")
        if (resource in OPERATOR_RESOURCES and subresource == "") or (resource == "featurestores" and subresource == "status"):
            total += float(match["value"])
    return int(total)
