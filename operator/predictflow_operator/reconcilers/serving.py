"""Serving: the BentoML Deployment on the store that serves traffic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import FIELD_MANAGER
from ..builders import serving as builder
from ..builders.common import STORE_LABEL
from ..builders.store import StoreTarget
from .context import ReconcileContext


@dataclass(frozen=True)
class ServingState:
    enabled: bool
    exists: bool
    store: str  # the store label of the pod template
    done: bool  # every pod runs the current template
    available: int
    replicas: int
    live: dict | None = None  # the Deployment as observed, so applying it needs no second read

    def rolled_onto(self, store_label: str) -> bool:
        """No pod reads any other store than `store_label`."""
        return not self.enabled or not self.exists or (self.store == store_label and self.done)


def observe_deployment(deployment: dict | None, enabled: bool, replicas: int) -> ServingState:
    if deployment is None:
        return ServingState(enabled, False, "", False, 0, replicas)
    status = deployment.get("status") or {}
    generation = deployment["metadata"].get("generation", 0)
    available = status.get("availableReplicas") or 0
    done = (
        status.get("observedGeneration", 0) >= generation
        and (status.get("updatedReplicas") or 0) >= replicas
        and (status.get("replicas") or 0) <= replicas
        and available >= replicas
    )
    labels = ((deployment["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    return ServingState(enabled, True, labels.get(STORE_LABEL, ""), done, available, replicas, deployment)


# Holds the replica count between the operator's manifest dropping it and the autoscaler's first scale.
HANDOVER_MANAGER = f"{FIELD_MANAGER}-handover"


def desired_replicas(deployment: dict | None, serving: Any) -> int:
    """What a finished rollout runs: the spec's count, or with autoscaling what the autoscaler set."""
    if not serving.autoscaling.enabled:
        return serving.replicas
    live = (deployment or {}).get("spec", {}).get("replicas")
    return live if isinstance(live, int) else serving.autoscaling.min_replicas


def applies_replicas(deployment: dict) -> bool:
    """Whether the operator's own applied configuration still holds spec.replicas."""
    for entry in deployment["metadata"].get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            return "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
    return False


async def observe(ctx: ReconcileContext) -> ServingState:
    deployment = await ctx.kube.get("apps/v1", "Deployment", builder.name(ctx.owner), ctx.owner.namespace)
    return observe_deployment(deployment, ctx.spec.serving.enabled, desired_replicas(deployment, ctx.spec.serving))


async def ensure(ctx: ReconcileContext, store: StoreTarget, config_checksum: str, seen: ServingState) -> None:
    owner, spec = ctx.owner, ctx.spec
    if not spec.serving.enabled:
        await remove(ctx)
        return
    autoscaler = builder.horizontal_pod_autoscaler(owner, spec)
    if autoscaler:
        await ctx.kube.apply(autoscaler)
        if seen.live is not None and applies_replicas(seen.live):
            await ctx.kube.apply_as(builder.replicas_handover(owner, seen.replicas), HANDOVER_MANAGER, seen.live)
    else:
        await ctx.kube.delete("autoscaling/v2", "HorizontalPodAutoscaler", builder.name(owner), owner.namespace)
    await ctx.kube.apply(builder.deployment(owner, spec, store, ctx.settings.serving_image, config_checksum), live=seen.live)
    await ctx.kube.apply(builder.service(owner))
    pdb = builder.pod_disruption_budget(owner, spec)
    if pdb:
        await ctx.kube.apply(pdb)
    else:
        await ctx.kube.delete("policy/v1", "PodDisruptionBudget", builder.name(owner), owner.namespace)


async def remove(ctx: ReconcileContext) -> None:
    owner = ctx.owner
    await ctx.kube.delete("apps/v1", "Deployment", builder.name(owner), owner.namespace)
    await ctx.kube.delete("v1", "Service", builder.name(owner), owner.namespace)
    await ctx.kube.delete("policy/v1", "PodDisruptionBudget", builder.name(owner), owner.namespace)
    await ctx.kube.delete("autoscaling/v2", "HorizontalPodAutoscaler", builder.name(owner), owner.namespace)
