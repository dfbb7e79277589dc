"""Leader election on a coordination.k8s.io Lease, so two operator replicas never act at once.

The standby polls the Lease and takes it once the holder has not renewed it for `duration` seconds.
The leader renews every `renew_every` seconds; if it cannot renew within `deadline` (< duration) it
exits at once, before anyone else can take the Lease, so no two replicas act together.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from dataclasses import dataclass
from typing import cast

from lightkube import ApiError, AsyncClient
from lightkube.resources.coordination_v1 import Lease

from . import FIELD_MANAGER

log = logging.getLogger("predictflow.leader")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _micro_time(at: datetime.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LeaderElection:
    client: AsyncClient
    namespace: str
    identity: str
    name: str = FIELD_MANAGER
    duration: int = 10
    renew_every: float = 2.0
    deadline: float = 7.0

    def _body(self, acquired: datetime.datetime, transitions: int, version: str | None) -> Lease:
        now = _micro_time(_now())
        meta = {"name": self.name, "namespace": self.namespace, **({"resourceVersion": version} if version else {})}
        lease = Lease.from_dict(
            {
                "metadata": meta,
                "spec": {
                    "holderIdentity": self.identity,
                    "leaseDurationSeconds": self.duration,
                    "acquireTime": _micro_time(acquired),
                    "renewTime": now,
                    "leaseTransitions": transitions,
                },
            }
        )
        return cast(Lease, lease)  # lightkube annotates from_dict as returning DictMixin, not the class it is called on

    async def _try(self) -> bool:
        """Take or renew the Lease; False while another live holder has it (or another replica won)."""
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
            try:
                await self.client.create(self._body(_now(), 0, None), field_manager=FIELD_MANAGER)
            except ApiError as conflict:
                if conflict.status.code == 409:
                    return False
                raise
            return True
        spec, meta = lease.spec, lease.metadata
        assert spec is not None and meta is not None  # the API server returns both on every Lease
        mine = spec.holderIdentity == self.identity
        renewed = spec.renewTime or spec.acquireTime
        expired = renewed is None or (_now() - renewed).total_seconds() > (spec.leaseDurationSeconds or self.duration)
        if not mine and spec.holderIdentity and not expired:
            return False
        acquired = spec.acquireTime if mine and spec.acquireTime else _now()
        transitions = (spec.leaseTransitions or 0) + (0 if mine else 1)
        try:
            await self.client.replace(self._body(acquired, transitions, meta.resourceVersion), field_manager=FIELD_MANAGER)
        except ApiError as conflict:
            if conflict.status.code == 409:
                return False
            raise
        return True

    async def acquire(self) -> None:
        log.info("waiting to lead as %s (Lease %s/%s)", self.identity, self.namespace, self.name)
        while True:
            try:
                if await self._try():
                    log.info("leading as %s", self.identity)
                    return
            except ApiError as error:
                log.warning("cannot read the Lease %s/%s: %s", self.namespace, self.name, error.status.message)
            await asyncio.sleep(self.renew_every)

    async def keep(self) -> None:
        """Renew until it fails for `deadline` seconds; then end the process before the Lease expires."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                if await self._try():
                    last = loop.time()
                    continue
                log.error("the Lease %s/%s was taken by another replica", self.namespace, self.name)
            except Exception as error:  # an unreachable API server: retry until the deadline
                log.warning("renewing the Lease failed: %s", error)
                if loop.time() - last < self.deadline:
                    continue
            log.error("lost the leadership; exiting so that only one replica acts")
            logging.shutdown()
            os._exit(1)
