"""Kubernetes access for the reconcilers: server-side apply under one field manager, plus reads.

Reconcilers get an OwnedKube: it writes, patches and deletes only objects that carry the
FeatureStore's owner reference, so a child name that collides with someone else's object (a Helm
release called like the FeatureStore, say) leaves that object untouched and is reported instead.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from typing import Any

from lightkube import ApiError, AsyncClient, codecs
from lightkube.codecs import resource_registry
from lightkube.core.client import LabelSelector
from lightkube.core.resource import NamespacedResource
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import CascadeType, PatchType

from .. import FIELD_MANAGER, GROUP, KIND, PLURAL, VERSION

UNREAD = object()  # apply(): the caller has not read the live object
# The digest of what the operator last applied to a child: equal digests mean nothing to write.
APPLIED_ANNOTATION = f"{GROUP}/applied"

# Every kind the operator reads is named by a DNS-1123 subdomain; anything else (a `../` segment)
# would change the request's URL rather than name an object.
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

FeatureStoreResource = create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)


def resource_type(api_version: str, kind: str) -> type[NamespacedResource]:
    """The lightkube class of a kind; every kind the operator touches lives in a namespace."""
    if (api_version, kind) == (f"{GROUP}/{VERSION}", KIND):
        return FeatureStoreResource
    res = resource_registry.load(api_version, kind)
    if not issubclass(res, NamespacedResource):
        raise ValueError(f"{kind} ({api_version}) is cluster-scoped; the operator handles namespaced objects only")
    return res


class ChildError(Exception):
    """The API server refused a write to a child: its kind, name and the server's own message."""

    def __init__(self, verb: str, kind: str, name: str, error: ApiError) -> None:
        status = error.status
        causes = (status.details.causes if status.details else None) or []
        fields = ", ".join(dict.fromkeys(c.field for c in causes if c.field))
        self.code = status.code or 0
        self.reason = status.reason or "Error"
        self.message = f"{verb} {kind} {name}: {status.message}" + (f" (field {fields})" if fields else "")
        super().__init__(self.message)


class NotOwned(Exception):
    """A child's name is taken by an object this FeatureStore does not own."""

    def __init__(self, kind: str, name: str, live: dict[str, Any]) -> None:
        owners = ", ".join(f"{ref.get('kind')} {ref.get('name')}" for ref in live["metadata"].get("ownerReferences") or []) or "none"
        self.message = (
            f"{kind} {name} already exists and is not owned by this FeatureStore (its owners: {owners}); "
            "it is left untouched: remove it or rename the FeatureStore"
        )
        super().__init__(self.message)


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


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
        if isinstance(live, dict):  # a precondition: the very object that was read, not one re-created since
            manifest = {**manifest, "metadata": {**meta, "uid": live["metadata"]["uid"]}}
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

    async def apply_as(self, manifest: dict[str, Any], field_manager: str, uid: str) -> dict[str, Any]:
        """Server-side apply of a few fields under another field manager, to object `uid` only."""
        res = resource_type(manifest["apiVersion"], manifest["kind"])
        meta = {**manifest["metadata"], "uid": uid}
        try:
            applied = await self.client.patch(
                res,
                meta["name"],
                {**manifest, "metadata": meta},
                namespace=meta["namespace"],
                patch_type=PatchType.APPLY,
                field_manager=field_manager,
                force=True,
            )
        except ApiError as error:
            raise ChildError("applying", manifest["kind"], meta["name"], error) from error
        return _as_dict(applied)

    async def create(self, manifest: dict[str, Any]) -> bool:
        """Create, never overwrite: False when the name is already taken."""
        obj = codecs.from_dict(manifest)
        try:
            await self.client.create(obj, field_manager=FIELD_MANAGER)  # into the namespace of its metadata
        except ApiError as error:
            if error.status.code == 409:
                return False
            raise ChildError("creating", manifest["kind"], manifest["metadata"]["name"], error) from error
        return True

    async def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        if not _OBJECT_NAME.fullmatch(name) or len(name) > 253:
            raise ValueError(f"{kind} name {name!r} is not a valid object name")
        try:
            return _as_dict(await self.client.get(resource_type(api_version, kind), name, namespace=namespace))
        except ApiError as error:
            if error.status.code == 404:
                return None
            raise

    async def list(self, api_version: str, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        res = resource_type(api_version, kind)
        selector: LabelSelector = {**labels}  # lightkube's own type: its values may be operators too
        return [_as_dict(obj) async for obj in self.client.list(res, namespace=namespace, labels=selector)]

    async def delete(self, live: dict[str, Any], orphan: bool = False) -> bool:
        """Delete the object that was read, in the background (children follow by garbage collection,
        or are left running with `orphan`); a UID precondition keeps a re-created namesake safe.
        True if this call deleted it."""
        meta = live["metadata"]
        kind = live["kind"]
        res = resource_type(live["apiVersion"], kind)
        # lightkube's delete() sends no body, and preconditions travel only in DeleteOptions.
        request = self.client._client.prepare_request("delete", res, name=meta["name"], namespace=meta["namespace"])
        request.data = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": meta["uid"]},
            "propagationPolicy": (CascadeType.ORPHAN if orphan else CascadeType.BACKGROUND).value,
        }
        try:
            response = await self.client._client.send(self.client._client.build_adapter_request(request))
            self.client._client.raise_for_status(response)
        except ApiError as error:
            if error.status.code in (404, 409):  # gone, or a namesake with another UID: not ours to delete
                return False
            raise ChildError("deleting", kind, meta["name"], error) from error
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


class OwnedKube:
    """The client one FeatureStore's reconcile uses: reads pass through; every write, patch and
    delete first checks that the object carries this FeatureStore's owner reference (or, for
    objects a child makes, such as a StatefulSet's claims, that child's)."""

    def __init__(self, kube: Kube, uid: str) -> None:
        self.kube = kube
        self.uid = uid

    async def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        return await self.kube.get(api_version, kind, name, namespace)

    async def list(self, api_version: str, kind: str, namespace: str, labels: dict[str, str], owners: set[str] | None = None) -> list[dict[str, Any]]:
        """Only the objects this FeatureStore owns (or, with `owners`, one of those children owns),
        whatever else carries the labels."""
        uids = owners if owners is not None else {self.uid}
        return [obj for obj in await self.kube.list(api_version, kind, namespace, labels) if any(owned_by(obj, uid) for uid in uids)]

    async def list_for_reading(self, api_version: str, kind: str, namespace: str, labels: dict[str, str]) -> builtins.list[dict[str, Any]]:
        """Every object with the labels, whoever owns it: for reads that must see a child's own
        children (a Deployment's pods belong to its ReplicaSets). Nothing listed here is written."""
        return await self.kube.list(api_version, kind, namespace, labels)

    async def adopt(self, live: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
        """Merge-patch an object no controller owns yet (a retained Secret whose marks the caller has
        checked name this FeatureStore), e.g. to add this FeatureStore's owner reference."""
        meta = live["metadata"]
        if any(ref.get("controller") for ref in meta.get("ownerReferences") or []):
            raise NotOwned(live.get("kind", ""), meta["name"], live)
        patch = {**patch, "metadata": {**(patch.get("metadata") or {}), "uid": meta["uid"]}}
        return await self.kube.merge_patch(live.get("apiVersion", "v1"), live.get("kind", ""), meta["name"], meta["namespace"], patch)

    def _check(self, kind: str, live: dict[str, Any], owner_uid: str | None = None) -> None:
        if not owned_by(live, owner_uid or self.uid):
            raise NotOwned(kind, live["metadata"]["name"], live)

    async def apply(self, manifest: dict[str, Any], live: dict[str, Any] | None | object = UNREAD) -> dict[str, Any]:
        meta = manifest["metadata"]
        if live is UNREAD:
            live = await self.kube.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"])
        if isinstance(live, dict):
            self._check(manifest["kind"], live)
        return await self.kube.apply(manifest, live=live)

    async def apply_as(self, manifest: dict[str, Any], field_manager: str, live: dict[str, Any]) -> dict[str, Any]:
        """Fields of `live`, an object this FeatureStore owns, applied under another field manager."""
        self._check(manifest["kind"], live)
        return await self.kube.apply_as(manifest, field_manager, live["metadata"]["uid"])

    async def create_if_absent(self, manifest: dict[str, Any]) -> bool:
        """Create once and never overwrite (generated secrets, Jobs). True when created now; an
        existing object costs no write, and one this FeatureStore does not own is reported."""
        meta = manifest["metadata"]
        live = await self.kube.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"])
        if live is not None:
            self._check(manifest["kind"], live)
            return False
        return await self.kube.create(manifest)

    async def delete(self, api_version: str, kind: str, name: str, namespace: str, orphan: bool = False) -> bool:
        """True if it existed and this call deleted it. Reads first, so deleting what is gone costs
        no write; an object this FeatureStore does not own is reported, never deleted."""
        live = await self.kube.get(api_version, kind, name, namespace)
        if live is None:
            return False
        live = {**live, "apiVersion": api_version, "kind": kind}
        self._check(kind, live)
        return await self.kube.delete(live, orphan=orphan)

    async def merge_patch(
        self, api_version: str, kind: str, name: str, namespace: str, patch: dict[str, Any], owner_uid: str | None = None
    ) -> dict[str, Any] | None:
        """None when the object is gone."""
        live = await self.kube.get(api_version, kind, name, namespace)
        if live is None:
            return None
        self._check(kind, live, owner_uid)
        patch = {**patch, "metadata": {**(patch.get("metadata") or {}), "uid": live["metadata"]["uid"]}}
        return await self.kube.merge_patch(api_version, kind, name, namespace, patch)

    async def patch_status(self, name: str, namespace: str, status: dict[str, Any]) -> dict[str, Any]:
        return await self.kube.patch_status(name, namespace, status)
