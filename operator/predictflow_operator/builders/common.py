"""Names, labels, owner references and security contexts shared by every child."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .. import FIELD_MANAGER, GROUP, KIND, VERSION

FS_LABEL = f"{GROUP}/featurestore"
STORE_TYPE_LABEL = f"{GROUP}/store-type"
STORE_LABEL = f"{GROUP}/store"  # which recorded store a Job or pod template reads or writes
COMPONENT_LABEL = "app.kubernetes.io/component"
CHECKSUM_ANNOTATION = f"{GROUP}/checksum"


@dataclass(frozen=True)
class Owner:
    name: str
    namespace: str
    uid: str

    @classmethod
    def from_body(cls, body: Any) -> Owner:
        meta = body["metadata"]
        return cls(meta["name"], meta["namespace"], meta["uid"])


# Jobs, CronJobs and StatefulSets derive 63-character label values and pod names from their own
# names (a CronJob appends 11 characters, a StatefulSet's revision label 11): 52 keeps every one valid.
MAX_CHILD_NAME = 52


def child_name(owner: Owner, suffix: str) -> str:
    """`<name>-<suffix>`, or, when that is too long, the name cut short plus a digest of the whole,
    so every valid FeatureStore name gives distinct children that fit."""
    full = f"{owner.name}-{suffix}"
    if len(full) <= MAX_CHILD_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    keep = MAX_CHILD_NAME - len(suffix) - len(digest) - 2
    return f"{owner.name[:keep].rstrip('-')}-{digest}-{suffix}"


def labels(owner: Owner, component: str, **extra: str) -> dict[str, str]:
    out = {
        "app.kubernetes.io/name": "predictflow",
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
        COMPONENT_LABEL: component,
        FS_LABEL: owner.name,
    }
    out.update(extra)
    return out


def selector(owner: Owner, component: str, **extra: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": owner.name, COMPONENT_LABEL: component, **extra}


def metadata(owner: Owner, name: str, component: str, **extra_labels: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels(owner, component, **extra_labels),
        "ownerReferences": [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": owner.name,
                "uid": owner.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def checksum(*parts: Any) -> str:
    """A stable digest of inputs whose change must roll pods (config, secret contents)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def pod_security_context(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
