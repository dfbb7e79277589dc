"""ElastiCache through a moto server, and the switch protocol step by step."""

import base64

import pytest
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import Secret

from predictflow_devtools.featurestores import absent, apply_featurestore, children, condition, patch_spec, status
from predictflow_devtools.kubelet import fail_job, finish_job_pods, mark_pods_ready
from predictflow_devtools.waiting import eventually
from predictflow_operator import pricing
from predictflow_operator.builders.common import Owner
from predictflow_operator.builders.elasticache import replication_group_id
from predictflow_operator.clients.kube import FeatureStoreResource

pytestmark = pytest.mark.controlplane

STORE_TYPE = "predictflow.io/store-type"


def backfill_jobs(kube, namespace, running_only=False):
    jobs = list(kube.list(Job, namespace=namespace, labels={"app.kubernetes.io/component": "backfill"}))
    return [j for j in jobs if not running_only or not any(c.status == "True" for c in (j.status.conditions or []))]


def new_backfill(kube, namespace, store_type):
    return eventually(
        lambda: next((j for j in backfill_jobs(kube, namespace, running_only=True) if j.metadata.labels[STORE_TYPE] == store_type), None),
        what=f"a backfill Job into {store_type}",
    )


def complete(kube, namespace, job):
    eventually(lambda: finish_job_pods(kube, namespace, job.metadata.name), what=f"the pod of {job.metadata.name}")


def serving_store(kube, namespace):
    return kube.get(Deployment, "churn-serving", namespace=namespace).spec.template.metadata.labels[STORE_TYPE]


def bring_redis_to_ready(kube, namespace, spec):
    apply_featurestore(kube, namespace, spec)
    eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "redis"}), what="the Redis pod")
    complete(kube, namespace, new_backfill(kube, namespace, "redis"))
    eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "serving"}), what="a serving pod")
    eventually(lambda: status(kube, namespace).get("phase") == "Ready", what="phase Ready")


def existing_elasticache(endpoint="master.churn.example:6379"):
    return {"type": "elasticache", "elasticache": {"mode": "existing", "endpoint": endpoint, "authSecretRef": {"name": "churn-ec", "key": "token"}}}


@pytest.fixture
def ec_secret(kube, namespace):
    opt_in = {"predictflow.io/featurestore": "churn"}
    kube.create(Secret.from_dict({"metadata": {"name": "churn-ec", "namespace": namespace, "labels": opt_in}, "stringData": {"token": "stand-in-auth-token-123"}}))


def test_managed_mode_creates_the_replication_group_and_serves_from_it(kube, namespace, operator, elasticache, cluster_identity):
    spec = {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"mode": "managed", "nodeType": "cache.r7g.large", "replicas": 1, "deletionPolicy": "Delete"}}}
    apply_featurestore(kube, namespace, spec)
    group_id = replication_group_id(Owner("churn", namespace, ""), cluster_identity)

    def group():
        try:
            return elasticache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
        except elasticache.exceptions.ReplicationGroupNotFoundFault:
            return None

    created = eventually(group, what="the replication group")
    assert created["CacheNodeType"] == "cache.r7g.large"
    assert len(created["MemberClusters"]) == 2
    assert created["TransitEncryptionEnabled"] is True and created["AtRestEncryptionEnabled"] is True
    assert created["AutomaticFailover"] == "enabled"
    primary = created["NodeGroups"][0]["PrimaryEndpoint"]
    endpoint = f"{primary['Address']}:{primary['Port']}"

    token = base64.b64decode(kube.get(Secret, "churn-elasticache-auth", namespace=namespace).data["token"]).decode()
    assert 16 <= len(token) <= 128 and token.isalnum()
    job = new_backfill(kube, namespace, "elasticache")
    assert eventually(lambda: status(kube, namespace).get("pendingOnlineStore", {}).get("endpoint"), what="the pending endpoint") == endpoint
    complete(kube, namespace, job)
    eventually(lambda: status(kube, namespace).get("onlineStore", {}).get("endpoint") == endpoint, what="the group to serve")

    configs = [c for (kind, name), c in children(kube, namespace).items() if kind == "ConfigMap" and name.startswith("churn-feast-elasticache")]
    rendered = configs[0].data["feature_store.yaml"]
    assert f"{endpoint},ssl=true,password=${{REDIS_PASSWORD_AS_JSON}}" in rendered and token not in rendered
    env = kube.get(Deployment, "churn-serving", namespace=namespace).spec.template.spec.containers[0].env
    assert [(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key) for e in env if e.name == "REDIS_PASSWORD"] == [("churn-elasticache-auth", "active")]

    # the cost estimate: the nodes AWS reports, at the shipped price list's rate
    prices = pricing.price_list()
    assert status(kube, namespace)["estimatedMonthlyCost"] == pricing.monthly_cost(prices, "us-east-1", "cache.r7g.large", 2)
    assert status(kube, namespace)["estimatedMonthlyCost"]["amount"] == round(2 * prices["hourly"]["us-east-1"]["cache.r7g.large"] * 730, 2)

    patch_spec(kube, namespace, {"onlineStore": {"elasticache": {"nodeType": "cache.r7g.xlarge"}}})
    eventually(lambda: group()["CacheNodeType"] == "cache.r7g.xlarge", what="the node type change")
    eventually(
        lambda: status(kube, namespace)["estimatedMonthlyCost"] == pricing.monthly_cost(prices, "us-east-1", "cache.r7g.xlarge", 2),
        what="the estimate to follow the node type AWS reports",
    )

    kube.delete(FeatureStoreResource, "churn", namespace=namespace)
    eventually(lambda: group()["Status"] == "deleting", what="AWS to delete the group (deletionPolicy Delete)")

    eventually(lambda: absent(kube, FeatureStoreResource, "churn", namespace), what="the FeatureStore to go once AWS accepted the deletion")


def test_retain_keeps_the_replication_group(kube, namespace, operator, elasticache, cluster_identity):
    apply_featurestore(kube, namespace, {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"replicas": 0}}})
    group_id = replication_group_id(Owner("churn", namespace, ""), cluster_identity)
    eventually(lambda: elasticache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"], what="the group")
    kube.delete(FeatureStoreResource, "churn", namespace=namespace)
    eventually(lambda: not any(name == "churn" for name in [fs.metadata.name for fs in kube.list(FeatureStoreResource, namespace=namespace)]), what="deletion")
    assert elasticache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]["Status"] == "available"


def test_no_cutover_before_the_backfill_succeeds_then_cutover_and_retire(kube, namespace, operator, ec_secret):
    bring_redis_to_ready(kube, namespace, {"project": "churn"})
    patch_spec(kube, namespace, {"onlineStore": existing_elasticache()})

    job = new_backfill(kube, namespace, "elasticache")
    during = eventually(lambda: (s := status(kube, namespace)).get("phase") == "Switching" and s, what="phase Switching")
    assert during["onlineStore"]["type"] == "redis"
    pending = during["pendingOnlineStore"]
    assert (pending["type"], pending["mode"], pending["endpoint"], pending["generation"]) == ("elasticache", "existing", "master.churn.example:6379", 2)
    assert pending["state"] == "Backfilling" and pending["backfillJob"] == job.metadata.name
    assert serving_store(kube, namespace) == "redis"
    assert kube.get(CronJob, "churn-materialize", namespace=namespace).metadata.labels[STORE_TYPE] == "redis"
    assert job.spec.template.spec.containers[0].command[-1] == "--full"

    complete(kube, namespace, job)
    eventually(lambda: status(kube, namespace).get("onlineStore", {}).get("type") == "elasticache", what="the cutover")
    assert "pendingOnlineStore" not in status(kube, namespace)
    assert serving_store(kube, namespace) == "elasticache"
    assert kube.get(CronJob, "churn-materialize", namespace=namespace).metadata.labels[STORE_TYPE] == "elasticache"
    # the old store stays until serving has rolled off it
    kube.get(StatefulSet, "churn-redis", namespace=namespace)
    eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "serving", STORE_TYPE: "elasticache"}), what="a new serving pod")

    eventually(lambda: absent(kube, StatefulSet, "churn-redis", namespace), what="the old Redis to be retired")
    final = eventually(lambda: (s := status(kube, namespace)).get("phase") == "Ready" and s, what="phase Ready")
    assert final["retiringOnlineStores"] == []
    assert absent(kube, Secret, "churn-redis-auth", namespace)

    # Back to redis: the re-created (empty) Redis has the same endpoint as the retired one, and
    # must be backfilled again before it serves.
    patch_spec(kube, namespace, {"onlineStore": {"type": "redis"}})
    eventually(lambda: mark_pods_ready(kube, namespace, {"app.kubernetes.io/component": "redis"}), what="the new Redis pod")
    again = new_backfill(kube, namespace, "redis")
    assert status(kube, namespace)["onlineStore"]["type"] == "elasticache"
    complete(kube, namespace, again)
    eventually(lambda: status(kube, namespace).get("onlineStore", {}).get("type") == "redis", what="the cutover back to redis")


def test_a_failed_backfill_keeps_serving_on_the_old_store_and_reverting_cancels(kube, namespace, operator, ec_secret):
    bring_redis_to_ready(kube, namespace, {"project": "churn"})
    patch_spec(kube, namespace, {"onlineStore": existing_elasticache()})
    job = new_backfill(kube, namespace, "elasticache")
    fail_job(kube, namespace, job.metadata.name, "connection refused by master.churn.example:6379")

    failed = eventually(lambda: (c := condition(kube, namespace, "Materialized")).get("reason") == "BackfillFailed" and c, what="BackfillFailed")
    assert "connection refused" in failed["message"] and "serving stays on redis" in failed["message"]
    current = status(kube, namespace)
    assert current["phase"] == "Degraded" and current["onlineStore"]["type"] == "redis"
    assert serving_store(kube, namespace) == "redis"

    patch_spec(kube, namespace, {"onlineStore": {"type": "redis"}})
    reverted = eventually(lambda: (s := status(kube, namespace)).get("phase") == "Ready" and s, what="Ready after the revert")
    assert "pendingOnlineStore" not in reverted and reverted["onlineStore"]["type"] == "redis"
    assert serving_store(kube, namespace) == "redis"
    kube.get(StatefulSet, "churn-redis", namespace=namespace)


def test_a_new_store_that_never_becomes_available_keeps_serving_on_the_old_one(kube, namespace, operator):
    bring_redis_to_ready(kube, namespace, {"project": "churn"})
    patch_spec(kube, namespace, {"onlineStore": existing_elasticache()})  # its auth Secret does not exist

    store = eventually(lambda: (c := condition(kube, namespace, "OnlineStoreReady")).get("message", "").find("not ready") > 0 and c, what="the pending store's problem")
    assert "Secret churn-ec with key token" in store["message"] and store["status"] == "True"
    current = status(kube, namespace)
    assert current["phase"] == "Degraded" and current["onlineStore"]["type"] == "redis"
    assert current["pendingOnlineStore"]["type"] == "elasticache"
    assert not [j for j in backfill_jobs(kube, namespace) if j.metadata.labels[STORE_TYPE] == "elasticache"]
    assert serving_store(kube, namespace) == "redis"

    # labelled for the FeatureStore, so its watch sees it at once (an unlabelled one waits for a resync)
    kube.create(Secret.from_dict({"metadata": {"name": "churn-ec", "namespace": namespace, "labels": {"predictflow.io/featurestore": "churn"}}, "stringData": {"token": "now-it-exists-123"}}))
    new_backfill(kube, namespace, "elasticache")
    eventually(lambda: status(kube, namespace).get("phase") == "Switching", what="the switch to proceed")


def test_switching_back_and_forth_and_editing_mid_switch_converge_to_the_latest_spec(kube, namespace, operator, ec_secret):
    bring_redis_to_ready(kube, namespace, {"project": "churn"})
    patch_spec(kube, namespace, {"onlineStore": existing_elasticache("first.example:6379")})
    first = new_backfill(kube, namespace, "elasticache")
    patch_spec(kube, namespace, {"onlineStore": {"elasticache": {"endpoint": "second.example:6379"}}})

    second = eventually(lambda: next((j for j in backfill_jobs(kube, namespace, running_only=True) if j.metadata.name != first.metadata.name and j.metadata.labels[STORE_TYPE] == "elasticache"), None), what="a backfill for the edited endpoint")
    eventually(lambda: first.metadata.name not in [j.metadata.name for j in backfill_jobs(kube, namespace)], what="the stale backfill to be cancelled")
    assert second.metadata.annotations["predictflow.io/store"] == "second.example:6379"

    patch_spec(kube, namespace, {"onlineStore": {"type": "redis"}})
    latest = patch_spec(kube, namespace, {"onlineStore": {"type": "elasticache"}}).metadata.generation

    def resumed():
        current = status(kube, namespace)
        return current.get("observedGeneration") == latest and current.get("pendingOnlineStore", {}).get("endpoint") == "second.example:6379"

    eventually(resumed, what="the switch to resume")
    complete(kube, namespace, new_backfill(kube, namespace, "elasticache"))
    eventually(lambda: status(kube, namespace).get("onlineStore", {}).get("endpoint") == "second.example:6379", what="the latest spec to serve")
    assert serving_store(kube, namespace) == "elasticache"


def test_more_shards_is_a_new_cluster_mode_group_reached_through_the_switch(kube, namespace, operator, elasticache, cluster_identity):
    managed = {"mode": "managed", "nodeType": "cache.r7g.large", "replicas": 1, "deletionPolicy": "Delete"}
    apply_featurestore(kube, namespace, {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": managed}})
    owner = Owner("churn", namespace, "")
    single, sharded = replication_group_id(owner, cluster_identity), replication_group_id(owner, cluster_identity, 3)
    assert single != sharded

    def group(group_id):
        try:
            return elasticache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
        except elasticache.exceptions.ReplicationGroupNotFoundFault:
            return None

    eventually(lambda: group(single), what="the one-shard group")
    complete(kube, namespace, new_backfill(kube, namespace, "elasticache"))
    eventually(lambda: status(kube, namespace).get("onlineStore", {}).get("name") == single, what="the one-shard group serving")

    patch_spec(kube, namespace, {"onlineStore": {"elasticache": {"shards": 3}}})
    created = eventually(lambda: group(sharded), what="the 3-shard group")
    assert created["ClusterEnabled"] is True and len(created["NodeGroups"]) == 3 and len(created["MemberClusters"]) == 6
    assert created["AutomaticFailover"] == "enabled"
    config_endpoint = created["ConfigurationEndpoint"]
    endpoint = f"{config_endpoint['Address']}:{config_endpoint['Port']}"
    pending = eventually(lambda: status(kube, namespace).get("pendingOnlineStore", {}).get("endpoint") and status(kube, namespace)["pendingOnlineStore"], what="the pending group")
    assert pending["name"] == sharded and pending["shards"] == 3 and pending["endpoint"] == endpoint
    assert pending["authSecretRef"]["name"] == "churn-elasticache-3-shards-auth"
    assert kube.get(Secret, "churn-elasticache-3-shards-auth", namespace=namespace).data["active"]
    assert status(kube, namespace)["onlineStore"]["name"] == single  # serving stays on the old group until the backfill

    complete(kube, namespace, new_backfill(kube, namespace, "elasticache"))
    eventually(lambda: status(kube, namespace).get("onlineStore", {}).get("name") == sharded, what="the 3-shard group serving")
    configs = [c for (kind, name), c in children(kube, namespace).items() if kind == "ConfigMap" and name.startswith("churn-feast-elasticache")]
    rendered = next(c.data["feature_store.yaml"] for c in configs if endpoint in c.data["feature_store.yaml"])
    assert "redis_type: redis_cluster" in rendered
    serving = {"app.kubernetes.io/component": "serving"}
    eventually(  # playing the kubelet: serving rolls onto the new group, then the old one is retired
        lambda: mark_pods_ready(kube, namespace, serving, only_new=True) and (group(single) or {}).get("Status") in (None, "deleting"),
        what="the one-shard group retired (deletionPolicy Delete)",
    )
    assert status(kube, namespace)["estimatedMonthlyCost"] == pricing.monthly_cost(pricing.price_list(), "us-east-1", "cache.r7g.large", 6)
