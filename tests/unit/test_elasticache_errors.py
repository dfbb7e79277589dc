"""AWS errors become a condition with AWS's own message, and retries back off.

The ElastiCache client is boto3's real one with botocore's Stubber answering; Kubernetes is an
in-memory stand-in (this test is about the AWS error path, not the API server)."""

import asyncio

import pytest
from botocore.stub import Stubber

from predictflow_operator.api.models import parse_spec
from predictflow_operator.builders.common import Owner
from predictflow_operator.builders.store import store_key
from predictflow_operator.clients.aws import AwsError, ElastiCache
from predictflow_operator.reconcilers import elasticache
from predictflow_operator.reconcilers.context import OperatorMemo, ReconcileContext
from predictflow_operator.settings import Settings

pytestmark = pytest.mark.unit


class MemoryKube:
    def __init__(self):
        self.objects = {}

    async def create(self, manifest):
        key = (manifest["kind"], manifest["metadata"]["name"])
        if key in self.objects:
            return False
        self.objects[key] = manifest
        return True

    async def get(self, api_version, kind, name, namespace):
        return self.objects.get((kind, name))


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def context(events, **cache):
    spec = parse_spec({"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"nodeType": "cache.t4g.small", **cache}}})
    settings = Settings("r", "s", "redis:7-alpine", 1, None, 30, cluster_identity="cluster-a")
    memo = OperatorMemo(kube=MemoryKube(), settings=settings)
    aws = memo.aws_clients["us-east-1"] = ElastiCache("us-east-1")
    ctx = ReconcileContext(Owner("churn", "ml", "uid-1"), spec, 1, memo, lambda *event: events.append(event))
    return ctx, Stubber(aws._client)


def test_an_aws_error_surfaces_with_awss_message_and_backs_off():
    events = []
    ctx, stub = context(events)
    record = elasticache.desired_record(ctx, [])
    stub.add_client_error("describe_replication_groups", "ReplicationGroupNotFoundFault", "not found", 404)
    stub.add_client_error(
        "create_replication_group", "InsufficientCacheClusterCapacity", "cache.t4g.small capacity is not available in us-east-1a", 400
    )
    with stub:
        seen = asyncio.run(elasticache.observe(ctx, record))
        assert seen.reason == "Creating" and seen.gone
        with pytest.raises(AwsError) as raised:
            asyncio.run(elasticache.provision(ctx, record, seen))
        assert raised.value.message == "cache.t4g.small capacity is not available in us-east-1a"
        # within the backoff window nothing calls AWS again (the Stubber would fail on an extra call)
        again = asyncio.run(elasticache.observe(ctx, record))
        assert again.reason == "AwsError" and again.error
        assert again.message == "AWS InsufficientCacheClusterCapacity: cache.t4g.small capacity is not available in us-east-1a"
        asyncio.run(elasticache.provision(ctx, record, again))
        stub.assert_no_pending_responses()
    # nothing half-made: only the generated AUTH token exists, reused by the next attempt
    assert list(ctx.memo.kube.objects) == [("Secret", "churn-elasticache-auth")]


def test_an_aws_blip_never_changes_what_the_pods_are_told():
    """The token checksum comes from the Secret, not from AWS: a failed describe leaves it as it was."""
    events = []
    ctx, stub = context(events)
    record = elasticache.desired_record(ctx, [])
    ctx.memo.kube.objects[("Secret", "churn-elasticache-auth")] = {
        "metadata": {"name": "churn-elasticache-auth", "ownerReferences": [{"controller": True, "uid": "uid-1"}]},
        "data": {"token": "dG9rZW4=", "active": "dG9rZW4="},
    }
    arn = f"arn:aws:elasticache:us-east-1:1:replicationgroup:{record.name}"
    available = {
        "ReplicationGroupId": record.name, "ARN": arn, "Status": "available", "CacheNodeType": "cache.t4g.small",
        "MemberClusters": [f"{record.name}-001", f"{record.name}-002"],
        "NodeGroups": [{"PrimaryEndpoint": {"Address": "master.example", "Port": 6379}}],
    }
    stub.add_response("describe_replication_groups", {"ReplicationGroups": [available]}, {"ReplicationGroupId": record.name})
    ours = [{"Key": t["Key"], "Value": t["Value"]} for t in elasticache.builder.ownership_tags(ctx.owner, "cluster-a")]
    stub.add_response("list_tags_for_resource", {"TagList": ours}, {"ResourceName": arn})
    stub.add_client_error("describe_replication_groups", "Throttling", "Rate exceeded", 400)
    with stub:
        healthy = asyncio.run(elasticache.observe(ctx, record))
        ctx.memo.aws_answers[(ctx.owner.uid, store_key(record))].ask_at = 0.0  # the poll interval passed
        blip = asyncio.run(elasticache.observe(ctx, record))
    assert healthy.ready and healthy.endpoint == "master.example:6379"
    assert blip.reason == "AwsError" and "Rate exceeded" in blip.message
    assert blip.secret_checksum == healthy.secret_checksum != ""
    assert events == [("Warning", "AwsError", "AWS Throttling: Rate exceeded")]


def test_access_denied_is_reported_the_same_way():
    events = []
    ctx, stub = context(events)
    stub.add_client_error(
        "describe_replication_groups", "AccessDenied", "User: arn:aws:iam::1:role/op is not authorized to perform: elasticache:DescribeReplicationGroups", 403
    )
    with stub:
        seen = asyncio.run(elasticache.observe(ctx, elasticache.desired_record(ctx, [])))
    assert seen.reason == "AwsError" and "not authorized to perform: elasticache:DescribeReplicationGroups" in seen.message


def test_a_replica_change_on_an_available_group_is_applied_with_a_modify_call():
    events = []
    ctx, stub = context(events, replicas=3)
    group_id = "pf-ml-churn-abc123"
    available = {
        "ReplicationGroupId": group_id, "Status": "available", "CacheNodeType": "cache.t4g.small",
        "MemberClusters": [f"{group_id}-001", f"{group_id}-002"],
        "NodeGroups": [{"PrimaryEndpoint": {"Address": "master.example", "Port": 6379}}],
    }
    stub.add_response("increase_replica_count", {"ReplicationGroup": {"ReplicationGroupId": group_id}},
                      {"ReplicationGroupId": group_id, "NewReplicaCount": 3, "ApplyImmediately": True})
    with stub:
        assert asyncio.run(elasticache.converge_size(ctx, ctx.memo.aws_clients["us-east-1"], available)) is True
        stub.assert_no_pending_responses()
    assert events == [("Normal", "ReplicationGroupModifying", f"Changing {group_id} read replicas from 1 to 3")]


def test_a_cluster_mode_group_counts_replicas_per_shard_and_changes_them_in_every_shard():
    """moto has no IncreaseReplicaCount: botocore's Stubber holds the request to AWS's own shape."""
    events = []
    ctx, stub = context(events, replicas=2, shards=3)
    group_id = "pf-ml-churn-sharded"
    shards = [{"NodeGroupId": f"000{i}", "Slots": "0-5460"} for i in range(1, 4)]
    available = {
        "ReplicationGroupId": group_id, "Status": "available", "CacheNodeType": "cache.t4g.small", "ClusterEnabled": True,
        "MemberClusters": [f"{group_id}-000{s}-00{n}" for s in range(1, 4) for n in range(1, 3)],  # 3 shards x (1 + 1)
        "NodeGroups": shards, "ConfigurationEndpoint": {"Address": "clustercfg.example", "Port": 6379},
    }
    stub.add_response("increase_replica_count", {"ReplicationGroup": {"ReplicationGroupId": group_id}},
                      {"ReplicationGroupId": group_id, "NewReplicaCount": 2, "ApplyImmediately": True})
    with stub:
        assert asyncio.run(elasticache.converge_size(ctx, ctx.memo.aws_clients["us-east-1"], available)) is True
        stub.assert_no_pending_responses()
    assert events == [("Normal", "ReplicationGroupModifying", f"Changing {group_id} read replicas from 1 to 2")]
    request = elasticache.builder.create_request(ctx.owner, ctx.spec, "t" * 32, group_id, "cluster-a")
    assert request["ClusterMode"] == "enabled" and request["NumNodeGroups"] == 3 and request["ReplicasPerNodeGroup"] == 2
    assert request["CacheParameterGroupName"] == "default.redis7.cluster.on" and request["AutomaticFailoverEnabled"] is True
    stub.add_client_error("create_replication_group", "InvalidParameterCombination", "stand-in")  # the request validates against AWS's model
    with stub, pytest.raises(AwsError):
        asyncio.run(ctx.memo.aws_clients["us-east-1"].create(request))
