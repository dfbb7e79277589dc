"""The Kubernetes permissions the operator's code uses, declared as data.

The Helm chart grants exactly these (tests compare its rendered RBAC with this list) and no more.
How the code uses each: the reconcilers go through `clients.kube.Kube`, where `apply` is a
server-side apply (a PATCH, which the API server also authorizes as `create` when the object does
not exist yet), `create_if_absent` a CREATE, and `get`, `list` and `delete` what they say (`apply` reads the child
first and writes only when its manifest changed); kopf lists and watches FeatureStores and the
children whose changes wake a pass, patches the finalizer, and posts Events. kopf runs with standalone peering, so it needs no peering objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import GROUP, PLURAL


@dataclass(frozen=True)
class Rule:
    group: str  # "" is the core API group
    resource: str
    verbs: tuple[str, ...]
    why: str


APPLY = ("create", "patch")  # Kube.apply: server-side apply creates and updates

# Needed in every namespace whose FeatureStores the operator handles.
WATCH = ("list", "watch")
NAMESPACED: tuple[Rule, ...] = (
    Rule(GROUP, PLURAL, ("list", "watch", "patch"), "kopf watches FeatureStores and patches their finalizer"),
    Rule(GROUP, f"{PLURAL}/status", ("patch",), "each pass writes the status fields that changed"),
    Rule("", "events", ("create",), "kopf posts Events for the FeatureStore"),
    Rule(
        "",
        "secrets",
        ("create", "get", "patch", "delete", *WATCH),
        "generated Redis passwords and ElastiCache AUTH tokens are created once (a Redis auth Secret lacking a user's key gets it added); "
        "the Redis ACL Secret is applied when changed; Secrets are read for checksums and watched so a rotation rolls the pods; "
        "an ElastiCache token Secret is patched to rotate its token, released when its group is retained and adopted again; "
        "retired stores' Secrets are deleted",
    ),
    Rule("", "configmaps", (*APPLY, "get", "list", "delete"), "Redis and Feast configs are applied when changed; stale Feast configs are listed and deleted"),
    Rule("", "services", (*APPLY, "get", "delete"), "Redis and serving Services are applied when changed, and deleted when a store retires"),
    Rule("", "pods", WATCH, "backfill pods report the rows they wrote in their termination message; a Redis Cluster's pods are where the operator forms it"),
    Rule("", "persistentvolumeclaims", ("get", "patch"), "a larger spec.onlineStore.redis.persistence.size expands the Redis volumes"),
    Rule("apps", "statefulsets", (*APPLY, "get", *WATCH, "delete"), "the in-cluster Redis is applied, watched for readiness, and deleted when it retires"),
    Rule(
        "apps",
        "deployments",
        (*APPLY, "get", *WATCH, "delete"),
        "the serving Deployment is applied, watched for its rollout, and deleted when serving is disabled",
    ),
    Rule("batch", "cronjobs", (*APPLY, "get"), "the materialization CronJob is applied when changed"),
    Rule("batch", "jobs", (*APPLY, "get", *WATCH, "delete"), "backfill Jobs are started, watched, listed for the last run and cancelled"),
    Rule("policy", "poddisruptionbudgets", (*APPLY, "get", "delete"), "serving's and Redis' PodDisruptionBudgets are applied with replicas, deleted without"),
    Rule(
        "autoscaling",
        "horizontalpodautoscalers",
        (*APPLY, "get", "delete"),
        "serving's HorizontalPodAutoscaler is applied with spec.serving.autoscaling, deleted without",
    ),
    Rule(
        "networking.k8s.io",
        "networkpolicies",
        (*APPLY, "get", "delete"),
        "the NetworkPolicy in front of Redis is applied; serving's optional one is applied or deleted",
    ),
)

# Cluster-wide mode only: kopf observes CRDs so that a FeatureStore CRD installed or replaced
# after the operator started is served without a restart. In namespaced mode kopf does without
# (it scans the API once at start), so that mode needs no cluster-scoped permission at all.
CLUSTER_WIDE_ONLY: tuple[Rule, ...] = (
    Rule("apiextensions.k8s.io", "customresourcedefinitions", ("list", "watch"), "kopf notices CRDs added or changed at run time"),
)

# With leaderElection.enabled, in the operator's own namespace only: the Lease the replicas take turns on.
LEADER_ELECTION: tuple[Rule, ...] = (
    Rule("coordination.k8s.io", "leases", ("get", "create", "update"), "the leader renews the Lease; a standby takes it once it expires"),
)

Grant = tuple[str, str, str]  # (API group, resource, verb)


def grants(rules: tuple[Rule, ...]) -> set[Grant]:
    return {(rule.group, rule.resource, verb) for rule in rules for verb in rule.verbs}


def cluster_wide_grants() -> set[Grant]:
    return grants(NAMESPACED + CLUSTER_WIDE_ONLY)


def namespaced_grants() -> set[Grant]:
    return grants(NAMESPACED)
