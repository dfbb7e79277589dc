"""Where a component's pods run: the spec's placement fields as pod spec fields."""

from __future__ import annotations

from typing import Any

from ..api.models import Placement

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
# Soft, so one node or one zone still runs every replica; matchLabelKeys keeps a rollout's new
# pods from being judged against the old ReplicaSet's.
SPREAD_OVER_NODES_AND_ZONES: tuple[dict[str, Any], ...] = tuple(
    {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway", "matchLabelKeys": ["pod-template-hash"]} for key in (HOSTNAME, ZONE)
)


def _constraint(given: Any, pods: dict[str, str]) -> dict[str, Any]:
    constraint = given.model_dump(by_alias=True, exclude_defaults=True)
    constraint.setdefault("maxSkew", given.max_skew)
    constraint.setdefault("whenUnsatisfiable", given.when_unsatisfiable)
    return {**constraint, "labelSelector": {"matchLabels": dict(pods)}}


def pod_placement(placement: Placement, pods: dict[str, str], default_spread: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """Pod spec fields for `placement`; `pods` selects the component's own pods, which every
    spread constraint counts. Absent constraints are `default_spread`; an empty list is none."""
    out: dict[str, Any] = {}
    if placement.node_selector:
        out["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        out["tolerations"] = [toleration.model_dump(by_alias=True, exclude_defaults=True) for toleration in placement.tolerations]
    if placement.affinity:
        out["affinity"] = placement.affinity
    if placement.topology_spread_constraints is None:
        spread = [{**constraint, "labelSelector": {"matchLabels": dict(pods)}} for constraint in default_spread]
    else:
        spread = [_constraint(constraint, pods) for constraint in placement.topology_spread_constraints]
    if spread:
        out["topologySpreadConstraints"] = spread
    if placement.priority_class_name:
        out["priorityClassName"] = placement.priority_class_name
    return out
