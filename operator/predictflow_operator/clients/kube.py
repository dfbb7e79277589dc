"""Kubernetes access for the reconcilers: server-side apply under one field manager, plus reads."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.codecs import resource_registry
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import CascadeType, PatchType

from .. import FIELD_MANAGER, GROUP, KIND, PLURAL, VERSION

UNREAD = object()  # apply(): the caller has not read the live object
# The digest of what the operator last applied to a child: equal digests mean nothing to write.
APPLIED_ANNOTATION = f"{GROUP}/applied"

FeatureStoreResource = create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)


def resource_type(api_version: str, kind: str) -> type:
    if (api_version, kind) == (f"{GROUP}/{VERSION}", KIND):
        return FeatureStoreResource
    return resource_registry.load(api_version, kind)


class ChildError(Exception):
    """The API server refused a write to a child: its kind, name and the server's own message."""

    def __init__(self, verb: str, kind: str, name: str, error: ApiError) -> None:
        status = error.status
        causes = [c for c in ((status.details.causes if status.details else None) or []) if c.field]
        fields = ", ".join(dict.fromkeys(c.field for c in causes))
        self.code = status.code or 0
        self.reason = status.reason or "Error"
        self.message = f"{verb} {kind} {name}: {status.message}" + (f" (field {fields})" if fields else "")
        super().__init__(self.message)


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.to_dict()


class Kube:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def apply(self, manifest: dict[str, Any], live: dict[str, Any] | None | object = UNREAD) -> dict[str, Any]:
        """Server-side apply, skipped when the live object carries the digest of this very manifest,
        so a FeatureStore at rest costs reads, never writes. A caller that read the object in this
        pass passes it as `live` (None: absent), saving the read."""
        res = resource_type(manifest["apiVersion"], manifest["kind"])
        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:20]
        meta = {**manifest["metadata"], "annotations": {**(manifest["metadata"].get("annotations") or {}), APPLIED_ANNOTATION: digest}}
        manifest = {**manifest, "metadata": meta}
        if live is UNREAD:
            live = await self.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"])
        if isinstance(live, dict) and (live["metadata"].get("annotations") or {}).get(APPLIED_ANNOTATION) == digest:
            return live
        try:
            applied = await self.client.patch(
                res,
                meta["name"],
                manifest,
                namespace=meta.get("namespace"),
                patch_type=PatchType.APPLY,
                field_manager=FIELD_MANAGER,
                force=True,
            )
        except ApiError as error:
            raise ChildError("applying", manifest["kind"], meta["name"], error) from error
        return _as_dict(applied)

    async def create_if_absent(self, manifest: dict[str, Any]) -> bool:
        """Create once and never overwrite (generated secrets). True when created now. Reads first, so
        an existing object costs no write."""
        meta = manifest["metadata"]
        if await self.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"]) is not None:
            return False
        obj = resource_type(manifest["apiVersion"], manifest["kind"]).from_dict(manifest)
        try:
            await self.client.create(obj, namespace=manifest["metadata"]["namespace"], field_manager=FIELD_MANAGER)
        except ApiError as error:
            if error.status.code == 409:
                return False
            raise ChildError("creating", manifest["kind"], manifest["metadata"]["name"], error) from error
        return True

    async def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        try:
            return _as_dict(await self.client.get(resource_type(api_version, kind), name, namespace=namespace))
        except ApiError as error:
            if error.status.code == 404:
                return None
            raise

    async def list(self, api_version: str, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        res = resource_type(api_version, kind)
        return [_as_dict(obj) async for obj in self.client.list(res, namespace=namespace, labels=labels)]

    async def delete(self, api_version: str, kind: str, name: str, namespace: str, orphan: bool = False) -> bool:
        """Delete in the background (children follow by garbage collection, or are left running with
        `orphan`). True if it existed. Reads first, so deleting what is already gone costs no write."""
        if await self.get(api_version, kind, name, namespace) is None:
            return False
        try:
            await self.client.delete(
                resource_type(api_version, kind), name, namespace=namespace,
                cascade=CascadeType.ORPHAN if orphan else CascadeType.BACKGROUND,
            )
        except ApiError as error:
            if error.status.code == 404:
                return False
            raise ChildError("deleting", kind, name, error) from error
        return True

    async def merge_patch(self, api_version: str, kind: str, name: str, namespace: str, patch: dict[str, Any]) -> dict[str, Any]:
        try:
            patched = await self.client.patch(resource_type(api_version, kind), name, patch, namespace=namespace, patch_type=PatchType.MERGE)
        except ApiError as error:
            raise ChildError("patching", kind, name, error) from error
        return _as_dict(patched)

    async def patch_status(self, name: str, namespace: str, status: dict[str, Any]) -> dict[str, Any]:
        """A merge patch of a FeatureStore's status (None values remove fields); returns the object."""
        patched = await self.client.patch(
            FeatureStoreResource.Status,
            name,
            {"status": status},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
        return _as_dict(patched)
