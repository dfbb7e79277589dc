"""The AUTH token of a managed replication group: its Secret's ownership and adoption, and rotation.

The Secret outlives a FeatureStore whose group is retained (retiring it drops the owner reference),
and a FeatureStore of the same name adopts it again only when the operator marked it for that very
group and cluster. Rotation follows AWS's two-token flow: ROTATE makes AWS accept the new token
besides the old one, the pods then roll onto it, and SET drops the old one once no pod reads it.
The Secret carries the state of that flow, so it survives with the Secret and is written atomically
with the token values (every write is conditional on the Secret's resourceVersion).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from ..api.models import StoreRecord
from ..builders import elasticache as builder
from ..builders import feast_config
from ..builders.common import CHECKSUM_ANNOTATION, FS_LABEL, Owner, checksum, metadata
from ..builders.store import target_of
from ..clients.aws import ElastiCache
from .context import ReconcileContext
from .secrets import pod_checksum

ABSENT, OURS, ADOPTABLE, FOREIGN = "absent", "ours", "adoptable", "foreign"


@dataclass(frozen=True)
class SecretVerdict:
    kind: str  # absent | ours | adoptable | foreign
    message: str = ""
    needs_marks: bool = False  # ours, written before the Secret was marked for its group


def _controller(secret: dict[str, Any]) -> dict[str, Any] | None:
    return next((ref for ref in secret["metadata"].get("ownerReferences") or [] if ref.get("controller")), None)


def judge_secret(secret: dict[str, Any] | None, owner: Owner, group_id: str, cluster_identity: str) -> SecretVerdict:
    """Ours (this FeatureStore controls it), adoptable (no owner, marked by the operator for this group
    of this cluster), or foreign (anything else: never read, written or deleted)."""
    if secret is None:
        return SecretVerdict(ABSENT)
    name = secret["metadata"]["name"]
    annotations = secret["metadata"].get("annotations") or {}
    marks = builder.secret_marks(owner, group_id, cluster_identity)
    controller = _controller(secret)
    if controller is not None and controller.get("uid") == owner.uid:
        data = secret.get("data") or {}
        return SecretVerdict(OURS, needs_marks=any(k not in annotations for k in marks) or builder.ACTIVE_KEY not in data)
    if controller is not None:
        return SecretVerdict(
            FOREIGN, f"Secret {name} is controlled by {controller.get('kind')} {controller.get('name')} ({controller.get('uid')}), not by this FeatureStore"
        )
    wrong = [f"{key}={annotations.get(key, '')!r} (expected {value!r})" for key, value in marks.items() if annotations.get(key) != value]
    if wrong:
        return SecretVerdict(
            FOREIGN,
            f"Secret {name} exists but the operator did not mark it as the AUTH token of replication group {group_id}: "
            f"annotation {', annotation '.join(wrong)}; delete or rename it",
        )
    if not (secret.get("data") or {}).get(builder.ACTIVE_KEY):
        return SecretVerdict(FOREIGN, f"Secret {name} is marked for replication group {group_id} but has no key {builder.ACTIVE_KEY!r}")
    return SecretVerdict(ADOPTABLE)


def _decode(secret: dict[str, Any], key: str) -> str:
    value = (secret.get("data") or {}).get(key)
    return base64.b64decode(value).decode() if value else ""


def _owner_reference(owner: Owner) -> dict[str, Any]:
    return metadata(owner, "", "")["ownerReferences"][0]


async def _patch(ctx: ReconcileContext, secret: dict[str, Any], patch: dict[str, Any], adopting: bool = False) -> dict[str, Any]:
    meta = secret["metadata"]
    patch = {**patch, "metadata": {**patch.get("metadata", {}), "resourceVersion": meta["resourceVersion"]}}
    if adopting:
        adopted = await ctx.kube.adopt({"apiVersion": "v1", "kind": "Secret", **secret}, patch)
        assert adopted is not None
        return adopted
    patched = await ctx.kube.merge_patch("v1", "Secret", meta["name"], meta["namespace"], patch)
    if patched is None:
        raise ValueError(f"Secret {meta['name']} disappeared while it was being written")
    return patched


async def ensure_secret(ctx: ReconcileContext, record: StoreRecord, secret: dict[str, Any] | None, verdict: SecretVerdict, token: str) -> dict[str, Any] | None:
    """Create the token Secret, adopt a retained one, or mark one written before marks existed;
    returns it as it now is (None if it could not be created)."""
    owner, identity = ctx.owner, ctx.settings.cluster_identity
    if verdict.kind == ABSENT:
        await ctx.kube.create_if_absent(builder.auth_secret(owner, record.auth_secret_ref.name, token, record.name, identity))
        return await ctx.kube.get("v1", "Secret", record.auth_secret_ref.name, owner.namespace)
    assert secret is not None
    if verdict.kind == ADOPTABLE:
        secret = await _patch(ctx, secret, {"metadata": {"ownerReferences": [_owner_reference(owner)]}}, adopting=True)
        ctx.emit("Normal", "AuthSecretAdopted", f"Adopted Secret {record.auth_secret_ref.name}, the retained AUTH token of replication group {record.name}")
    elif verdict.kind == OURS and verdict.needs_marks:
        annotations = secret["metadata"].get("annotations") or {}
        marks = {k: v for k, v in builder.secret_marks(owner, record.name, identity).items() if k not in annotations}
        patch: dict[str, Any] = {"metadata": {"annotations": {**marks, builder.TOKEN_STATE_ANNOTATION: annotations.get(builder.TOKEN_STATE_ANNOTATION, "Set")}}}
        if builder.ACTIVE_KEY not in (secret.get("data") or {}):  # written before pods read `active`: AWS has `token`
            patch["data"] = {builder.ACTIVE_KEY: secret["data"][builder.TOKEN_KEY]}
        secret = await _patch(ctx, secret, patch)
    return secret


def active_token(secret: dict[str, Any]) -> str:
    return _decode(secret, builder.ACTIVE_KEY)


async def release(ctx: ReconcileContext, record: StoreRecord) -> None:
    """A retained group keeps its token: the Secret loses this FeatureStore's owner reference, so it
    is not garbage-collected with it, and stays marked for the group."""
    secret = await ctx.kube.get("v1", "Secret", record.auth_secret_ref.name, ctx.owner.namespace)
    verdict = judge_secret(secret, ctx.owner, record.name, ctx.settings.cluster_identity)
    if verdict.kind != OURS or secret is None:
        return
    annotations = secret["metadata"].get("annotations") or {}
    if annotations.get(builder.GROUP_ANNOTATION, record.name) != record.name:
        return  # marked for another group of this FeatureStore (another region): that one decides
    marks = builder.secret_marks(ctx.owner, record.name, ctx.settings.cluster_identity)
    await _patch(ctx, secret, {"metadata": {"ownerReferences": [], "annotations": {**marks, **annotations}}})
    ctx.emit(
        "Normal", "AuthSecretRetained", f"Kept Secret {record.auth_secret_ref.name} (no owner) with the AUTH token of retained replication group {record.name}"
    )


@dataclass(frozen=True)
class Step:
    do: str  # "" (wait or nothing), stage, rotate, activate, set
    message: str = ""  # what the rotation waits for, for the condition


def rotation_step(secret: dict[str, Any], group: dict[str, Any], pods_rolled: bool | None) -> Step:
    """The next step of a token rotation, from the Secret and the group's description (pure).
    `pods_rolled`: whether every pod that reads the token runs the active one (None: not looked at)."""
    state = (secret["metadata"].get("annotations") or {}).get(builder.TOKEN_STATE_ANNOTATION) or "Set"
    settled = group.get("Status") == "available" and not (group.get("PendingModifiedValues") or {}).get("AuthTokenStatus")
    group_id = group.get("ReplicationGroupId", "")
    if state == "Set":
        wanted = _decode(secret, builder.TOKEN_KEY)
        if not wanted or wanted == _decode(secret, builder.ACTIVE_KEY):
            return Step("")
        return Step("stage" if settled else "", "" if settled else f"the new AUTH token waits until {group_id} is available")
    if state == "Staged":
        return Step("rotate" if settled else "", f"rotating the AUTH token of {group_id}")
    if state == "Rotated":
        return Step("activate" if settled else "", f"waiting for {group_id} to accept the new AUTH token besides the old one")
    if not settled:
        return Step("", f"waiting for {group_id} to finish a modification before dropping the old AUTH token")
    if not pods_rolled:
        return Step("", f"{group_id} accepts the old and the new AUTH token; the pods roll onto the new one")
    return Step("set")


async def pods_rolled(ctx: ReconcileContext, record: StoreRecord, secret: dict[str, Any]) -> bool:
    """Every live pod of this FeatureStore that reads the token Secret carries the checksum of the
    active token: serving and materialization pods started after it was written. A pod without the
    checksum (a backfill) has to finish first."""
    target = target_of(record)
    config = feast_config.config_map(ctx.owner, ctx.spec, target)
    expected = pod_checksum(config["data"], checksum(secret["data"][builder.ACTIVE_KEY]), record.endpoint)
    name = record.auth_secret_ref.name
    for pod in await ctx.kube.list_for_reading("v1", "Pod", ctx.owner.namespace, {FS_LABEL: ctx.owner.name}):
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        containers = (pod.get("spec") or {}).get("containers") or []
        reads = any(((env.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name") == name for c in containers for env in c.get("env") or [])
        if reads and ((pod["metadata"].get("annotations") or {}).get(CHECKSUM_ANNOTATION) != expected):
            return False
    return True


async def rotate(ctx: ReconcileContext, aws: ElastiCache, record: StoreRecord, secret: dict[str, Any], group: dict[str, Any]) -> str:
    """Take the rotation's next step; returns what it waits for ("" when there is no rotation)."""
    state = (secret["metadata"].get("annotations") or {}).get(builder.TOKEN_STATE_ANNOTATION) or "Set"
    rolled = await pods_rolled(ctx, record, secret) if state == "Rolling" else None
    step = rotation_step(secret, group, rolled)
    annotate = lambda state: {"annotations": {builder.TOKEN_STATE_ANNOTATION: state}}  # noqa: E731
    if step.do == "stage":
        secret = await _patch(ctx, secret, {"metadata": annotate("Staged"), "data": {builder.ROTATING_KEY: secret["data"][builder.TOKEN_KEY]}})
        step = Step("rotate")
    if step.do == "rotate":
        await aws.update_auth_token(record.name, _decode(secret, builder.ROTATING_KEY), "ROTATE")
        await _patch(ctx, secret, {"metadata": annotate("Rotated")})
        ctx.emit("Normal", "AuthTokenRotating", f"Sent the new AUTH token of {record.name} with ROTATE: AWS accepts the old and the new one")
        return f"waiting for {record.name} to accept the new AUTH token besides the old one"
    if step.do == "activate":
        await _patch(ctx, secret, {"metadata": annotate("Rolling"), "data": {builder.ACTIVE_KEY: secret["data"][builder.ROTATING_KEY]}})
        ctx.emit("Normal", "AuthTokenRolling", f"{record.name} accepts the new AUTH token: the pods roll onto it")
        return f"{record.name} accepts the old and the new AUTH token; the pods roll onto the new one"
    if step.do == "set":
        await aws.update_auth_token(record.name, _decode(secret, builder.ACTIVE_KEY), "SET")
        await _patch(ctx, secret, {"metadata": annotate("Set"), "data": {builder.ROTATING_KEY: None}})
        ctx.emit("Normal", "AuthTokenSet", f"Every pod runs the new AUTH token: sent it to {record.name} with SET, the old one no longer works")
    return step.message
