"""The FeatureStore API: spec and status models.

These models are the single source of truth for the CRD: `python -m predictflow_operator.api.crd`
renders crds/ from them (descriptions, defaults, enums, bounds and CEL rules included), and a unit
test fails when the committed CRD drifts from the models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Feast's RepoConfig accepts word characters only and no leading underscore.
FEAST_PROJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_]*$"
QUANTITY_PATTERN = r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
REDIS_MEMORY_PATTERN = r"^$|^[0-9]+(b|kb|k|mb|m|gb|g)?$"
HOST_PORT_PATTERN = r"^$|^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[0-9]{1,5}$"
# Object names as the API server validates them (DNS-1123 subdomains): no path or shell meaning.
DNS_SUBDOMAIN_PATTERN = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A Secret or ConfigMap key: the API server's own character set, and never `.` or `..`.
DATA_KEY_PATTERN = r"^$|^[-._a-zA-Z0-9]*[-_a-zA-Z0-9][-._a-zA-Z0-9]*$"
# An image reference: registry/path:tag@digest characters only.
IMAGE_PATTERN = r"^$|^[A-Za-z0-9][A-Za-z0-9._/:@-]*$"
# A path inside a pod or a bucket: plain characters; `..` segments are refused by NO_DOT_DOT_RULE.
PATH_CHARACTERS = r"[A-Za-z0-9._/=+-]*"
NO_DOT_DOT_RULE = "!self.matches('(^|/)[.][.](/|$)')"
CRON_FIELD = r"[0-9A-Za-z*/,?-]+"
CRON_RULE = f"self.matches('^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$') || self.matches('^{CRON_FIELD}( +{CRON_FIELD}){{4}}$')"


def _rules(*rules: tuple[str, str]) -> dict:
    return {"x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]}


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


_RESOURCE_NAMES = _rules(
    ("self.all(name, name.matches('^[a-z0-9]([-a-z0-9./]*[a-z0-9])?$') && size(name) <= 63)", "resource names are like cpu, memory or nvidia.com/gpu")
)


class Resources(_Model):
    """Compute resources, as in a container's `resources`."""

    limits: dict[str, int | str] = Field(
        default_factory=dict, max_length=16, json_schema_extra=_RESOURCE_NAMES, description="Maximum resources, e.g. {cpu: 500m, memory: 512Mi}."
    )
    requests: dict[str, int | str] = Field(
        default_factory=dict, max_length=16, json_schema_extra=_RESOURCE_NAMES, description="Guaranteed resources, e.g. {cpu: 100m, memory: 128Mi}."
    )


# Label keys and values, as the API server validates them.
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LabelValue = Annotated[str, Field(pattern=r"^$|^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", max_length=63)]
LabelKey = Annotated[str, Field(pattern=LABEL_KEY_PATTERN, max_length=317)]
_LABELS = _rules(
    ("self.all(k, k.matches('^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$') && size(k) <= 317)", "keys must be label keys"),
)
# Kubernetes' own schema is large and the API server checks it when the operator applies the pod
# template, with its own message in the condition; the CRD keeps it as given.
_KUBERNETES_OBJECT: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}


class Toleration(_Model):
    model_config = ConfigDict(json_schema_extra=_rules(("self.operator != 'Exists' || self.value == ''", "a toleration with operator Exists has no value")))

    key: str = Field("", pattern=r"^$|" + LABEL_KEY_PATTERN, max_length=317, description="The taint key; empty with operator Exists: every taint.")
    operator: Literal["Equal", "Exists"] = Field("Equal", description="Equal matches the value; Exists any value.")
    value: LabelValue = Field("", description="The taint value, with operator Equal.")
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] = Field("", description="The taint effect; empty: every effect.")
    toleration_seconds: int | None = Field(None, description="With NoExecute: how long the pod stays bound after the taint appears.")


class TopologySpreadConstraint(_Model):
    max_skew: int = Field(1, ge=1, description="How unevenly the pods may spread over the topology's domains.")
    topology_key: LabelKey = Field(..., description="The node label whose values are the domains, e.g. topology.kubernetes.io/zone.")
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"] = Field("DoNotSchedule", description="Keep a pod pending, or schedule it anyway.")
    min_domains: int | None = Field(None, ge=1, description="With DoNotSchedule: the fewest domains the skew is computed over.")
    match_label_keys: list[LabelKey] = Field(
        default_factory=list, max_length=8, description="Pod label keys whose values narrow the selection, e.g. pod-template-hash."
    )
    # The label selector is always the component's own pods: the operator sets it.


class Placement(_Model):
    """Where a component's pods run: the pod spec's own fields, passed through."""

    node_selector: dict[str, LabelValue] = Field(default_factory=dict, max_length=16, json_schema_extra=_LABELS, description="Node labels the pods require.")
    tolerations: list[Toleration] = Field(default_factory=list, max_length=16, description="Taints the pods tolerate.")
    affinity: dict[str, Any] = Field(
        default_factory=dict,
        json_schema_extra=_KUBERNETES_OBJECT,
        description="A pod's affinity (nodeAffinity, podAffinity, podAntiAffinity), as in a pod spec.",
    )
    topology_spread_constraints: list[TopologySpreadConstraint] | None = Field(
        None,
        max_length=8,
        description="How the pods spread over nodes and zones; each constraint selects the component's own pods. "
        "Absent: the component's default (serving spreads over nodes and zones where it can); []: none.",
    )
    priority_class_name: str = Field("", pattern=DNS_SUBDOMAIN_PATTERN, max_length=253, description="The pods' PriorityClass; empty: the cluster default.")


class SecretKeyRef(_Model):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    name: str = Field("", pattern=DNS_SUBDOMAIN_PATTERN, max_length=253, description="Name of a Secret in the FeatureStore's namespace.")
    key: str = Field("", pattern=DATA_KEY_PATTERN, max_length=253, description="Key inside the Secret.")


class FeatureRepo(_Model):
    image: str = Field(
        "",
        pattern=IMAGE_PATTERN,
        max_length=512,
        description="Image that holds the Feast repo (definitions .py files) at `path`. Empty: the operator's runtime image, which ships the churn example.",
    )
    config_map: str = Field(
        "",
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Name of a ConfigMap whose keys are the repo's .py files; mounted at `path` instead of using the image's copy.",
    )
    path: str = Field(
        "/opt/feature_repo",
        pattern=f"^/{PATH_CHARACTERS}$",
        max_length=256,
        json_schema_extra=_rules((NO_DOT_DOT_RULE, "spec.featureRepo.path must not contain '..' segments")),
        description="Absolute path of the Feast repo inside the pods: letters, digits and . _ / = + - only.",
    )


class OfflineStore(_Model):
    path: str = Field(
        "/opt/feature_repo/data",
        pattern=f"^(/|s3://){PATH_CHARACTERS}$",
        max_length=1024,
        json_schema_extra=_rules((NO_DOT_DOT_RULE, "spec.offlineStore.path must not contain '..' segments")),
        description="Where the Parquet offline store lives: an absolute path inside the runtime image, "
        "or an s3://bucket/prefix (letters, digits and . _ / = + - only).",
    )


class RedisPersistence(_Model):
    enabled: bool = Field(True, description="Keep data on a PersistentVolumeClaim per Redis pod.")
    size: str = Field("1Gi", pattern=QUANTITY_PATTERN, max_length=32, description="Size of each Redis pod's volume, e.g. 1Gi.")
    storage_class_name: str = Field("", pattern=DNS_SUBDOMAIN_PATTERN, max_length=253, description="StorageClass of the volume; empty: the cluster default.")
    append_only: bool = Field(
        True,
        description="AOF persistence (appendfsync everysec) on the primary, so a restarted primary never comes back empty. RDB snapshots are kept too.",
    )


class RedisTls(_Model):
    secret_name: str = Field(
        "",
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="A Secret with tls.crt, tls.key and ca.crt (cert-manager's layout): Redis then serves TLS only, "
        "and clients verify it with ca.crt. The certificate must name <instance>.<namespace>.svc. Empty: plain TCP.",
    )


class RedisMetrics(_Model):
    enabled: bool = Field(
        False,
        description="Run a Prometheus exporter (Debian's prometheus-redis-exporter, from the project's Redis image) beside each Redis "
        "container, on port 9121 named metrics, as its own read-only ACL user.",
    )
    resources: Resources = Field(
        default_factory=Resources, description="Resources of each exporter container; what is given replaces the default of that resource."
    )


class RedisStore(Placement):
    model_config = ConfigDict(
        json_schema_extra=_rules(
            (
                "!has(self.shards) || self.shards == 1 || self.shards >= 3",
                "spec.onlineStore.redis.shards: a Redis Cluster needs at least 3 shards (its primaries vote on failovers); use 1 or 3 and more",
            ),
        )
    )

    image: str = Field(
        "",
        pattern=IMAGE_PATTERN,
        max_length=512,
        description="Redis server image; empty: the operator's default (redis:7-alpine unless the chart sets another).",
    )
    replicas: int = Field(
        0,
        ge=0,
        le=5,
        description="Replicas of each primary (0-5). With shards >= 3 a replica takes over when its primary fails (Redis Cluster's "
        "failover); with one shard they keep copies of the data.",
    )
    shards: int = Field(
        1,
        ge=1,
        le=16,
        description="Primaries the keys are spread over (1, or 3-16). More than one is a Redis Cluster the operator forms, "
        "with automatic failover to a shard's replica; changing it replaces the store through the switch.",
    )
    persistence: RedisPersistence = Field(default_factory=RedisPersistence, description="Durability of the in-cluster Redis.")
    max_memory: str = Field(
        "",
        pattern=REDIS_MEMORY_PATTERN,
        max_length=32,
        description="Redis maxmemory, e.g. 512mb; empty: no cap. Pair with maxMemoryPolicy.",
    )
    max_memory_policy: Literal[
        "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"
    ] = Field("noeviction", description="What Redis evicts once maxMemory is reached.")
    resources: Resources = Field(
        default_factory=Resources,
        description="Resources of each Redis container; what is given replaces the default of that resource (the memory defaults follow maxMemory).",
    )
    tls: RedisTls = Field(default_factory=RedisTls, description="TLS for the in-cluster Redis; turning it on or off replaces the store through the switch.")
    metrics: RedisMetrics = Field(default_factory=RedisMetrics, description="The optional Redis exporter sidecar.")


class ElastiCacheStore(_Model):
    model_config = ConfigDict(
        json_schema_extra=_rules(
            (
                "!has(self.mode) || self.mode != 'existing' || (has(self.endpoint) && self.endpoint != '')",
                "spec.onlineStore.elasticache.endpoint (host:port) is required when mode is existing",
            ),
            (
                "!has(self.mode) || self.mode != 'existing' || (has(self.authSecretRef) && has(self.authSecretRef.name) && self.authSecretRef.name != '')",
                "spec.onlineStore.elasticache.authSecretRef.name is required when mode is existing",
            ),
        )
    )

    mode: Literal["managed", "existing"] = Field(
        "managed",
        description="managed: the operator creates a replication group through the AWS API. "
        "existing: use `endpoint` and `authSecretRef`; nothing is created in AWS.",
    )
    region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$", max_length=32, description="AWS region, e.g. us-east-1.")
    node_type: str = Field("cache.t4g.small", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$", max_length=64, description="ElastiCache node type (managed mode).")
    replicas: int = Field(1, ge=0, le=5, description="Read replicas of each primary (managed mode, 0-5); >0 enables automatic failover and Multi-AZ.")
    shards: int = Field(
        1,
        ge=1,
        le=64,
        description="Node groups. More than one is cluster mode (NumNodeGroups, `replicas` per shard), read as a Redis Cluster; "
        "changing it replaces the group through the switch. Existing mode: more than one says `endpoint` is a cluster's configuration endpoint.",
    )
    engine_version: str = Field("7.1", pattern=r"^[0-9]+(\.[0-9]+){0,2}$", max_length=16, description="Redis engine version (managed mode).")
    subnet_group_name: str = Field(
        "", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9-]*$", max_length=255, description="Cache subnet group for the replication group (managed mode)."
    )
    security_group_ids: list[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$", max_length=20)]] = Field(
        default_factory=list, max_length=5, description="VPC security groups of the replication group (managed mode), e.g. sg-0123456789abcdef0."
    )
    endpoint: str = Field("", pattern=HOST_PORT_PATTERN, max_length=261, description="Primary endpoint host:port (existing mode).")
    ca_secret_ref: SecretKeyRef = Field(
        default_factory=SecretKeyRef,
        description="Secret key holding a PEM CA bundle to verify the endpoint's TLS certificate; empty: the system trust store.",
    )
    auth_secret_ref: SecretKeyRef = Field(
        default_factory=SecretKeyRef,
        description="Secret key holding the AUTH token (existing mode). Managed mode generates its own.",
    )
    deletion_policy: Literal["Retain", "Delete"] = Field("Retain", description="Managed mode: what happens to the replication group when it is no longer used.")


class OnlineStore(_Model):
    type: Literal["redis", "elasticache"] = Field(
        "redis",
        description="The online store serving features: redis (in-cluster StatefulSet) or elasticache. "
        "Changing it switches stores without ever serving an empty one.",
    )
    key_ttl_seconds: int = Field(
        0, ge=0, alias="keyTTLSeconds", description="Expire entities this many seconds after their last write (long-tail eviction); 0: never."
    )
    memory_pressure_percent: int = Field(
        80,
        ge=1,
        le=100,
        description="MemoryPressure turns True when Redis uses this share of its cap: maxmemory, or else the Redis container's memory limit.",
    )
    redis: RedisStore = Field(default_factory=RedisStore, description="Settings used when type is redis.")
    elasticache: ElastiCacheStore = Field(default_factory=ElastiCacheStore, description="Settings used when type is elasticache.")


class Materialization(Placement):
    schedule: str = Field(
        "*/30 * * * *",
        max_length=128,
        json_schema_extra=_rules(
            (CRON_RULE, "spec.materialization.schedule must be a 5-field cron expression such as '*/30 * * * *', or a macro such as @hourly")
        ),
        description="Cron schedule of the incremental materialization CronJob.",
    )
    suspend: bool = Field(False, description="Pause scheduled materialization (backfills still run).")
    image: str = Field("", pattern=IMAGE_PATTERN, max_length=512, description="Runtime image running Feast; empty: the operator's default runtime image.")
    resources: Resources = Field(
        default_factory=Resources, description="Resources of the materialization and backfill containers; what is given replaces the default of that resource."
    )
    freshness_threshold_seconds: int = Field(
        0,
        ge=0,
        description="Fresh turns False when a feature view's watermark is older than this; 0: three intervals of the schedule.",
    )
    backfill_parallelism: int = Field(
        1,
        ge=1,
        le=64,
        description="Pods of a backfill Job (an Indexed Job), each writing a disjoint slice of the entities; the switch waits for all of them.",
    )


class ServingNetworkPolicy(_Model):
    enabled: bool = Field(False, description="Admit connections to the serving port only from the namespaces and pods below.")
    allowed_namespace_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=8,
        json_schema_extra=_LABELS,
        description="Labels of the namespaces whose pods may call serving; empty: the FeatureStore's own namespace only.",
    )
    allowed_pod_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=8,
        json_schema_extra=_LABELS,
        description="Labels of the pods that may call serving; empty: every pod of those namespaces.",
    )


class Autoscaling(_Model):
    model_config = ConfigDict(
        json_schema_extra=_rules(
            (
                "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
                "spec.serving.autoscaling.minReplicas must not exceed maxReplicas",
            ),
        )
    )

    enabled: bool = Field(
        False, description="A HorizontalPodAutoscaler owns the serving replica count (spec.serving.replicas is then unused); it needs the metrics API."
    )
    min_replicas: int = Field(1, ge=1, le=100, description="The fewest serving pods.")
    max_replicas: int = Field(3, ge=1, le=100, description="The most serving pods.")
    target_cpu_utilization_percentage: int = Field(
        80,
        alias="targetCPUUtilizationPercentage",
        ge=1,
        le=1000,
        description="Average CPU use of the serving pods, as a percentage of their CPU request, the autoscaler keeps them at.",
    )


class Serving(Placement):
    enabled: bool = Field(True, description="Run the BentoML serving Deployment.")
    image: str = Field("", pattern=IMAGE_PATTERN, max_length=512, description="BentoML service image; empty: the operator's default churn example service.")
    replicas: int = Field(1, ge=0, le=100, description="Serving pods, unless autoscaling is enabled.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="Scale serving with its CPU use.")
    liveness_checks_redis: bool = Field(True, description="The liveness probe checks Redis reachability too, with a long failure window (6 x 10 s).")
    on_store_down: Literal["stale", "unavailable"] = Field(
        "stale",
        description="When Redis is unreachable: stale answers from a bounded cache of last-seen features flagged stale: true; unavailable answers 503.",
    )
    ttl_expired_features: Literal["missing", "present"] = Field(
        "missing",
        description="missing: a feature value older than its feature view's ttl reads as missing (Feast's OUTSIDE_MAX_AGE); "
        "present: it is returned, as Feast's online read returns it (feast-dev/feast#6821).",
    )
    resources: Resources = Field(
        default_factory=Resources, description="Resources of each serving container; what is given replaces the default of that resource."
    )
    network_policy: ServingNetworkPolicy = Field(
        default_factory=ServingNetworkPolicy, description="An optional NetworkPolicy in front of the serving pods (the Redis one is always there)."
    )


class FeatureStoreSpec(_Model):
    project: str = Field(
        ...,
        pattern=FEAST_PROJECT_PATTERN,
        max_length=63,
        description="Feast project name: letters, digits and underscores, not starting with an underscore.",
    )
    feature_repo: FeatureRepo = Field(default_factory=FeatureRepo, description="Where the Feast definitions live.")
    offline_store: OfflineStore = Field(default_factory=OfflineStore, description="The Parquet offline store materialization reads.")
    online_store: OnlineStore = Field(default_factory=OnlineStore, description="The online store serving features.")
    materialization: Materialization = Field(default_factory=Materialization, description="Scheduled materialization into the online store.")
    serving: Serving = Field(default_factory=Serving, description="The BentoML model-serving Deployment.")


STORE_STATES = ("Provisioning", "Backfilling", "Verifying", "CuttingOver", "Serving", "Retiring")


class StoreRecord(_Model):
    """One online store as the operator recorded it when it became pending: everything it takes to
    reach and to retire it, so a later spec edit never changes how an old store is read or retired."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    type: str = Field("", description="redis or elasticache.")
    mode: str = Field("", description="elasticache: managed or existing; empty for redis.")
    name: str = Field("", description="What the store is called where it runs: the StatefulSet, or the replication group id.")
    endpoint: str = Field("", description="host:port clients connect to.")
    shards: int = Field(0, description="The primaries of a Redis Cluster; 0: a single primary.")
    tls: bool = Field(False, description="Clients connect over TLS.")
    auth_secret_ref: SecretKeyRef = Field(default_factory=SecretKeyRef, description="The Secret key holding the password or AUTH token.")
    ca_secret_ref: SecretKeyRef = Field(default_factory=SecretKeyRef, description="The Secret key holding a PEM CA bundle, if any.")
    region: str = Field("", description="AWS region (elasticache).")
    deletion_policy: str = Field("", description="What retiring does: Delete or Retain.")
    generation: int = Field(0, description="The spec generation this store was first prepared for.")
    state: str = Field("", description="Provisioning | Backfilling | Verifying | CuttingOver | Serving | Retiring.")
    backfill_job: str = Field("", description="The backfill Job that fills this store.")


class StoreShard(_Model):
    """One entry of status.onlineStore.topology: a Redis Cluster shard as its pods last told the
    operator. Not part of the store's record (StoreRecord ignores it); api.crd places it in the schema."""

    slots: str = Field("", description="The hash slots the shard holds, e.g. 0-5460.")
    primary: str = Field("", description="The pod that is the shard's primary.")
    replicas: list[str] = Field(default_factory=list, description="The pods that replicate it.")


class StoreMemory(_Model):
    """status.onlineStore.memory: what the operator last read from the serving store's INFO. It moves
    only when the figures change materially (capacity.memory_status), so a store at rest costs no
    writes. Not part of the store's record (StoreRecord ignores it); api.crd places it in the schema."""

    used_bytes: int = Field(0, description="Redis used_memory, from INFO.")
    max_bytes: int = Field(0, description="The cap pressure is judged against; 0: none known.")
    max_source: Literal["", "maxmemory", "containerLimit"] = Field("", description="Where maxBytes comes from.")
    used_percent: int = Field(0, description="usedBytes as a share of maxBytes.")
    evicted_keys: int = Field(0, description="Keys Redis evicted at its cap since it started.")
    expired_keys: int = Field(0, description="Keys that expired (keyTTLSeconds) since Redis started.")


class ViewFreshness(_Model):
    feature_view: str = Field("", description="The feature view.")
    watermark: str = Field("", description="End of its last successful materialization (RFC 3339).")
    stale_at: str = Field("", description="When it becomes older than the threshold, unless materialized again.")


class Freshness(_Model):
    threshold_seconds: int = Field(0, description="How old a watermark may be before Fresh turns False.")
    oldest_watermark: str = Field("", description="The oldest view's watermark; kubectl shows its age in the FRESHNESS column.")
    views: list[ViewFreshness] = Field(default_factory=list, description="Per feature view, read from the watermarks in the serving store.")


class MonthlyCost(_Model):
    amount: float | None = Field(None, description="nodes x hourlyPrice x 730 hours; absent when the price list has no price for the node type.")
    currency: str = Field("USD", description="Currency of the price list.")
    node_type: str = Field("", description="The replication group's node type, as AWS reports it.")
    nodes: int = Field(0, description="Nodes in the replication group, as AWS reports them.")
    hourly_price: float | None = Field(None, description="On-demand list price of one node-hour.")
    price_list_date: str = Field("", description="The date of the price list the estimate comes from.")
    note: str = Field("", description="What the estimate leaves out.")


class LastMaterialization(_Model):
    job: str = Field("", description="Name of the Job.")
    start: str = Field("", description="When the Job started (RFC 3339).")
    end: str = Field("", description="When the Job finished (RFC 3339).")
    succeeded: bool = Field(False, description="Whether it succeeded.")


class Condition(_Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""
    observed_generation: int = 0


class FeatureStoreStatus(_Model):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    observed_generation: int = Field(0, description="The spec generation the status describes.")
    phase: Literal["", "Pending", "Provisioning", "Materializing", "Switching", "Ready", "Degraded", "Failed"] = Field(
        "", description="Pending | Provisioning | Materializing | Switching | Ready | Degraded | Failed."
    )
    online_store: StoreRecord = Field(default_factory=StoreRecord, description="The online store serving traffic now.")
    pending_online_store: StoreRecord = Field(default_factory=StoreRecord, description="During a switch: the store being prepared.")
    retiring_online_stores: list[StoreRecord] = Field(default_factory=list, description="Stores no longer used, deleted once serving has rolled off them.")
    last_materialization: LastMaterialization = Field(default_factory=LastMaterialization, description="The newest finished materialization.")
    freshness: Freshness | None = Field(None, description="How old the serving store's features are, per feature view.")
    estimated_monthly_cost: MonthlyCost | None = Field(
        None, description="An estimate of a managed ElastiCache store's on-demand node cost, from a dated price list; not a bill."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="OnlineStoreReady, Materialized, ServingReady, Ready; Fresh and MemoryPressure, which Ready does not wait on."
    )


def parse_spec(spec: dict) -> FeatureStoreSpec:
    return FeatureStoreSpec.model_validate(spec)
