"""The administrator's limits from the chart, enforced by the API server: a FeatureStore outside them
is rejected at apply with a message naming the rule; one made before the limits keeps working."""

import subprocess

import pytest
import yaml
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from predictflow_devtools.featurestores import apply_featurestore
from predictflow_devtools.pytest_plugin import REPO_ROOT, kubectl_binary
from predictflow_devtools.waiting import eventually
from predictflow_operator.clients.kube import FeatureStoreResource

pytestmark = pytest.mark.controlplane

CHART = REPO_ROOT / "charts" / "predictflow-operator"
LIMITS = [
    "policy.allowedImageRegistries={registry.example.com/ml/,localhost/}",
    "policy.allowedNodeTypes={cache.t4g.small,cache.t4g.medium}",
    "policy.allowedRegions={eu-west-1}",
    "policy.maxElastiCacheReplicas=2",
    "policy.maxServingReplicas=10",
    "policy.maxBackfillParallelism=4",
]


def render(*settings: str, only_policy: bool = True) -> str:
    args = [str(REPO_ROOT / "bin" / "helm"), "template", "pf", str(CHART)]
    if only_policy:
        args += ["--show-only", "templates/admission-policy.yaml"]
    for setting in settings:
        args += ["--set", setting]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def limited(own_plane):
    """own_plane before the policy: a FeatureStore that the limits would refuse already exists."""
    from lightkube import Client, KubeConfig

    client = Client(config=KubeConfig.from_file(str(own_plane.kubeconfig)), field_manager="predictflow-tests")
    client.create(Namespace(metadata=ObjectMeta(name="tenant")))
    apply_featurestore(client, "tenant", {"project": "churn", "serving": {"replicas": 20}}, name="older")
    subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={own_plane.kubeconfig}", "apply", "-f", "-"],
        input=render(*LIMITS),
        text=True,
        check=True,
    )
    # the API server picks the policy up asynchronously: wait until it refuses
    eventually(lambda: refusal(client, {"project": "churn", "serving": {"replicas": 11}}), what="the policy in force", timeout=30)
    yield client
    client.close()


def refusal(client, spec, name="churn") -> str:
    """The API server's message, or '' when the FeatureStore was accepted (and is then deleted again)."""
    try:
        apply_featurestore(client, "tenant", spec, name=name)
    except ApiError as error:
        return error.status.message
    client.delete(FeatureStoreResource, name, namespace="tenant")
    return ""


REFUSED = {
    "an image from another registry": (
        {"project": "churn", "serving": {"image": "docker.io/someone/model:1"}},
        "policy.allowedImageRegistries: docker.io/someone/model:1 comes from none of the allowed registries: registry.example.com/ml/, localhost/",
    ),
    "a feature repo image from another registry": (
        {"project": "churn", "featureRepo": {"image": "quay.io/x/repo:1"}},
        "policy.allowedImageRegistries: quay.io/x/repo:1",
    ),
    "a node type not allowed": (
        {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"nodeType": "cache.r7g.16xlarge", "region": "eu-west-1"}}},
        "policy.allowedNodeTypes: spec.onlineStore.elasticache.nodeType cache.r7g.16xlarge is not one of: cache.t4g.small, cache.t4g.medium",
    ),
    "a region not allowed (the default one)": (
        {"project": "churn", "onlineStore": {"type": "elasticache"}},
        "policy.allowedRegions: spec.onlineStore.elasticache.region us-east-1 is not one of: eu-west-1",
    ),
    "too many ElastiCache replicas": (
        {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"region": "eu-west-1", "replicas": 3}}},
        "policy.maxElastiCacheReplicas: spec.onlineStore.elasticache.replicas may be at most 2",
    ),
    "too many serving replicas": ({"project": "churn", "serving": {"replicas": 11}}, "policy.maxServingReplicas: spec.serving.replicas may be at most 10"),
    "an autoscaler past the replica limit": (
        {"project": "churn", "serving": {"autoscaling": {"enabled": True, "maxReplicas": 11}}},
        "policy.maxServingReplicas: spec.serving.autoscaling.maxReplicas may be at most 10",
    ),
    "too many backfill pods": (
        {"project": "churn", "materialization": {"backfillParallelism": 5}},
        "policy.maxBackfillParallelism: spec.materialization.backfillParallelism may be at most 4",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_featurestore_outside_the_limits_is_rejected_naming_the_rule(limited, case):
    spec, message = REFUSED[case]
    assert message in refusal(limited, spec)


def test_a_featurestore_inside_the_limits_is_accepted(limited):
    within = {
        "project": "churn",
        "serving": {"image": "localhost/serving:2", "replicas": 10, "autoscaling": {"enabled": True, "maxReplicas": 10}},
        "onlineStore": {"type": "elasticache", "elasticache": {"region": "eu-west-1", "nodeType": "cache.t4g.medium", "replicas": 2}},
    }
    assert refusal(limited, within) == ""
    # the in-cluster Redis needs no ElastiCache limit
    assert refusal(limited, {"project": "churn", "onlineStore": {"elasticache": {"region": "ap-south-1"}}}) == ""


def test_a_featurestore_made_before_the_limits_still_takes_the_operators_writes_but_no_new_spec(limited):
    limited.patch(
        FeatureStoreResource, "older", {"metadata": {"finalizers": ["kopf.zalando.org/KopfFinalizerMarker"]}}, namespace="tenant", patch_type=PatchType.MERGE
    )
    limited.patch(FeatureStoreResource.Status, "older", {"status": {"phase": "Ready"}}, namespace="tenant", patch_type=PatchType.MERGE)
    with pytest.raises(ApiError) as refused:
        limited.patch(FeatureStoreResource, "older", {"spec": {"serving": {"replicas": 19}}}, namespace="tenant", patch_type=PatchType.MERGE)
    assert "policy.maxServingReplicas" in refused.value.status.message
    limited.patch(FeatureStoreResource, "older", {"metadata": {"finalizers": None}}, namespace="tenant", patch_type=PatchType.MERGE)


def test_the_policy_renders_only_when_enabled_and_passes_helm_lint():
    kinds = {doc["kind"] for doc in yaml.safe_load_all(render(only_policy=False)) if doc}
    assert {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} <= kinds
    disabled = {doc["kind"] for doc in yaml.safe_load_all(render("policy.enabled=false", only_policy=False)) if doc}
    assert "Deployment" in disabled and not {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} & disabled
    lint = subprocess.run([str(REPO_ROOT / "bin" / "helm"), "lint", "--strict", str(CHART), "--set", LIMITS[0]], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
