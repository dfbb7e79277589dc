"""What every reconciler gets: the client, the owner, the parsed spec, settings and the operator's memo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..api.models import FeatureStoreSpec
from ..builders.common import Owner
from ..clients.kube import Kube
from ..settings import Settings

EventSink = Callable[[str, str, str], None]  # (type Normal|Warning, reason, message)


@dataclass
class OperatorMemo:
    """State that outlives one reconcile, built once at start-up and kept in kopf's memo."""

    kube: Kube
    settings: Settings
    aws_clients: dict[str, Any] = field(default_factory=dict)  # region -> clients.aws.ElastiCache
    aws_answers: dict[tuple[str, str], Any] = field(default_factory=dict)  # (owner uid, store key) -> elasticache.AwsMemo


@dataclass
class ReconcileContext:
    owner: Owner
    spec: FeatureStoreSpec
    generation: int
    memo: OperatorMemo
    emit: EventSink

    @property
    def kube(self) -> Kube:
        return self.memo.kube

    @property
    def settings(self) -> Settings:
        return self.memo.settings
