"""The operator's side of a Redis Cluster: it reads each pod's CLUSTER NODES and carries out the
steps redis_topology decides, as the `topology` user, straight to the pods' IPs (the API server
says where they are; a rescheduled pod's DNS name may still be cached at its old address)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..redis_topology import AddSlots, Forget, Meet, Member, Replicate, Step, parse_cluster_nodes

TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class PodAddress:
    pod: str
    ip: str  # "" until the pod has one
    port: int
    host: str = ""  # the Kubernetes node
    phase: str = "Running"


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    tls: bool = False
    ca_data: str = ""  # PEM; the certificate names Services, not IPs, so the chain is checked and the name is not


def _client(address: PodAddress, login: Login) -> aioredis.Redis:
    options: dict[str, Any] = {"ssl": True, "ssl_check_hostname": False, "ssl_ca_data": login.ca_data or None} if login.tls else {}
    return aioredis.Redis(
        host=address.ip,
        port=address.port,
        username=login.username,
        password=login.password,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        **options,
    )


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def read_member(address: PodAddress, login: Login) -> Member:
    where = f"{address.ip}:{address.port}"
    if not address.ip or address.phase != "Running":
        return Member(address.pod, where, address.host, error=f"pod is {address.phase}" + ("" if address.ip else ", no IP yet"))
    client = _client(address, login)
    try:
        async with asyncio.timeout(2 * TIMEOUT_SECONDS):
            nodes, info = await client.execute_command("CLUSTER", "NODES"), await client.execute_command("CLUSTER", "INFO")
        state = next((line.partition(":")[2].strip() for line in _text(info).splitlines() if line.startswith("cluster_state:")), "")
        return Member(address.pod, where, address.host, nodes=parse_cluster_nodes(_text(nodes)), state=state)
    except (RedisError, OSError, TimeoutError) as error:
        return Member(address.pod, where, address.host, error=_error(error))
    finally:
        await client.aclose()


async def read_members(addresses: Sequence[PodAddress], login: Login) -> list[Member]:
    return list(await asyncio.gather(*(read_member(address, login) for address in addresses)))


def _command(step: Step) -> tuple[Any, ...]:
    if isinstance(step, Meet):
        ip, _, port = step.address.rpartition(":")
        return ("CLUSTER", "MEET", ip, int(port))
    if isinstance(step, AddSlots):
        return ("CLUSTER", "ADDSLOTSRANGE", step.first, step.last)
    if isinstance(step, Replicate):
        return ("CLUSTER", "REPLICATE", step.primary_id)
    if isinstance(step, Forget):
        return ("CLUSTER", "FORGET", step.node_id)
    raise TypeError(step)


async def carry_out(steps: Sequence[Step], addresses: Sequence[PodAddress], login: Login) -> None:
    """Each step on its pod; ValueError with Redis' own words for the first that is refused."""
    by_pod = {address.pod: address for address in addresses}
    for step in steps:
        client = _client(by_pod[step.pod], login)
        command = _command(step)
        try:
            async with asyncio.timeout(2 * TIMEOUT_SECONDS):
                await client.execute_command(*command)
        except (RedisError, OSError, TimeoutError) as error:
            raise ValueError(f"Redis Cluster: {' '.join(map(str, command[:2]))} on {step.pod} failed: {_error(error)}") from error
        finally:
            await client.aclose()
