"""The Kubernetes permissions the operator's code uses, declared as data.

The Helm chart grants exactly these (tests compare its rendered RBAC with this list) and no more.
How the code uses each: the reconcilers go through `clients.kube.Kube`, where `apply` is a
server-side apply (a PATCH, which the API server also authorizes as `create` when the object does
not exist yet), `create_if_absent` a CREATE, and `get`, `list` and `delete` what they say; kopf lists and watches FeatureStores, patches them (finalizer, progress annotations) and
their status, and posts Events. kopf runs with standalone peering, so it needs no peering objects.
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
NAMESPACED: tuple[Rule, ...] = (
    Rule(GROUP, PLURAL, ("list", "watch", "patch"), "kopf watches FeatureStores and patches finalizers and progress annotations"),
    Rule(GROUP, f"{PLURAL}/status", ("patch",), "kopf writes the status the reconcile returns"),
    Rule("", "events", ("create",), "kopf posts Events for the FeatureStore"),
    Rule("", "secrets", ("create", "get", "delete"),
         "generated Redis passwords and ElastiCache AUTH tokens are created once; user Secrets are read for checksums; retired stores' Secrets are deleted"),
    Rule("", "configmaps", (*APPLY, "list", "delete"), "Redis and Feast configs are applied; stale Feast configs are listed and deleted"),
    Rule("", "services", (*APPLY, "delete"), "Redis and serving Services are applied, and deleted when a store retires"),
    Rule("apps", "statefulsets", (*APPLY, "delete"), "the in-cluster Redis is applied, and deleted when it retires"),
    Rule("apps", "deployments", (*APPLY, "delete"), "the serving Deployment is applied, and deleted when serving is disabled"),
    Rule("batch", "cronjobs", APPLY, "the materialization CronJob is applied"),
    Rule("batch", "jobs", (*APPLY, "get", "list", "delete"), "backfill Jobs are started, watched, listed for the last run and cancelled"),
    Rule("policy", "poddisruptionbudgets", (*APPLY, "delete"), "serving's PodDisruptionBudget is applied with two or more replicas, deleted below"),
)

# Cluster-wide mode only: kopf observes CRDs so that a FeatureStore CRD installed or replaced
# after the operator started is served without a restart. In namespaced mode kopf does without
# (it scans the API once at start), so that mode needs no cluster-scoped permission at all.
CLUSTER_WIDE_ONLY: tuple[Rule, ...] = (
    Rule("apiextensions.k8s.io", "customresourcedefinitions", ("list", "watch"), "kopf notices CRDs added or changed at run time"),
)

Grant = tuple[str, str, str]  # (API group, resource, verb)


def grants(rules: tuple[Rule, ...]) -> set[Grant]:
    return {(rule.group, rule.resource, verb) for rule in rules for verb in rule.verbs}


def cluster_wide_grants() -> set[Grant]:
    return grants(NAMESPACED + CLUSTER_WIDE_ONLY)


def namespaced_grants() -> set[Grant]:
    return grants(NAMESPACED)
