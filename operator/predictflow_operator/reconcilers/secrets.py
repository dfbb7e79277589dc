"""The Secrets a FeatureStore reads: checksums of their values, so a rotation rolls the pods, and
the rule of which Secrets it may read at all."""

from __future__ import annotations

import base64
from typing import Any

from ..api.models import SecretKeyRef
from ..builders.common import FS_LABEL, checksum
from ..clients.kube import owned_by
from .context import ReconcileContext


class SecretNotPermitted(ValueError):
    """A referenced Secret has not opted in to being read by this FeatureStore."""


def permitted(ctx: ReconcileContext, secret: dict[str, Any]) -> bool:
    """Its own generated Secrets, and those their owners labelled for it; any Secret of the namespace
    where the administrator lifted the rule."""
    labels = secret["metadata"].get("labels") or {}
    return not ctx.settings.require_secret_label or owned_by(secret, ctx.owner.uid) or labels.get(FS_LABEL) == ctx.owner.name


def not_permitted_message(ctx: ReconcileContext, name: str) -> str:
    return (
        f"Secret {name} is not labelled {FS_LABEL}={ctx.owner.name}: a FeatureStore reads only Secrets labelled for it "
        "(label the Secret, or have the administrator set the chart value policy.requireSecretLabel=false)"
    )


async def _encoded(ctx: ReconcileContext, ref: SecretKeyRef) -> str | None:
    """The key's base64 value; None when the Secret or its key is missing; SecretNotPermitted when it has not opted in."""
    if not ref.name:
        return None
    secret = await ctx.kube.get("v1", "Secret", ref.name, ctx.owner.namespace)
    if secret is not None and not permitted(ctx, secret):
        raise SecretNotPermitted(not_permitted_message(ctx, ref.name))
    return ((secret or {}).get("data") or {}).get(ref.key) or None


async def secret_checksum(ctx: ReconcileContext, ref: SecretKeyRef) -> str | None:
    """None when the Secret or its key is missing; SecretNotPermitted when it has not opted in."""
    value = await _encoded(ctx, ref)
    return checksum(value) if value else None


async def secret_value(ctx: ReconcileContext, ref: SecretKeyRef) -> str | None:
    """The key's text, under the same rule as secret_checksum."""
    value = await _encoded(ctx, ref)
    return base64.b64decode(value).decode() if value else None


def pod_checksum(config_data: dict, secret_value_checksum: str, endpoint: str) -> str:
    """The checksum annotation of the pods that read a store: a change of config, password or endpoint rolls them."""
    return checksum(config_data, secret_value_checksum, endpoint)
