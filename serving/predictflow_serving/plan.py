"""What to read for a set of feature references, computed once from the Feast definitions.

Feast's Redis layout (feast/infra/online_stores/redis.py, entity key serialization v3):
- one hash per entity key: serialize_entity_key(join keys sorted by name, their values) + project;
- one field per feature: the murmur3 (x86, 32-bit, little-endian) hash of "<view>:<feature>",
  holding a serialized `Value`;
- one field per feature view, `_ts:<view>`, holding the event time as a serialized `Timestamp`;
- `<view>` is the versioned name (`<view>_v<N>`) when the registry enables online versioning;
- `key_ttl_seconds` is an EXPIRE on the whole hash, so an expired entity is simply absent.

A feature view's `ttl` is not enforced by Feast's online read (feast-dev/feast#6821: values older
than it come back as present). A plan enforces it by default, as Feast's OUTSIDE_MAX_AGE status
means: a view whose event time is older than `now - ttl` reads as missing (its features None, its
event time None). `respect_ttl=False` reads as Feast does.

A plan precomputes the key prefixes, the HMGET field lists and a decoder per field; at request
time only the entity values are packed and the replies decoded.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import call
from typing import Any, ClassVar

from feast import Entity, FeatureService, FeatureStore, FeatureView
from feast.feature_view import DUMMY_ENTITY_NAME
from feast.infra.online_stores.helpers import _mmh3, compute_versioned_name
from feast.value_type import ValueType

import predictflow_contract as contract

from .wire import Decoder, decode_event_timestamp, decoder_for, event_seconds

SUPPORTED_SERIALIZATION_VERSION = 3
_UINT32 = struct.Struct("<I")
_ENTITY_VALUE_HEADER = struct.Struct("<II")


class FeatureResult:
    """The features of one entity row, as Feast's `get_online_features(...).to_dict()` has them.

    `features` maps each requested feature's output name to its value (None when missing) and
    is shared with the stale cache: read it, do not change it. Event timestamps are decoded
    only when asked for: serving rarely needs them.
    """

    __slots__ = ("features", "_views", "_raw_timestamps")

    stale: ClassVar[bool] = False
    """True when the store was unreachable and these are the last features seen for the entity."""

    def __init__(self, features: dict[str, Any], views: tuple[str, ...], raw_timestamps: Sequence[bytes | None]):
        self.features = features
        self._views = views
        self._raw_timestamps = raw_timestamps

    @property
    def found(self) -> bool:
        """Whether the store holds a row for this entity in any of the requested views."""
        return any(raw is not None for raw in self._raw_timestamps)

    @property
    def event_timestamps(self) -> dict[str, datetime | None]:
        """Per feature view; None when the store has no row for the entity in that view."""
        return {view: decode_event_timestamp(raw) for view, raw in zip(self._views, self._raw_timestamps, strict=True)}

    def as_stale(self) -> StaleFeatureResult:
        """The same features and event times, flagged as answered without the store."""
        return StaleFeatureResult(self.features, self._views, self._raw_timestamps)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(features={self.features!r}, event_timestamps={self.event_timestamps!r})"


class StaleFeatureResult(FeatureResult):
    __slots__ = ()
    stale: ClassVar[bool] = True


FeatureRow = FeatureResult  # the name the read path's callers have used


def _entity_value_encoder(value_type: ValueType) -> Callable[[Any], bytes]:
    """How serialize_entity_key (v3) writes one entity value: type, length, little-endian bytes."""
    if value_type == ValueType.INT64:
        packer = struct.Struct("<IIq")
        return lambda value: packer.pack(ValueType.INT64.value, 8, int(value))
    if value_type == ValueType.INT32:
        packer = struct.Struct("<IIi")
        return lambda value: packer.pack(ValueType.INT32.value, 4, int(value))
    if value_type == ValueType.STRING:
        return lambda value: _length_prefixed(ValueType.STRING, str(value).encode("utf-8"))
    if value_type == ValueType.BYTES:
        return lambda value: _length_prefixed(ValueType.BYTES, bytes(value))
    raise ValueError(f"entity keys of type {value_type.name} are not supported by the fast lookup")


def _length_prefixed(value_type: ValueType, raw: bytes) -> bytes:
    return _ENTITY_VALUE_HEADER.pack(value_type.value, len(raw)) + raw


@dataclass(frozen=True)
class KeyGroup:
    """Feature views keyed by the same join keys: one hash, one HMGET per entity row.

    The HMGET asks for every feature field first, then one `_ts:<view>` field per view.
    """

    join_keys: tuple[str, ...]  # sorted, as serialize_entity_key orders them
    key_prefix: bytes
    value_encoders: tuple[Callable[[Any], bytes], ...]
    fields: tuple[bytes, ...]
    output_names: tuple[str, ...]
    decoders: tuple[Decoder, ...]
    views: tuple[str, ...]
    ttl_seconds: tuple[float, ...] = ()  # per view, 0: no ttl
    view_outputs: tuple[tuple[int, ...], ...] = ()  # per view, the positions of its features in output_names

    @property
    def expires(self) -> bool:
        return any(self.ttl_seconds)

    def cutoffs(self, now: float) -> list[tuple[int, float, tuple[int, ...]]]:
        """Per view with a ttl: its event time's place in a reply, the oldest event time still
        served at `now`, and its features' places."""
        first_ts = len(self.output_names)
        return [(first_ts + view, now - ttl, self.view_outputs[view]) for view, ttl in enumerate(self.ttl_seconds) if ttl]

    def decode(self, reply: Sequence[bytes | None], cutoffs: Sequence[tuple[int, float, tuple[int, ...]]]) -> tuple[list[Any], list[bytes | None]]:
        """Feature values and raw event times of one HMGET reply; views older than their cutoff
        read as missing."""
        first_ts = len(self.output_names)
        values = list(map(call, self.decoders, reply))
        stamps = list(reply[first_ts:])
        for at, cutoff, outputs in cutoffs:
            raw = reply[at]
            if raw is not None and event_seconds(raw) < cutoff:
                stamps[at - first_ts] = None
                for position in outputs:
                    values[position] = None
        return values, stamps

    def redis_key(self, row: Mapping[str, Any], project_suffix: bytes) -> bytes:
        if len(self.value_encoders) == 1:
            value = self.value_encoders[0](row[self.join_keys[0]])
        else:
            value = b"".join(encode(row[key]) for key, encode in zip(self.join_keys, self.value_encoders, strict=True))
        return self.key_prefix + value + project_suffix


@dataclass(frozen=True)
class LookupPlan:
    project: str
    groups: tuple[KeyGroup, ...]
    output_names: tuple[str, ...]
    respect_ttl: bool = True

    @property
    def join_keys(self) -> tuple[str, ...]:
        return tuple(sorted({key for group in self.groups for key in group.join_keys}))

    def commands(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[bytes, tuple[bytes, ...]]]:
        """One (key, fields) HMGET per row and key group, rows outermost."""
        suffix = self.project.encode("utf-8")
        return [(group.redis_key(row, suffix), group.fields) for row in rows for group in self.groups]

    def decode(self, replies: Sequence[Sequence[bytes | None]], now: float | None = None) -> list[FeatureResult]:
        """FeatureResults from the HMGET replies to `commands(rows)`, in the same order; ttls are judged
        at `now` (default: the clock) unless the plan reads as Feast does."""
        expiring = self.respect_ttl and any(group.expires for group in self.groups)
        judged_at = (time.time() if now is None else now) if expiring else 0.0
        if len(self.groups) == 1:
            group = self.groups[0]
            names, views = group.output_names, group.views
            if not expiring:
                decoders, first_ts = group.decoders, len(names)
                return [FeatureResult(dict(zip(names, map(call, decoders, reply), strict=True)), views, reply[first_ts:]) for reply in replies]
            cutoffs = group.cutoffs(judged_at)
            rows = []
            for reply in replies:
                values, stamps = group.decode(reply, cutoffs)
                rows.append(FeatureResult(dict(zip(names, values, strict=True)), views, stamps))
            return rows
        per_group = [group.cutoffs(judged_at) if expiring else [] for group in self.groups]
        results = []
        per_row = len(self.groups)
        for start in range(0, len(replies), per_row):
            features: dict[str, Any] = {}
            view_names: list[str] = []
            raw_timestamps: list[bytes | None] = []
            for group, cutoffs, reply in zip(self.groups, per_group, replies[start : start + per_row], strict=True):
                values, stamps = group.decode(reply, cutoffs)
                features.update(zip(group.output_names, values, strict=True))
                view_names.extend(group.views)
                raw_timestamps.extend(stamps)
            results.append(FeatureResult(features, tuple(view_names), raw_timestamps))
        return results


def parse_feature_reference(reference: str) -> tuple[str, str]:
    view, sep, feature = reference.partition(":")
    if not sep or not view or not feature:
        raise ValueError(f"feature reference {reference!r} is not '<feature_view>:<feature>'")
    if "@" in view:
        raise ValueError(f"versioned feature reference {reference!r} is not supported by the fast lookup")
    return view, feature


def build_plan(
    project: str,
    feature_views: Sequence[FeatureView],
    entities: Sequence[Entity],
    references: Sequence[str],
    *,
    full_feature_names: bool = False,
    online_versioning: bool = False,
    entity_key_serialization_version: int = SUPPORTED_SERIALIZATION_VERSION,
    respect_ttl: bool = True,
) -> LookupPlan:
    """A plan for `references` ("view:feature") given the registry's views and entities;
    `respect_ttl=False` returns values older than their view's ttl, as Feast does."""
    if entity_key_serialization_version != SUPPORTED_SERIALIZATION_VERSION:
        raise ValueError(f"entity_key_serialization_version {entity_key_serialization_version} is not supported; use 3")
    views_by_name = {view.name: view for view in feature_views}
    requested: dict[str, list[str]] = {}
    for reference in references:
        view_name, feature = parse_feature_reference(reference)
        view = views_by_name.get(view_name)
        if view is None:
            raise ValueError(f"feature view {view_name!r} is not in project {project!r}")
        if feature not in {field.name for field in view.features}:
            raise ValueError(f"feature {feature!r} is not in feature view {view_name!r}")
        requested.setdefault(view_name, []).append(feature)

    output_names = [f"{view}__{feature}" if full_feature_names else feature for view, features in requested.items() for feature in features]
    duplicates = sorted({name for name in output_names if output_names.count(name) > 1})
    if duplicates:
        raise ValueError(f"feature names {duplicates} collide; use full_feature_names")

    entities_by_name = {entity.name: entity for entity in entities}
    by_join_keys: dict[tuple[str, ...], list[tuple[FeatureView, list[str]]]] = {}
    key_types: dict[str, ValueType] = {}
    for view_name, features in requested.items():
        view = views_by_name[view_name]
        view_key_types = _join_key_types(view, entities_by_name)
        key_types.update(view_key_types)
        by_join_keys.setdefault(tuple(sorted(view_key_types)), []).append((view, features))

    groups = tuple(_key_group(join_keys, members, key_types, full_feature_names, online_versioning) for join_keys, members in by_join_keys.items())
    return LookupPlan(project=project, groups=groups, output_names=tuple(output_names), respect_ttl=respect_ttl)


def _join_key_types(view: FeatureView, entities_by_name: Mapping[str, Entity]) -> dict[str, ValueType]:
    """A view's join keys and their types: its entity columns once registered, else its entities."""
    if view.entity_columns:
        return {column.name: column.dtype.to_value_type() for column in view.entity_columns}
    types: dict[str, ValueType] = {}
    for name in view.entities:
        entity = entities_by_name.get(name)
        if entity is None or name == DUMMY_ENTITY_NAME:
            raise ValueError(f"feature view {view.name!r}: entity {name!r} is not supported by the fast lookup")
        types[entity.join_key] = entity.value_type
    return types


def _key_group(
    join_keys: tuple[str, ...],
    members: list[tuple[FeatureView, list[str]]],
    key_types: Mapping[str, ValueType],
    full_feature_names: bool,
    online_versioning: bool,
) -> KeyGroup:
    encoders = tuple(_entity_value_encoder(key_types[key]) for key in join_keys)
    prefix = [_UINT32.pack(len(join_keys))]
    for key in join_keys:
        prefix.append(_length_prefixed(ValueType.STRING, key.encode("utf-8")))

    fields: list[bytes] = []
    names: list[str] = []
    decoders: list[Decoder] = []
    stored_names: list[str] = []
    view_outputs: list[tuple[int, ...]] = []
    for view, features in members:
        stored = compute_versioned_name(view, online_versioning)
        stored_names.append(stored)
        types = {field.name: field.dtype.to_value_type() for field in view.features}
        view_outputs.append(tuple(range(len(names), len(names) + len(features))))
        for feature in features:
            fields.append(_mmh3(f"{stored}:{feature}"))
            names.append(f"{view.name}__{feature}" if full_feature_names else feature)
            decoders.append(decoder_for(types[feature]))
    fields.extend(f"_ts:{stored}".encode() for stored in stored_names)
    return KeyGroup(
        join_keys=join_keys,
        key_prefix=b"".join(prefix),
        value_encoders=encoders,
        fields=tuple(fields),
        output_names=tuple(names),
        decoders=tuple(decoders),
        views=tuple(view.name for view, _ in members),
        ttl_seconds=tuple(view.ttl.total_seconds() if view.ttl else 0.0 for view, _ in members),
        view_outputs=tuple(view_outputs),
    )


def feature_service_references(service: FeatureService) -> list[str]:
    """The "view:feature" references a FeatureService selects, in its order, as Feast resolves them.

    Projections that rename join keys or pin a view version change what Feast reads in ways the
    fast lookup does not follow; they are refused rather than read differently."""
    references: list[str] = []
    for projection in service.feature_view_projections:
        if projection.join_key_map:
            raise ValueError(f"feature service {service.name!r}: join key mapping of {projection.name!r} is not supported by the fast lookup")
        if projection.version_tag is not None:
            raise ValueError(f"feature service {service.name!r}: a versioned projection of {projection.name!r} is not supported by the fast lookup")
        references.extend(f"{projection.name}:{field.name}" for field in projection.features)
    if not references:
        raise ValueError(f"feature service {service.name!r} selects no features")
    return references


def references_for_store(store: FeatureStore, features: Sequence[str] | None = None, feature_service: str | None = None) -> list[str]:
    """The references to read: `features` as given, or those of the store's FeatureService named `feature_service`."""
    if (features is None) == (feature_service is None):
        raise ValueError("name exactly one of features (feature references) or feature_service")
    if features is not None:
        if isinstance(features, str) or not features:
            raise ValueError("features must be a non-empty sequence of 'view:feature' references")
        return list(features)
    assert feature_service is not None
    return feature_service_references(store.get_feature_service(feature_service))


def plan_for_store(store: FeatureStore, references: Sequence[str], *, full_feature_names: bool = False, respect_ttl: bool = True) -> LookupPlan:
    """A plan from an opened Feast FeatureStore (its registry and feature_store.yaml)."""
    config = store.config
    online = config.online_store
    if getattr(online, "type", None) not in (contract.FEAST_ONLINE_STORE_TYPE, "feast.infra.online_stores.redis.RedisOnlineStore"):
        raise ValueError(f"the fast lookup reads Redis online stores, not {getattr(online, 'type', online)!r}")
    redis_type = str(getattr(getattr(online, "redis_type", None), "value", None) or contract.FEAST_REDIS_TYPE)
    if redis_type not in (contract.FEAST_REDIS_TYPE, contract.FEAST_REDIS_CLUSTER_TYPE):
        raise ValueError(f"the fast lookup reads Redis and Redis Cluster (redis_type: redis or redis_cluster), not {redis_type}")
    view_names = {parse_feature_reference(ref)[0] for ref in references}
    views = [store.get_feature_view(name) for name in sorted(view_names)]
    return build_plan(
        config.project,
        views,
        store.list_entities(),
        references,
        full_feature_names=full_feature_names,
        online_versioning=config.registry.enable_online_feature_view_versioning,
        entity_key_serialization_version=config.entity_key_serialization_version,
        respect_ttl=respect_ttl,
    )
