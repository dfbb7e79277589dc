"""Default requests and limits under the spec's own, and placement fields as pod spec fields."""

import pytest

from predictflow_operator.api.models import Placement, RedisStore, Resources, parse_spec
from predictflow_operator.builders import redis, serving
from predictflow_operator.builders.common import Owner
from predictflow_operator.builders.placement import HOSTNAME, SPREAD_OVER_NODES_AND_ZONES, ZONE, pod_placement
from predictflow_operator.builders.resources import MATERIALIZATION, REDIS, SERVING, container_resources, redis_defaults, redis_memory_bytes
from predictflow_operator.builders.store import target_of

pytestmark = pytest.mark.unit
OWNER = Owner("churn", "ml", "0b9c3f6e-0000-4000-8000-000000000001")
PODS = {"app.kubernetes.io/instance": "churn", "app.kubernetes.io/component": "serving"}


def test_defaults_apply_when_the_spec_gives_nothing():
    assert container_resources(Resources(), SERVING) == {"requests": SERVING.requests, "limits": SERVING.limits}


def test_what_the_spec_gives_replaces_the_default_of_that_resource_only():
    out = container_resources(Resources(requests={"cpu": "1"}, limits={"nvidia.com/gpu": 1}), SERVING)
    assert out["requests"] == {"cpu": "1", "memory": SERVING.requests["memory"]}
    assert out["limits"] == {**SERVING.limits, "nvidia.com/gpu": "1"}


def test_a_default_limit_rises_to_a_larger_given_request():
    out = container_resources(Resources(requests={"memory": "8Gi"}), MATERIALIZATION)
    assert out["limits"]["memory"] == "8Gi" and out["requests"]["memory"] == "8Gi"


def test_a_default_request_falls_to_a_smaller_given_limit():
    out = container_resources(Resources(limits={"cpu": "50m", "memory": "100Mi"}), SERVING)
    assert out["requests"] == {"cpu": "50m", "memory": "100Mi"}


def test_given_request_and_limit_are_left_as_given_even_when_they_contradict():
    # the API server refuses them with its own message, which the condition then carries
    out = container_resources(Resources(requests={"cpu": "2"}, limits={"cpu": "1"}), SERVING)
    assert out["requests"]["cpu"] == "2" and out["limits"]["cpu"] == "1"


@pytest.mark.parametrize(("text", "size"), [("512", 512), ("1k", 1000), ("1kb", 1024), ("256mb", 256 * 2**20), ("2G", 2 * 10**9), ("1gb", 2**30)])
def test_redis_memory_sizes_use_redis_units(text, size):
    assert redis_memory_bytes(text) == size


def test_redis_memory_follows_max_memory():
    assert redis_defaults(RedisStore()) == REDIS
    capped = redis_defaults(RedisStore(max_memory="1gb"))
    assert capped.requests["memory"] == "1Gi" and capped.limits["memory"] == "2Gi"
    assert redis_defaults(RedisStore(max_memory="300mb")).limits["memory"] == "600Mi"
    small = redis_defaults(RedisStore(max_memory="1mb"))  # never below the plain default
    assert small.requests["memory"] == REDIS.requests["memory"]


def test_every_container_of_every_pod_has_requests_and_limits():
    spec = parse_spec({"project": "churn", "featureRepo": {"image": "example/repo:1"}, "onlineStore": {"redis": {"metrics": {"enabled": True}}}})
    name = redis.instance(OWNER, spec)
    store = target_of(redis.record(OWNER, spec))
    pods = [
        redis.stateful_set(OWNER, spec, name, "x", "redis:7-alpine", "predictflow/redis:0.1.0")["spec"]["template"]["spec"],
        serving.deployment(OWNER, spec, store, "predictflow/serving:0.1.0", "x")["spec"]["template"]["spec"],
    ]
    containers = [c for pod in pods for c in pod["containers"] + pod.get("initContainers", [])]
    assert len(containers) == 4
    for container in containers:
        assert set(container["resources"]) == {"requests", "limits"}, container["name"]
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}, container["name"]


def test_serving_spreads_over_nodes_and_zones_by_default_and_not_with_an_empty_list():
    spec = parse_spec({"project": "churn"})
    placement = pod_placement(spec.serving, PODS, SPREAD_OVER_NODES_AND_ZONES)
    spread = placement["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == [HOSTNAME, ZONE]
    assert all(c["whenUnsatisfiable"] == "ScheduleAnyway" and c["labelSelector"] == {"matchLabels": PODS} for c in spread)
    assert pod_placement(Placement(topology_spread_constraints=[]), PODS, SPREAD_OVER_NODES_AND_ZONES) == {}


def test_given_spread_constraints_select_the_components_own_pods():
    given = Placement.model_validate({"topologySpreadConstraints": [{"topologyKey": ZONE}]})
    [constraint] = pod_placement(given, PODS)["topologySpreadConstraints"]
    assert constraint == {"topologyKey": ZONE, "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": PODS}}


def test_autoscaling_leaves_the_replica_count_to_the_autoscaler():
    spec = parse_spec({"project": "churn", "serving": {"replicas": 4, "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6}}})
    store = target_of(redis.record(OWNER, spec))
    assert "replicas" not in serving.deployment(OWNER, spec, store, "predictflow/serving:0.1.0", "x")["spec"]
    hpa = serving.horizontal_pod_autoscaler(OWNER, spec)
    assert hpa is not None and hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 6
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}
    assert serving.pod_disruption_budget(OWNER, spec) is not None
    fixed = parse_spec({"project": "churn", "serving": {"replicas": 4}})
    assert serving.horizontal_pod_autoscaler(OWNER, fixed) is None
    assert serving.deployment(OWNER, fixed, store, "predictflow/serving:0.1.0", "x")["spec"]["replicas"] == 4
