"""`python -m predictflow_operator [--namespace NS ...] [--verbose]`: run the operator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket

import kopf
from lightkube import AsyncClient

from . import cli, handlers  # noqa: F401  (handlers registers the handlers)
from .health import serve as serve_health
from .leader import LeaderElection
from .metrics import OperatorMetrics
from .metrics import serve as serve_metrics


def main() -> None:
    args = cli.parse()
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()])
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = kopf.OperatorSettings()
    # With --namespace the operator runs on Roles alone: no cluster-wide scans of namespaces and CRDs.
    settings.scanning.disabled = bool(args.namespace)
    asyncio.run(run(args, settings))


async def run(args: argparse.Namespace, settings: kopf.OperatorSettings) -> None:
    state = {"role": "standby" if args.leader_election_namespace else "leader"}
    health = await serve_health(args.liveness, state) if args.liveness else None
    metrics = OperatorMetrics(state)
    exporter = await serve_metrics(args.metrics, metrics) if args.metrics else None
    keeper = None
    try:
        if args.leader_election_namespace:
            election = LeaderElection(AsyncClient(), args.leader_election_namespace, os.environ.get("POD_NAME") or socket.gethostname())
            await election.acquire()
            state["role"] = "leader"
            keeper = asyncio.create_task(election.keep())
        await kopf.operator(
            settings=settings,
            standalone=True,  # leadership is the Lease's (or there is one replica): no kopf peering objects
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            memo=kopf.Memo(metrics=metrics),
        )
    finally:
        if keeper is not None:
            keeper.cancel()
        for server in (health, exporter):
            if server is not None:
                await server.cleanup()


if __name__ == "__main__":
    main()
