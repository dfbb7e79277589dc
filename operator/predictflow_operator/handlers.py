"""kopf handlers: a few lines each, everything else lives in the reconcilers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from lightkube import AsyncClient

from . import GROUP, PLURAL, VERSION
from .api.models import parse_spec
from .builders.common import Owner
from .clients.kube import Kube
from .reconcilers import elasticache, featurestore
from .reconcilers.context import ReconcileContext
from .settings import Settings

_settings = Settings.from_env()
_locks: dict[str, asyncio.Lock] = {}
_kube: Kube | None = None
RESOURCE = (GROUP, VERSION, PLURAL)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _kube
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-handled-configuration")
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    _kube = Kube(AsyncClient())


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    if _kube is not None:
        await _kube.client.close()


def _context(body: Any) -> ReconcileContext:
    def emit(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message)

    return ReconcileContext(
        kube=_kube, owner=Owner.from_body(body), spec=parse_spec(dict(body["spec"])),
        generation=body["metadata"].get("generation", 0), settings=_settings, emit=emit,
    )


async def _reconcile(body: Any, patch: kopf.Patch) -> None:
    key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
    async with _locks.setdefault(key, asyncio.Lock()):
        status = await featurestore.reconcile(_context(body), dict(body.get("status") or {}))
    patch.status.update(status)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
async def on_change(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    await _reconcile(body, patch)


@kopf.timer(*RESOURCE, interval=_settings.resync_seconds, initial_delay=_settings.resync_seconds)
async def resync(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    await _reconcile(body, patch)


def _deletes_aws(spec: kopf.Spec, **_: Any) -> bool:
    cache = (spec.get("onlineStore") or {}).get("elasticache") or {}
    return cache.get("mode", "managed") == "managed" and cache.get("deletionPolicy") == "Delete"


@kopf.on.delete(*RESOURCE, when=_deletes_aws)
async def on_delete(body: kopf.Body, **_: Any) -> None:
    """Kubernetes children go by owner references; a managed ElastiCache group with deletionPolicy
    Delete is deleted here (a finalizer holds the FeatureStore until AWS accepts the deletion)."""
    status = body.get("status") or {}
    refs = [status.get("onlineStore"), status.get("pendingOnlineStore"), *(status.get("retiringOnlineStores") or [])]
    if any((ref or {}).get("type") == "elasticache" for ref in refs):
        await elasticache.retire(_context(body))
