"""kopf handlers: a few lines each, everything else lives in the reconcilers."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import kopf
from lightkube import AsyncClient

from . import GROUP, PLURAL, VERSION
from .api.models import FeatureStoreStatus, parse_spec
from .builders.common import Owner
from .clients.kube import Kube
from .reconcilers import featurestore
from .reconcilers.context import OperatorMemo, ReconcileContext
from .reconcilers.stores import driver
from .settings import Settings

RESOURCE = (GROUP, VERSION, PLURAL)
_settings = Settings.from_env()  # read at import: the timer's interval is part of its registration
log = logging.getLogger("predictflow.handlers")


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-handled-configuration")
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    memo.operator = OperatorMemo(kube=Kube(AsyncClient()), settings=_settings)
    memo.locks = weakref.WeakValueDictionary()  # a lock lives while a pass holds it


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    await memo.operator.kube.client.close()


def _context(body: Any, memo: kopf.Memo) -> ReconcileContext:
    def emit(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message)

    return ReconcileContext(
        owner=Owner.from_body(body), spec=parse_spec(dict(body["spec"])),
        generation=body["metadata"].get("generation", 0), memo=memo.operator, emit=emit,
    )


async def _reconcile(body: Any, patch: kopf.Patch, memo: kopf.Memo) -> None:
    uid = body["metadata"]["uid"]
    ctx = _context(body, memo)
    previous = dict(body.get("status") or {})
    lock = memo.locks.setdefault(uid, asyncio.Lock())
    async with lock:
        try:
            status = await featurestore.reconcile(ctx, previous)
        except Exception as error:  # the status says what went wrong; kopf retries with backoff
            patch.status.update(featurestore.failed_pass(ctx, previous, error))
            raise kopf.TemporaryError(f"{type(error).__name__}: {error}", delay=10) from error
    patch.status.update(status)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
async def on_change(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    await _reconcile(body, patch, memo)


@kopf.timer(*RESOURCE, interval=_settings.resync_seconds, initial_delay=_settings.resync_seconds)
async def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    await _reconcile(body, patch, memo)


def _deletes_aws(status: kopf.Status, spec: kopf.Spec, **_: Any) -> bool:
    records = _records(status)
    if records:
        return any(r.type == "elasticache" and r.mode == "managed" and r.deletion_policy == "Delete" for r in records)
    cache = (spec.get("onlineStore") or {}).get("elasticache") or {}
    return cache.get("mode", "managed") == "managed" and cache.get("deletionPolicy") == "Delete"


def _records(status: Any) -> list[Any]:
    parsed = FeatureStoreStatus.model_validate(dict(status or {}))
    return [r for r in (parsed.online_store, parsed.pending_online_store, *parsed.retiring_online_stores) if r.type]


@kopf.on.delete(*RESOURCE, when=_deletes_aws)
async def on_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Kubernetes children go by owner references; a managed ElastiCache group recorded with
    deletionPolicy Delete is deleted here (a finalizer holds the FeatureStore until AWS accepts)."""
    ctx = _context(body, memo)
    for record in _records(body.get("status")):
        if record.type == "elasticache":
            await driver(record.type).retire(ctx, record)
