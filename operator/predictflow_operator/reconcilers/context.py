"""What every reconciler gets: the client, the owner, the parsed spec and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..api.models import FeatureStoreSpec
from ..builders.common import Owner
from ..clients.kube import Kube
from ..settings import Settings

EventSink = Callable[[str, str, str], None]  # (type Normal|Warning, reason, message)


@dataclass
class ReconcileContext:
    kube: Kube
    owner: Owner
    spec: FeatureStoreSpec
    generation: int
    settings: Settings
    emit: EventSink
    aws: Any = None  # clients.aws.ElastiCache, created lazily for elasticache stores
    notes: list[str] = field(default_factory=list)
