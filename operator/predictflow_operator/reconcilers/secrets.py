"""Checksums of the Secret values pods read, so a rotation rolls them."""

from __future__ import annotations

from ..api.models import SecretKeyRef
from ..builders.common import checksum
from .context import ReconcileContext


async def secret_checksum(ctx: ReconcileContext, ref: SecretKeyRef) -> str | None:
    """None when the Secret or its key is missing."""
    if not ref.name:
        return None
    secret = await ctx.kube.get("v1", "Secret", ref.name, ctx.owner.namespace)
    value = ((secret or {}).get("data") or {}).get(ref.key)
    return checksum(value) if value else None


def pod_checksum(config_data: dict, secret_value_checksum: str, endpoint: str) -> str:
    """The checksum annotation of the pods that read a store: a change of config, password or endpoint rolls them."""
    return checksum(config_data, secret_value_checksum, endpoint)
