"""The FeatureStore's NetworkPolicies: always one in front of Redis, optionally one in front of serving."""

from __future__ import annotations

from ..builders import network_policy as builder
from .context import ReconcileContext

_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")


async def ensure_online_store(ctx: ReconcileContext) -> None:
    settings = ctx.settings
    operator = builder.operator_peer(settings.operator_namespace, dict(settings.operator_pod_labels)) if settings.operator_namespace else None
    await ctx.kube.apply(builder.online_store(ctx.owner, ctx.spec, operator))


async def ensure_serving(ctx: ReconcileContext) -> None:
    policy = builder.serving_policy(ctx.owner, ctx.spec)
    if policy is None:
        await ctx.kube.delete(*_POLICY, builder.serving_name(ctx.owner), ctx.owner.namespace)
    else:
        await ctx.kube.apply(policy)
