"""The operator's declared permissions (predictflow_operator.rbac) keep up with what its builders make.

The golden files of the builder tests hold every child object the builders produce; each kind must
be covered by the verb the reconcilers use for it, so a new child kind fails here, not in a cluster.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
import yaml
import lightkube.resources
from lightkube.codecs import resource_registry
from lightkube.core.resource import GlobalResource, NamespacedResource

from predictflow_operator import rbac
from predictflow_devtools.paths import REPO_ROOT

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parent / "golden"
CRDS = REPO_ROOT / "crds"
# Generated Secrets are created once and never overwritten (Kube.create_if_absent); every other
# child is server-side applied (Kube.apply: a PATCH, authorized as create too for a new object).
CREATED_ONCE = {"Secret"}


def child_kinds() -> set[tuple[str, str]]:
    kinds = set()
    for path in sorted(GOLDEN.glob("*.yaml")):
        kinds |= {(doc["apiVersion"], doc["kind"]) for doc in yaml.safe_load_all(path.read_text()) if doc}
    return kinds


def group_and_plural(api_version: str, kind: str) -> tuple[str, str]:
    info = resource_registry.load(api_version, kind)._api_info
    return info.resource.group, info.plural


def test_golden_files_cover_the_children_of_every_store():
    names = {kind for _, kind in child_kinds()}
    assert {"StatefulSet", "Secret", "ConfigMap", "Service", "CronJob", "Job", "Deployment", "PodDisruptionBudget"} <= names


@pytest.mark.parametrize("api_version, kind", sorted(child_kinds()))
def test_every_child_kind_is_granted_the_verbs_that_write_it(api_version, kind):
    group, plural = group_and_plural(api_version, kind)
    verbs = {"create"} if kind in CREATED_ONCE else {"create", "patch"}
    assert {(group, plural, verb) for verb in verbs} <= rbac.namespaced_grants()


def test_the_operator_never_replaces_secrets_and_only_watches_pods():
    granted = rbac.cluster_wide_grants()
    # patch: the rendered Redis ACL Secret is applied, a Redis auth Secret gets the keys it lacks, and
    # an ElastiCache token Secret is rotated, released and adopted, each write conditional on what it
    # read; no verb replaces a Secret wholesale
    assert ("", "secrets", "update") not in granted and ("", "secrets", "patch") in granted
    assert {verb for _, resource, verb in granted if resource == "pods"} == {"list", "watch"}
    assert not {grant for grant in granted if grant[1] in ("pods/exec", "pods/log", "nodes", "namespaces", "clusterroles")}
    assert all(verb != "*" and resource != "*" for _, resource, verb in granted)


def api_scopes() -> dict[tuple[str, str], str]:
    """(group, plural) -> Namespaced | Cluster, as Kubernetes' own API models (and this project's
    CRD) declare them: an expectation that owes nothing to predictflow_operator.rbac."""
    scopes: dict[tuple[str, str], str] = {}
    for module in pkgutil.iter_modules(lightkube.resources.__path__):
        for value in vars(importlib.import_module(f"lightkube.resources.{module.name}")).values():
            if isinstance(value, type) and issubclass(value, (NamespacedResource, GlobalResource)) and hasattr(value, "_api_info"):
                info = value._api_info
                scopes[(info.resource.group, info.plural)] = "Namespaced" if issubclass(value, NamespacedResource) else "Cluster"
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        scopes[(crd["spec"]["group"], crd["spec"]["names"]["plural"])] = crd["spec"]["scope"]
    return scopes


def scope(scopes: dict[tuple[str, str], str], group: str, resource: str) -> str:
    return scopes[(group, resource.split("/")[0])]  # a subresource has its resource's scope


def test_namespaced_mode_grants_only_namespaced_resources():
    scopes = api_scopes()
    assert {(group, resource) for group, resource, _ in rbac.namespaced_grants() if scope(scopes, group, resource) != "Namespaced"} == set()


def test_cluster_wide_mode_adds_only_the_crd_watch_of_cluster_scoped_resources():
    scopes = api_scopes()
    cluster_scoped = {(group, resource, verb) for group, resource, verb in rbac.cluster_wide_grants() if scope(scopes, group, resource) == "Cluster"}
    assert cluster_scoped == {("apiextensions.k8s.io", "customresourcedefinitions", "list"), ("apiextensions.k8s.io", "customresourcedefinitions", "watch")}
