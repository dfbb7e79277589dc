"""ElastiCache through boto3, off the event loop. Credentials come from the standard chain
(IRSA, env vars); AWS_ENDPOINT_URL points it elsewhere (a moto server in tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

NOT_FOUND = "ReplicationGroupNotFoundFault"


class AwsError(Exception):
    """An AWS failure with AWS's own code and message, for a condition a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ElastiCache:
    def __init__(self, region: str, endpoint_url: str | None = None) -> None:
        self._client = boto3.client(
            "elasticache",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20),
        )

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(getattr(self._client, operation), **params)
        except ClientError as error:
            info = error.response.get("Error", {})
            raise AwsError(info.get("Code", "ClientError"), info.get("Message", str(error))) from error
        except BotoCoreError as error:
            raise AwsError(type(error).__name__, str(error)) from error

    async def describe(self, group_id: str) -> dict[str, Any] | None:
        try:
            groups = await self._call("describe_replication_groups", ReplicationGroupId=group_id)
        except AwsError as error:
            if error.code == NOT_FOUND:
                return None
            raise
        return groups["ReplicationGroups"][0]

    async def create(self, request: dict[str, Any]) -> dict[str, Any]:
        return (await self._call("create_replication_group", **request))["ReplicationGroup"]

    async def modify_node_type(self, group_id: str, node_type: str) -> None:
        await self._call("modify_replication_group", ReplicationGroupId=group_id, CacheNodeType=node_type, ApplyImmediately=True)

    async def set_replicas(self, group_id: str, current: int, wanted: int) -> None:
        operation = "increase_replica_count" if wanted > current else "decrease_replica_count"
        await self._call(operation, ReplicationGroupId=group_id, NewReplicaCount=wanted, ApplyImmediately=True)

    async def tags(self, arn: str) -> dict[str, str]:
        listed = await self._call("list_tags_for_resource", ResourceName=arn)
        return {tag["Key"]: tag["Value"] for tag in listed.get("TagList") or []}

    async def add_tags(self, arn: str, tags: list[dict[str, str]]) -> None:
        await self._call("add_tags_to_resource", ResourceName=arn, Tags=tags)

    async def update_auth_token(self, group_id: str, token: str, strategy: str) -> None:
        """ROTATE: AWS accepts the new token besides the old one; SET (only after ROTATE): the new one alone."""
        await self._call("modify_replication_group", ReplicationGroupId=group_id, AuthToken=token, AuthTokenUpdateStrategy=strategy, ApplyImmediately=True)

    async def delete(self, group_id: str) -> bool:
        """True if a deletion started; False if AWS says the group is already gone."""
        try:
            await self._call("delete_replication_group", ReplicationGroupId=group_id, RetainPrimaryCluster=False)
        except AwsError as error:
            if error.code == NOT_FOUND:
                return False
            raise
        return True
