"""Managed ElastiCache groups belong to one FeatureStore of one cluster: colliding names get distinct
groups, a group tagged as someone else's is never modified or deleted, and a retained group's token
Secret outlives its FeatureStore and is adopted again."""

import base64
import itertools

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from predictflow_devtools.featurestores import absent, apply_featurestore, condition, status
from predictflow_devtools.operator_process import OperatorProcess
from predictflow_devtools.pytest_plugin import AWS_TEST_ENV
from predictflow_devtools.waiting import eventually
from predictflow_operator.builders import elasticache as builder
from predictflow_operator.builders.common import Owner
from predictflow_operator.clients.kube import FeatureStoreResource

pytestmark = pytest.mark.controlplane


def managed(**cache):
    return {"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"replicas": 0, **cache}}}


def group(elasticache, group_id):
    try:
        return elasticache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    except elasticache.exceptions.ReplicationGroupNotFoundFault:
        return None


def tags_of(elasticache, found):
    return {t["Key"]: t["Value"] for t in elasticache.list_tags_for_resource(ResourceName=found["ARN"])["TagList"]}


def recorded_id(kube, namespace, name):
    record = status(kube, namespace, name).get("pendingOnlineStore") or status(kube, namespace, name).get("onlineStore") or {}
    return record.get("name")


def legacy_collision(namespace):
    """Two FeatureStore names the 24-bit ids gave one group."""
    seen = {}
    for i in itertools.count():
        name = f"{'f' * 40}{i}"
        old = builder.legacy_replication_group_id(Owner(name, namespace, ""))
        if old in seen:
            return seen[old], name
        seen[old] = name


def test_names_that_collided_get_distinct_groups_each_tagged_as_its_own(kube, namespace, operator, elasticache, cluster_identity):
    first, second = legacy_collision(namespace)
    for name in (first, second):
        apply_featurestore(kube, namespace, managed(), name=name)
    ids = [eventually(lambda n=name: recorded_id(kube, namespace, n), what=f"the group id of {name}") for name in (first, second)]
    assert ids[0] != ids[1]
    for name, group_id in zip((first, second), ids):
        assert group_id == builder.replication_group_id(Owner(name, namespace, ""), cluster_identity) and len(group_id) <= 40
        created = eventually(lambda g=group_id: group(elasticache, g), what=f"the group {group_id}")
        tags = tags_of(elasticache, created)
        assert tags[builder.TAG_FEATURESTORE] == f"{namespace}/{name}" and tags[builder.TAG_CLUSTER] == cluster_identity
        uid = kube.get(FeatureStoreResource, name, namespace=namespace).metadata.uid
        assert tags[builder.TAG_UID] == uid


def test_the_same_featurestore_in_another_cluster_gets_its_own_group(kube, namespace, operator, elasticache, moto_server, own_plane, own_kube, tmp_path, cluster_identity):
    """Two clusters sharing an AWS account, one FeatureStore name: two groups, neither touched by the other."""
    own_kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    other = OperatorProcess(own_plane.kubeconfig, tmp_path / "operator-b.log", AWS_ENDPOINT_URL=moto_server,
                            PREDICTFLOW_ELASTICACHE_POLL_SECONDS="1", PREDICTFLOW_CLUSTER_IDENTITY="cluster-b", **AWS_TEST_ENV).start()
    try:
        apply_featurestore(kube, namespace, managed(nodeType="cache.t4g.small"))
        apply_featurestore(own_kube, namespace, managed(nodeType="cache.r7g.large"))
        ours = eventually(lambda: recorded_id(kube, namespace, "churn"), what="this cluster's group id")
        theirs = eventually(lambda: recorded_id(own_kube, namespace, "churn"), what="the other cluster's group id")
        assert ours != theirs
        mine, other_group = (eventually(lambda g=g: group(elasticache, g), what=g) for g in (ours, theirs))
        assert tags_of(elasticache, mine)[builder.TAG_CLUSTER] == cluster_identity
        assert tags_of(elasticache, other_group)[builder.TAG_CLUSTER] == "cluster-b"
        # each operator converges its own group's node type; neither reverts the other's
        assert group(elasticache, ours)["CacheNodeType"] == "cache.t4g.small"
        assert group(elasticache, theirs)["CacheNodeType"] == "cache.r7g.large"
    finally:
        other.stop()


def test_a_group_tagged_as_someone_elses_is_never_modified_or_deleted(kube, namespace, operator, elasticache, cluster_identity):
    group_id = builder.replication_group_id(Owner("churn", namespace, ""), cluster_identity)
    elasticache.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="another cluster's", Engine="redis", CacheNodeType="cache.t4g.small",
        ReplicasPerNodeGroup=0, TransitEncryptionEnabled=True, AuthToken="someone-elses-token-0123456789",
        Tags=[{"Key": builder.TAG_CLUSTER, "Value": "cluster-b"}, {"Key": builder.TAG_FEATURESTORE, "Value": f"{namespace}/churn"},
              {"Key": builder.TAG_MANAGED_BY, "Value": "predictflow-operator"}],
    )
    apply_featurestore(kube, namespace, managed(nodeType="cache.r7g.large", deletionPolicy="Delete"))

    refused = eventually(lambda: (c := condition(kube, namespace, "OnlineStoreReady")).get("reason") == "ForeignReplicationGroup" and c, what="the refusal")
    assert refused["status"] == "False" and group_id in refused["message"]
    assert "predictflow.io/cluster-identity='cluster-b'" in refused["message"] and repr(cluster_identity) in refused["message"]
    assert status(kube, namespace)["phase"] in ("Failed", "Degraded")
    assert group(elasticache, group_id)["CacheNodeType"] == "cache.t4g.small", "a foreign group was modified"

    kube.delete(FeatureStoreResource, "churn", namespace=namespace)
    eventually(lambda: absent(kube, FeatureStoreResource, "churn", namespace), what="the FeatureStore to go")
    left = group(elasticache, group_id)
    assert left["Status"] == "available" and left["CacheNodeType"] == "cache.t4g.small", "a foreign group was deleted"


def test_a_retained_token_secret_survives_the_featurestore_and_is_adopted_again(kube, namespace, operator, elasticache, cluster_identity):
    apply_featurestore(kube, namespace, managed(deletionPolicy="Retain"))
    group_id = builder.replication_group_id(Owner("churn", namespace, ""), cluster_identity)
    created = eventually(lambda: group(elasticache, group_id), what="the group")
    secret = eventually(lambda: kube.get(Secret, "churn-elasticache-auth", namespace=namespace), what="the token Secret")
    token = base64.b64decode(secret.data["active"]).decode()
    first_uid = kube.get(FeatureStoreResource, "churn", namespace=namespace).metadata.uid
    assert [r.uid for r in secret.metadata.ownerReferences] == [first_uid]

    kube.delete(FeatureStoreResource, "churn", namespace=namespace)
    eventually(lambda: absent(kube, FeatureStoreResource, "churn", namespace), what="the FeatureStore to go")
    kept = kube.get(Secret, "churn-elasticache-auth", namespace=namespace)
    assert not kept.metadata.ownerReferences
    assert kept.metadata.annotations[builder.GROUP_ANNOTATION] == group_id
    assert kept.metadata.annotations[builder.CLUSTER_ANNOTATION] == cluster_identity
    assert group(elasticache, group_id)["Status"] == "available"

    apply_featurestore(kube, namespace, managed(deletionPolicy="Retain"))
    second_uid = kube.get(FeatureStoreResource, "churn", namespace=namespace).metadata.uid
    adopted = eventually(
        lambda: (s := kube.get(Secret, "churn-elasticache-auth", namespace=namespace)).metadata.ownerReferences and s, what="the adoption"
    )
    assert [r.uid for r in adopted.metadata.ownerReferences] == [second_uid]
    assert base64.b64decode(adopted.data["active"]).decode() == token, "the adopted group got another token"
    eventually(lambda: status(kube, namespace).get("pendingOnlineStore", {}).get("endpoint"), what="the group to be used again")
    assert recorded_id(kube, namespace, "churn") == group_id
    assert group(elasticache, group_id)["ReplicationGroupCreateTime"] == created["ReplicationGroupCreateTime"]


def test_an_unmarked_secret_in_the_tokens_place_is_never_adopted(kube, namespace, operator, elasticache, cluster_identity):
    kube.create(Secret.from_dict({"metadata": {"name": "churn-elasticache-auth", "namespace": namespace}, "stringData": {"active": "guessed", "token": "guessed"}}))
    apply_featurestore(kube, namespace, managed())
    refused = eventually(lambda: (c := condition(kube, namespace, "OnlineStoreReady")).get("reason") == "AuthSecretForeign" and c, what="the refusal")
    assert "did not mark it as the AUTH token of replication group" in refused["message"]
    group_id = builder.replication_group_id(Owner("churn", namespace, ""), cluster_identity)
    assert group(elasticache, group_id) is None, "a group was created with a token from an arbitrary Secret"
    assert not kube.get(Secret, "churn-elasticache-auth", namespace=namespace).metadata.ownerReferences
