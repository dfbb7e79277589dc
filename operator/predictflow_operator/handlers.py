"""kopf handlers: a few lines each, everything else lives in the reconcilers.

One daemon per FeatureStore runs its reconcile passes. A pass runs when the FeatureStore, one of
its Jobs, StatefulSets, Deployments or backfill pods, or a Secret it reads changes (watches wake the
daemon), and otherwise once per resync interval as a safety net. A pass writes the status only
when it changed, and children only when their manifests did, so a FeatureStore at rest costs no writes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from lightkube import AsyncClient

from . import GROUP, PLURAL, VERSION
from .api.models import FeatureStoreStatus, StoreRecord, parse_spec
from .builders.common import FS_LABEL, Owner
from .clients.kube import Kube
from .metrics import OperatorMetrics
from .reconcilers import featurestore
from .reconcilers.context import OperatorMemo, ReconcileContext
from .reconcilers.elasticache import ForeignGroup
from .reconcilers.store_reading import StoreReader
from .reconcilers.stores import driver
from .settings import Settings

RESOURCE = (GROUP, VERSION, PLURAL)
OWNED = {FS_LABEL: kopf.PRESENT}
log = logging.getLogger("predictflow.handlers")


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-handled-configuration")
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    # __main__ hands in the metrics it serves; without them (kopf run) they are kept but not served
    metrics = memo.get("metrics") or OperatorMetrics()
    memo.operator = OperatorMemo(kube=Kube(AsyncClient()), settings=Settings.from_env(), metrics=metrics)


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    await memo.operator.kube.client.close()


def _context(body: Any, memo: kopf.Memo) -> ReconcileContext:
    def emit(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message)

    return ReconcileContext(
        owner=Owner.from_body(body),
        spec=parse_spec(dict(body["spec"])),
        generation=body["metadata"].get("generation", 0),
        memo=memo.operator,
        emit=emit,
    )


@kopf.daemon(*RESOURCE, cancellation_timeout=10)
async def reconciler(body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any) -> None:
    """The FeatureStore's reconcile loop; `body` is kept current by kopf's watch."""
    operator: OperatorMemo = memo.operator
    uid = body["metadata"]["uid"]
    wakeup = operator.wakeup(uid)
    reader = operator.store_readers.setdefault(uid, StoreReader(operator.settings.store_read_seconds, operator.settings.resync_seconds))
    reading = asyncio.create_task(reader.keep_reading(lambda: (_context(body, memo), _serving_record(body)), lambda: operator.wake(uid)))
    try:
        while not stopped:
            wakeup.clear()
            delay = await featurestore.run_pass(_context(body, memo), body)
            try:
                await asyncio.wait_for(wakeup.wait(), timeout=delay)
            except TimeoutError:
                pass
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        operator.forget(uid)


def _serving_record(body: Any) -> StoreRecord | None:
    record = FeatureStoreStatus.model_validate(dict(body.get("status") or {})).online_store
    return record if record.type else None


@kopf.on.event(*RESOURCE)
async def featurestore_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.operator.wake(body["metadata"]["uid"])


def _wake_owners(body: kopf.Body, memo: kopf.Memo) -> None:
    for ref in body["metadata"].get("ownerReferences") or []:
        memo.operator.wake(ref.get("uid", ""))


@kopf.on.event("apps", "v1", "statefulsets", labels=OWNED)
@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def child_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    _wake_owners(body, memo)


@kopf.on.event("", "v1", "pods", labels={FS_LABEL: kopf.PRESENT, "app.kubernetes.io/component": "backfill"})
@kopf.on.event("", "v1", "pods", labels={FS_LABEL: kopf.PRESENT, "app.kubernetes.io/component": "materialization"})
@kopf.on.event("", "v1", "pods", labels={FS_LABEL: kopf.PRESENT, "app.kubernetes.io/component": "redis"})
async def pod_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A job pod's report (its termination message) may land after its Job's last event; a Redis
    Cluster's pod that moved or came back is joined again by its FeatureStore's next pass."""
    namespace, name = body["metadata"]["namespace"], (body["metadata"].get("labels") or {}).get(FS_LABEL, "")
    memo.operator.wake_named(namespace, name)


@kopf.on.event("", "v1", "secrets", labels=OWNED)
async def secret_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Only labelled Secrets are watched: the generated ones, owned, and users' Secrets opted in with
    the FeatureStore's name, which a FeatureStore needs to read them at all."""
    namespace = body["metadata"]["namespace"]
    _wake_owners(body, memo)
    memo.operator.wake_readers(namespace, body["metadata"]["name"])
    memo.operator.wake_named(namespace, (body["metadata"].get("labels") or {}).get(FS_LABEL, ""))


def _has_stores_outside_cluster(status: kopf.Status, spec: kopf.Spec, **_: Any) -> bool:
    records = _records(status)
    if records:
        return any(driver(r.type).outside_cluster(r) for r in records)
    try:
        parsed = parse_spec(dict(spec))
    except ValueError:  # the API server's schema admits nothing that fails here
        return False
    return driver(parsed.online_store.type).asks_outside_cluster(parsed)


def _records(status: Any) -> list[Any]:
    parsed = FeatureStoreStatus.model_validate(dict(status or {}))
    return [r for r in (parsed.online_store, parsed.pending_online_store, *parsed.retiring_online_stores) if r.type]


@kopf.on.delete(*RESOURCE, when=_has_stores_outside_cluster)
async def on_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Kubernetes children go by owner references; a managed ElastiCache group recorded with
    deletionPolicy Delete is deleted here (a finalizer holds the FeatureStore until AWS accepts),
    and a retained one's token Secret is released so that it outlives the FeatureStore."""
    ctx = _context(body, memo)
    for record in _records(body.get("status")):
        if driver(record.type).outside_cluster(record):
            try:
                await driver(record.type).retire(ctx, record)
            except ForeignGroup as refused:  # not ours to delete: the FeatureStore still goes
                ctx.emit("Warning", "ForeignReplicationGroup", str(refused))
