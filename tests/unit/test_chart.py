"""The operator's Helm chart: lint, renders for both modes, the schema, and the operator's RBAC.

The chart is rendered with the project's helm binary (`make tools` builds it into ./bin).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from predictflow_operator import cli, pricing, rbac
from predictflow_operator.api.models import RedisStore
from predictflow_operator.builders import redis as redis_builder
from predictflow_operator.settings import VERSION
from predictflow_devtools.paths import REPO_ROOT

pytestmark = pytest.mark.unit

CHART = REPO_ROOT / "charts" / "predictflow-operator"
RELEASE, NAMESPACE = "pf", "predictflow-system"
FULLNAME = f"{RELEASE}-predictflow-operator"
# Our Go-built helm assumes Kubernetes 1.20 unless told (its build sets no version ldflags).
KUBE_VERSION = os.environ.get("K8S_VERSION", "v1.34.4")


def helm(*args: str) -> subprocess.CompletedProcess:
    built = REPO_ROOT / "bin" / "helm"
    binary = str(built) if built.exists() else shutil.which("helm")
    assert binary, "helm is missing: run `make tools`"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def render(*options: str) -> list[dict[str, Any]]:
    done = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION, *options)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


def container(documents: list[dict[str, Any]]) -> dict[str, Any]:
    [deployment] = of_kind(documents, "Deployment")
    [operator] = deployment["spec"]["template"]["spec"]["containers"]
    return operator


def env(documents: list[dict[str, Any]]) -> dict[str, str]:
    return {item["name"]: item.get("value") for item in container(documents)["env"]}


def rule_grants(rules: list[dict[str, Any]]) -> set[rbac.Grant]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def test_helm_lint_strict_passes():
    done = helm("lint", "--strict", str(CHART))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_default_values_install_a_cluster_wide_operator():
    documents = render()
    assert sorted(doc["kind"] for doc in documents) == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "ServiceAccount", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    ]
    [deployment] = of_kind(documents, "Deployment")
    spec = deployment["spec"]
    assert (spec["replicas"], spec["strategy"]) == (1, {"type": "Recreate"})
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == FULLNAME
    assert pod["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"},
    }
    operator = container(documents)
    assert operator["image"] == f"predictflow/operator:{VERSION}"
    assert operator["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
    }
    assert operator["resources"]["requests"] and operator["resources"]["limits"]["memory"]
    assert operator["args"] == ["--liveness=http://0.0.0.0:8080/healthz", "--metrics=http://0.0.0.0:8081/metrics", "--log-format=full"]
    for probe in ("startupProbe", "livenessProbe"):
        assert operator[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert operator["ports"] == [{"name": "health", "containerPort": 8080}, {"name": "metrics", "containerPort": 8081}]
    assert {"name": "tmp", "mountPath": "/tmp"} in operator["volumeMounts"]
    assert env(documents) == {
        "PREDICTFLOW_RUNTIME_IMAGE": f"predictflow/runtime:{VERSION}",
        "PREDICTFLOW_SERVING_IMAGE": f"predictflow/serving:{VERSION}",
        "PREDICTFLOW_REDIS_IMAGE": "redis:7-alpine",
        "PREDICTFLOW_REDIS_EXPORTER_IMAGE": f"predictflow/redis:{VERSION}",
        "PREDICTFLOW_OPERATOR_NAMESPACE": None,  # from the pod's own metadata
        "PREDICTFLOW_OPERATOR_POD_LABELS": f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=predictflow-operator",
        "PREDICTFLOW_RESYNC_SECONDS": "300",
        "PREDICTFLOW_REQUIRE_SECRET_LABEL": "true",
    }
    [namespace] = [item for item in operator["env"] if item["name"] == "PREDICTFLOW_OPERATOR_NAMESPACE"]
    assert namespace["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    [deployment] = of_kind(documents, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/name": "predictflow-operator"}.items() <= pod_labels.items()
    [binding] = of_kind(documents, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == FULLNAME
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]


def test_cluster_wide_rbac_grants_exactly_what_the_operator_declares():
    [role] = of_kind(render(), "ClusterRole")
    assert rule_grants(role["rules"]) == rbac.cluster_wide_grants()
    assert not any("resourceNames" in rule or "nonResourceURLs" in rule for rule in role["rules"])


def test_namespaced_mode_has_a_role_per_namespace_and_nothing_cluster_scoped():
    documents = render("--set", "watch.namespaces={ml,ml-staging}")
    assert not of_kind(documents, "ClusterRole") and not of_kind(documents, "ClusterRoleBinding")
    roles, bindings = of_kind(documents, "Role"), of_kind(documents, "RoleBinding")
    assert sorted(role["metadata"]["namespace"] for role in roles) == ["ml", "ml-staging"]
    for role in roles:
        assert rule_grants(role["rules"]) == rbac.namespaced_grants()
    for binding in bindings:
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": FULLNAME}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    assert [arg for arg in container(documents)["args"] if arg.startswith("--namespace")] == [
        "--namespace=ml", "--namespace=ml-staging",
    ]


def test_leader_election_runs_replicas_on_a_lease_in_the_release_namespace_only():
    documents = render("--set", "leaderElection.enabled=true", "--set", "replicaCount=2")
    [deployment] = of_kind(documents, "Deployment")
    assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]) == (2, {"type": "RollingUpdate"})
    assert f"--leader-election-namespace={NAMESPACE}" in container(documents)["args"]
    pod_name = next(e for e in container(documents)["env"] if e["name"] == "POD_NAME")
    assert pod_name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    [role] = [r for r in of_kind(documents, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    assert role["metadata"]["namespace"] == NAMESPACE
    assert rule_grants(role["rules"]) == rbac.grants(rbac.LEADER_ELECTION)
    [cluster_role] = of_kind(documents, "ClusterRole")
    assert rule_grants(cluster_role["rules"]) == rbac.cluster_wide_grants()


def test_values_reach_the_operator():
    documents = render(
        "--set", "aws.region=eu-west-1",
        "--set", "aws.endpointUrl=http://moto.test:5000",
        "--set", "logging.level=debug",
        "--set", "logging.format=json",
        "--set", "image.tag=dev",
        "--set", "featureStoreDefaults.servingImage.repository=registry.example/ml/churn-serving",
        "--set-string", "featureStoreDefaults.servingImage.tag=2",
        "--set", "featureStoreDefaults.redisImage.repository=predictflow/redis",
        "--set-string", "featureStoreDefaults.redisImage.tag=0.1.0",
        "--set", "resyncSeconds=60",
        "--set", "policy.requireSecretLabel=false",
        "--set-json", 'pricing.elasticache={"date": "2027-01-15", "hourly": {"eu-west-1": {"cache.t4g.small": 0.036}}}',
        "--set-string", "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111122223333:role/pf",
        "--set", "extraEnv[0].name=PREDICTFLOW_ELASTICACHE_POLL_SECONDS",
        "--set-string", "extraEnv[0].value=10",
    )
    operator = container(documents)
    assert operator["image"] == "predictflow/operator:dev"
    assert "--verbose" in operator["args"] and "--log-format=json" in operator["args"]
    assert env(documents) == {
        "PREDICTFLOW_RUNTIME_IMAGE": f"predictflow/runtime:{VERSION}",
        "PREDICTFLOW_SERVING_IMAGE": "registry.example/ml/churn-serving:2",
        "PREDICTFLOW_REDIS_IMAGE": "predictflow/redis:0.1.0",
        "PREDICTFLOW_REDIS_EXPORTER_IMAGE": f"predictflow/redis:{VERSION}",
        "PREDICTFLOW_OPERATOR_NAMESPACE": None,
        "PREDICTFLOW_OPERATOR_POD_LABELS": f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=predictflow-operator",
        "PREDICTFLOW_RESYNC_SECONDS": "60",
        "PREDICTFLOW_REQUIRE_SECRET_LABEL": "false",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://moto.test:5000",
        "PREDICTFLOW_ELASTICACHE_POLL_SECONDS": "10",
        "PREDICTFLOW_ELASTICACHE_PRICES": '{"date":"2027-01-15","hourly":{"eu-west-1":{"cache.t4g.small":0.036}}}',
    }
    prices = pricing.price_list(env(documents)["PREDICTFLOW_ELASTICACHE_PRICES"])
    assert prices["date"] == "2027-01-15" and prices["hourly"]["eu-west-1"]["cache.t4g.small"] == 0.036
    [account] = of_kind(documents, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/pf"}


@pytest.mark.parametrize(
    "option, complaint",
    [
        (("--set", "replicas=2"), "additional properties 'replicas' not allowed"),
        (("--set", "image.registry=x"), "additional properties 'registry' not allowed"),
        (("--set", "resyncSeconds=soon"), "/resyncSeconds"),
        (("--set", "logging.format=xml"), "/logging/format"),
        (("--set", "logging.level=trace"), "/logging/level"),
        (("--set", "watch.namespaces=ml"), "/watch/namespaces"),
        (("--set", "watch.namespaces={Not_A_Namespace}"), "/watch/namespaces/0"),
        (("--set", "image.pullPolicy=Sometimes"), "/image/pullPolicy"),
        (("--set", "image.tag=2"), "/image/tag"),  # numbers are refused: YAML's `tag: 1.10` would be 1.1
        (("--set", "serviceAccount.create=maybe"), "/serviceAccount/create"),
        (("--set", "healthPort=70000"), "/healthPort"),
        (("--set", "aws.region=Ireland"), "/aws/region"),
    ],
)
def test_the_schema_rejects_wrong_values(option, complaint):
    done = helm("template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION, *option)
    assert done.returncode != 0
    assert "don't meet the specifications of the schema" in done.stderr and complaint in done.stderr, done.stderr


def test_the_operator_parses_the_arguments_the_chart_renders():
    """The operator's own parser, which exits on an unknown flag or value, reads what the chart renders."""
    operator = container(render())
    assert operator["command"] == ["python", "-m", "predictflow_operator"]
    defaults = cli.parse(operator["args"])
    assert (defaults.namespace, defaults.verbose, defaults.log_format) == ([], False, "full")
    options = ("--set", "watch.namespaces={ml,ops}", "--set", "logging.level=debug", "--set", "logging.format=json")
    chosen = cli.parse(container(render(*options))["args"])
    assert (chosen.namespace, chosen.verbose, chosen.log_format) == (["ml", "ops"], True, "json")


def test_an_unknown_flag_is_refused_by_the_operator_parser():
    with pytest.raises(SystemExit) as refused:
        cli.parse(["--namespace", "ml", "--verbsoe"])
    assert refused.value.code == 2


def test_the_chart_installs_the_repository_crds():
    assert (CHART / "crds").resolve() == (REPO_ROOT / "crds").resolve()
    rendered = [doc for doc in render("--include-crds") if doc["kind"] == "CustomResourceDefinition"]
    expected = [yaml.safe_load(path.read_text()) for path in sorted((REPO_ROOT / "crds").glob("*.yaml"))]
    assert rendered == expected and [crd["metadata"]["name"] for crd in rendered] == ["featurestores.predictflow.io"]


def test_metrics_service_by_default_and_monitors_only_when_enabled():
    documents = render()
    [service] = [d for d in of_kind(documents, "Service") if d["metadata"]["name"] == f"{FULLNAME}-metrics"]
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8081, "targetPort": "metrics"}]
    assert "--metrics=http://0.0.0.0:8081/metrics" in container(documents)["args"]
    assert {"name": "metrics", "containerPort": 8081} in container(documents)["ports"]
    assert not of_kind(documents, "ServiceMonitor") and not of_kind(documents, "PodMonitor")
    assert not [d for d in of_kind(documents, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]

    enabled = render(
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.podMonitor.enabled=true",
        "--set", "metrics.dashboard.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prom",
        "--set", "watch.namespaces={team-a,team-b}",
    )
    [monitor] = of_kind(enabled, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert set(monitor["spec"]["selector"]["matchLabels"].items()) <= set(service["metadata"]["labels"].items())
    pods, redis_pods = of_kind(enabled, "PodMonitor")
    for monitor in (pods, redis_pods):
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["team-a", "team-b"]}
    assert pods["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "serving"
    assert pods["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    # the exporter sidecar's port, by the name the builder gives it
    assert redis_pods["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == redis_builder.COMPONENT
    assert redis_pods["spec"]["podMetricsEndpoints"][0]["port"] == redis_builder.exporter_container(RedisStore(), "x", "i")["ports"][0]["name"]
    [dashboard] = [d for d in of_kind(enabled, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["predictflow.json"])["uid"] == "predictflow"

    off = render("--set", "metrics.enabled=false", "--set", "metrics.serviceMonitor.enabled=true")
    assert not of_kind(off, "ServiceMonitor") and not any(a.startswith("--metrics") for a in container(off)["args"])


def test_helm_lint_strict_passes_with_every_monitor_enabled():
    done = helm(
        "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION,
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.podMonitor.enabled=true", "--set", "metrics.dashboard.enabled=true",
    )
    assert done.returncode == 0, done.stdout + done.stderr
