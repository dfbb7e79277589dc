"""Serving: the BentoML Deployment on the store that serves traffic."""

from __future__ import annotations

from dataclasses import dataclass

from ..builders import serving as builder
from ..builders.store import StoreTarget
from ..status import Check
from .context import ReconcileContext


@dataclass(frozen=True)
class ServingState:
    check: Check
    rolled_out: bool  # every pod runs the current template: the previous store is no longer read


def rollout(deployment: dict, replicas: int) -> tuple[bool, int]:
    """(every pod runs the current template, available pods)."""
    status = deployment.get("status") or {}
    generation = deployment["metadata"].get("generation", 0)
    available = status.get("availableReplicas") or 0
    done = (
        status.get("observedGeneration", 0) >= generation
        and (status.get("updatedReplicas") or 0) >= replicas
        and (status.get("replicas") or 0) <= replicas
        and available >= replicas
    )
    return done, available


async def ensure(ctx: ReconcileContext, store: StoreTarget, config_checksum: str) -> ServingState:
    owner, spec = ctx.owner, ctx.spec
    if not spec.serving.enabled:
        await remove(ctx)
        return ServingState(Check(True, "ServingDisabled", "spec.serving.enabled is false"), True)
    deployment = await ctx.kube.apply(builder.deployment(owner, spec, store, ctx.settings.serving_image, config_checksum))
    await ctx.kube.apply(builder.service(owner))
    pdb = builder.pod_disruption_budget(owner, spec)
    if pdb:
        await ctx.kube.apply(pdb)
    else:
        await ctx.kube.delete("policy/v1", "PodDisruptionBudget", builder.name(owner), owner.namespace)
    replicas = spec.serving.replicas
    done, available = rollout(deployment, replicas)
    if done:
        return ServingState(Check(True, "DeploymentAvailable", f"{available}/{replicas} serving pods available on {store.type}"), True)
    # During a rollout (maxUnavailable 0) the previous pods keep serving: capacity, not the template, decides.
    if available >= replicas:
        return ServingState(Check(True, "RollingOut", f"{available}/{replicas} serving pods available; rolling out on {store.type}"), False)
    return ServingState(Check(False, "DeploymentUnavailable", f"{available}/{replicas} serving pods available on {store.type}"), False)


async def remove(ctx: ReconcileContext) -> None:
    owner = ctx.owner
    await ctx.kube.delete("apps/v1", "Deployment", builder.name(owner), owner.namespace)
    await ctx.kube.delete("v1", "Service", builder.name(owner), owner.namespace)
    await ctx.kube.delete("policy/v1", "PodDisruptionBudget", builder.name(owner), owner.namespace)
