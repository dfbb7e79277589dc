"""`helm install` of the operator chart into a real control plane.

The chart installs the CRD, the RBAC and the operator Deployment; the operator's ServiceAccount may do
exactly what predictflow_operator.rbac declares (`kubectl auth can-i`); and the operator, started with
that account's token and the Deployment's own arguments and environment (playing the kubelet, which
this tier does not run), brings a FeatureStore to Ready, in both the cluster-wide and the namespaced mode.

The module starts its own control plane: the session one has the CRD already, and this one proves
that the chart creates it.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from lightkube import ApiError, Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Namespace, Pod, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding

from predictflow_devtools import processes
from predictflow_devtools.paths import REPO_ROOT, python_path
from predictflow_devtools.controlplane import ControlPlane, ControlPlaneInfo
from predictflow_devtools.featurestores import apply_featurestore, bring_to_ready, children, status
from predictflow_devtools.pytest_plugin import binaries_dir, kubectl_binary
from predictflow_devtools.waiting import eventually
from predictflow_operator import rbac

pytestmark = pytest.mark.controlplane

CHART = REPO_ROOT / "charts" / "predictflow-operator"
CRD_NAME = "featurestores.predictflow.io"
SPEC = {"project": "churn", "materialization": {"schedule": "*/30 * * * *"}}
# What every authenticated identity may do (the system:basic-user ClusterRole).
SELF_REVIEWS = {
    ("authentication.k8s.io", "selfsubjectreviews", "create"),
    ("authorization.k8s.io", "selfsubjectaccessreviews", "create"),
    ("authorization.k8s.io", "selfsubjectrulesreviews", "create"),
}


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str

    @property
    def fullname(self) -> str:
        return f"{self.name}-predictflow-operator"

    @property
    def account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.fullname}"


@pytest.fixture(scope="module")
def plane(tmp_path_factory) -> Iterator[ControlPlaneInfo]:
    control_plane = ControlPlane(binaries_dir(), tmp_path_factory.mktemp("helm-plane"))
    info = control_plane.start()
    try:
        yield info
    finally:
        control_plane.stop()


@pytest.fixture(scope="module")
def admin(plane) -> Iterator[Client]:
    client = Client(config=KubeConfig.from_file(str(plane.kubeconfig)), field_manager="predictflow-tests")
    yield client
    client.close()


def run(plane: ControlPlaneInfo, *command: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        list(command), capture_output=True, text=True, timeout=120, env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done


def helm(plane: ControlPlaneInfo, *args: str) -> subprocess.CompletedProcess:
    return run(plane, str(REPO_ROOT / "bin" / "helm"), *args)


def kubectl(plane: ControlPlaneInfo, *args: str) -> subprocess.CompletedProcess:
    return run(plane, str(kubectl_binary()), *args)


def create_namespaces(admin: Client, *names: str) -> None:
    for name in names:
        admin.create(Namespace(metadata=ObjectMeta(name=name)))


@pytest.fixture(scope="module")
def cluster_wide(plane, admin) -> Release:
    """The default install, into a namespace that enforces the restricted Pod Security Standard."""
    release = Release("pf", "predictflow-system")
    with pytest.raises(ApiError):
        admin.get(CustomResourceDefinition, CRD_NAME)
    admin.create(Namespace(metadata=ObjectMeta(name=release.namespace, labels={"pod-security.kubernetes.io/enforce": "restricted"})))
    installed = helm(plane, "install", release.name, str(CHART), "--namespace", release.namespace)
    assert f"kubectl -n {release.namespace} rollout status deployment/{release.fullname}" in installed.stdout
    return release


@pytest.fixture(scope="module")
def namespaced(plane, admin, cluster_wide) -> Release:
    """A second release that handles only the namespace ml-team (other-team is left alone)."""
    create_namespaces(admin, "ml-team", "other-team")
    release = Release("pf-ml", "predictflow-ml")
    helm(plane, "install", release.name, str(CHART), "--namespace", release.namespace, "--create-namespace",
         "--set", "watch.namespaces={ml-team}")
    return release


def resource_grants(plane: ControlPlaneInfo, account: str, namespace: str) -> set[rbac.Grant]:
    """What `kubectl auth can-i --list` says the account may do on resources in `namespace`."""
    listed = kubectl(plane, "auth", "can-i", "--list", f"--as={account}", "--namespace", namespace).stdout
    grants = set()
    for line in listed.splitlines()[1:]:
        match = re.match(r"^(\S+)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$", line)
        if match is None:  # non-resource URLs (/healthz, /api, ...) start with blanks
            continue
        name, _, names, verbs = match.groups()
        assert not names, f"{line}: grants limited to resource names are not expected"
        base, _, subresource = name.partition("/")
        resource, _, group = base.partition(".")
        for verb in verbs.split():
            grants.add((group, f"{resource}/{subresource}" if subresource else resource, verb))
    return grants


def can_i(plane: ControlPlaneInfo, account: str, *query: str) -> bool:
    done = subprocess.run(
        [str(kubectl_binary()), "auth", "can-i", f"--as={account}", *query],
        capture_output=True, text=True, timeout=60, env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)},
    )
    assert done.stdout.strip() in ("yes", "no"), done.stdout + done.stderr
    return done.stdout.strip() == "yes"


@contextlib.contextmanager
def operator_of(release: Release, plane: ControlPlaneInfo, admin: Client, workdir: Path) -> Iterator[tuple[Path, int]]:
    """Run the operator as its Deployment says, with a token of its ServiceAccount: (log, liveness port)."""
    deployment = admin.get(Deployment, release.fullname, namespace=release.namespace)
    [container] = deployment.spec.template.spec.containers
    port = processes.free_port()
    args = [re.sub(r":\d+/healthz$", f":{port}/healthz", arg) for arg in container.args]
    token = kubectl(plane, "create", "token", release.fullname, "--namespace", release.namespace, "--duration=1h").stdout.strip()
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "plane", "cluster": {"server": plane.server, "certificate-authority": str(plane.ca_cert)}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "plane", "user": "operator"}}],
    }))
    kubeconfig.chmod(0o600)
    # the kubelet's part for the downward API: the pod's namespace is the release's
    fields = {"metadata.namespace": release.namespace}
    env = {
        **os.environ,
        **{item.name: item.value if item.valueFrom is None else fields[item.valueFrom.fieldRef.fieldPath] for item in container.env},
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": python_path(),
        "PREDICTFLOW_RESYNC_SECONDS": "600",  # the chart's 300 s; the test's steps are driven by watches
    }
    log = workdir / "operator.log"
    process = processes.spawn([sys.executable, *container.command[1:], *args], log, tie_to_parent=True, env=env)
    try:
        yield log, port
    finally:
        processes.terminate([process.pid], grace=10)


def healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        return response.status


def test_helm_install_creates_the_crd_the_rbac_and_the_operator_deployment(plane, admin, cluster_wide):
    eventually(
        lambda: any(c.type == "Established" and c.status == "True" for c in admin.get(CustomResourceDefinition, CRD_NAME).status.conditions or []),
        what="the CRD to be established",
    )
    assert admin.get(ServiceAccount, cluster_wide.fullname, namespace=cluster_wide.namespace)
    role = admin.get(ClusterRole, cluster_wide.fullname)
    binding = admin.get(ClusterRoleBinding, cluster_wide.fullname)
    assert binding.roleRef.name == role.metadata.name
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [("ServiceAccount", cluster_wide.fullname, cluster_wide.namespace)]
    deployment = admin.get(Deployment, cluster_wide.fullname, namespace=cluster_wide.namespace)
    assert (deployment.spec.replicas, deployment.spec.strategy.type) == (1, "Recreate")
    assert deployment.spec.template.spec.serviceAccountName == cluster_wide.fullname
    # The ReplicaSet's pod passes the namespace's restricted Pod Security admission (and stays
    # Pending: this tier runs no scheduler or kubelet).
    eventually(lambda: list(admin.list(Pod, namespace=cluster_wide.namespace)), what="the operator pod to be admitted")
    assert "STATUS: deployed" in helm(plane, "status", cluster_wide.name, "--namespace", cluster_wide.namespace).stdout


def test_the_cluster_wide_account_may_do_what_the_operator_declares_and_no_more(plane, admin, cluster_wide):
    create_namespaces(admin, "any-team")
    assert resource_grants(plane, cluster_wide.account, "any-team") == rbac.cluster_wide_grants() | SELF_REVIEWS
    account = cluster_wide.account
    assert can_i(plane, account, "patch", "featurestores.predictflow.io", "--subresource=status", "-n", "any-team")
    assert can_i(plane, account, "create", "secrets", "-n", "any-team")
    assert can_i(plane, account, "watch", "customresourcedefinitions.apiextensions.k8s.io")
    # watches that wake a pass: its own Secrets (label-selected) and its backfill pods' reports
    assert can_i(plane, account, "watch", "secrets", "-n", "any-team") and can_i(plane, account, "watch", "pods", "-n", "any-team")
    # patch: the ElastiCache token Secrets it controls (rotation, release, adoption)
    assert can_i(plane, account, "patch", "secrets", "-n", "any-team")
    for denied in (
        ("update", "secrets"), ("create", "pods"), ("get", "pods"), ("delete", "pods"),
        ("create", "pods/exec"),
        ("delete", "featurestores.predictflow.io"), ("create", "featurestores.predictflow.io"),
        ("create", "roles.rbac.authorization.k8s.io"), ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
    ):
        assert not can_i(plane, account, *denied, "-n", "any-team"), denied
    assert not can_i(plane, account, "list", "namespaces")
    assert not can_i(plane, account, "create", "clusterrolebindings.rbac.authorization.k8s.io")


def test_the_operator_with_the_cluster_wide_account_brings_a_featurestore_to_ready(plane, admin, cluster_wide, tmp_path):
    create_namespaces(admin, "churn-team")
    with operator_of(cluster_wide, plane, admin, tmp_path) as (log, port):
        apply_featurestore(admin, "churn-team", SPEC)
        bring_to_ready(admin, "churn-team")
        assert healthz(port) == 200
        assert status(admin, "churn-team")["phase"] == "Ready"
    events = [e for e in admin.list(Event, namespace="churn-team") if e.involvedObject.kind == "FeatureStore"]
    assert events, "the operator posted no Events"
    text = log.read_text(errors="replace")
    assert "forbidden" not in text.lower(), text[-3000:]


def test_the_namespaced_release_has_roles_only_where_it_watches(plane, admin, namespaced):
    [role] = admin.list(Role, namespace="ml-team", labels={"app.kubernetes.io/instance": namespaced.name})
    [binding] = admin.list(RoleBinding, namespace="ml-team", labels={"app.kubernetes.io/instance": namespaced.name})
    assert binding.roleRef.name == role.metadata.name == namespaced.fullname
    assert not list(admin.list(ClusterRole, labels={"app.kubernetes.io/instance": namespaced.name}))
    assert not list(admin.list(Role, namespace="other-team"))
    assert resource_grants(plane, namespaced.account, "ml-team") == rbac.namespaced_grants() | SELF_REVIEWS
    assert resource_grants(plane, namespaced.account, "other-team") == SELF_REVIEWS
    assert not can_i(plane, namespaced.account, "list", "customresourcedefinitions.apiextensions.k8s.io")


def test_the_namespaced_operator_serves_its_namespace_and_leaves_the_others_alone(plane, admin, namespaced, tmp_path):
    with operator_of(namespaced, plane, admin, tmp_path) as (log, port):
        apply_featurestore(admin, "other-team", SPEC)
        apply_featurestore(admin, "ml-team", SPEC)
        bring_to_ready(admin, "ml-team")
        assert healthz(port) == 200
    assert status(admin, "other-team") == {} and not children(admin, "other-team")
    # With Roles only, the operator must not even try what they do not allow (such as kopf's
    # cluster-wide scans of namespaces and CRDs, which it would retry for a minute before starting).
    text = log.read_text(errors="replace")
    assert "forbidden" not in text.lower(), text[-3000:]


def test_helm_uninstall_removes_the_operator_and_keeps_the_crd(plane, admin, cluster_wide):
    release = Release("pf-brief", "predictflow-brief")
    helm(plane, "install", release.name, str(CHART), "--namespace", release.namespace, "--create-namespace")
    assert admin.get(ClusterRole, release.fullname)
    helm(plane, "uninstall", release.name, "--namespace", release.namespace, "--wait")
    assert not list(admin.list(ClusterRole, labels={"app.kubernetes.io/instance": release.name}))
    assert not list(admin.list(Deployment, namespace=release.namespace))
    assert admin.get(CustomResourceDefinition, CRD_NAME)
