"""What every reconciler gets: the client, the owner, the parsed spec, settings and the operator's memo."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..api.models import FeatureStoreSpec
from ..builders.common import Owner
from ..clients.kube import Kube, OwnedKube
from ..metrics import OperatorMetrics
from ..settings import Settings

if TYPE_CHECKING:  # store_reading imports this module
    from .store_reading import StoreReader

EventSink = Callable[[str, str, str], None]  # (type Normal|Warning, reason, message)


@dataclass
class OperatorMemo:
    """State that outlives one reconcile, built once at start-up and kept in kopf's memo."""

    kube: Kube
    settings: Settings
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    aws_clients: dict[str, Any] = field(default_factory=dict)  # region -> clients.aws.ElastiCache
    aws_answers: dict[tuple[str, str], Any] = field(default_factory=dict)  # (owner uid, store key) -> elasticache.AwsMemo
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)  # FeatureStore uid -> its daemon's wake-up
    names: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, name) -> uid
    readers: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (namespace, Secret) -> uids reading it
    store_readers: dict[str, StoreReader] = field(default_factory=dict)  # FeatureStore uid -> its serving store's reader

    def wakeup(self, uid: str) -> asyncio.Event:
        return self.wakeups.setdefault(uid, asyncio.Event())

    def wake(self, uid: str) -> None:
        if uid in self.wakeups:
            self.wakeups[uid].set()

    def wake_named(self, namespace: str, name: str) -> None:
        self.wake(self.names.get((namespace, name), ""))

    def wake_readers(self, namespace: str, secret: str) -> None:
        for uid in self.readers.get((namespace, secret), ()):
            self.wake(uid)

    def remember(self, uid: str, namespace: str, name: str, secrets: set[str]) -> None:
        """Which FeatureStore a name means, and which Secrets it reads (their changes wake it)."""
        self.names[(namespace, name)] = uid
        for key, uids in list(self.readers.items()):
            if key[0] == namespace and key[1] not in secrets:
                uids.discard(uid)
                if not uids:
                    del self.readers[key]
        for secret in secrets:
            self.readers.setdefault((namespace, secret), set()).add(uid)

    def forget(self, uid: str) -> None:
        self.wakeups.pop(uid, None)
        self.names = {key: value for key, value in self.names.items() if value != uid}
        self.readers = {key: uids - {uid} for key, uids in self.readers.items() if uids - {uid}}
        self.aws_answers = {key: value for key, value in self.aws_answers.items() if key[0] != uid}
        self.store_readers.pop(uid, None)
        self.metrics.forget(uid)


@dataclass
class ReconcileContext:
    owner: Owner
    spec: FeatureStoreSpec
    generation: int
    memo: OperatorMemo
    emit: EventSink

    @property
    def kube(self) -> OwnedKube:
        """Writes and deletes only what this FeatureStore owns."""
        return OwnedKube(self.memo.kube, self.owner.uid)

    @property
    def settings(self) -> Settings:
        return self.memo.settings
