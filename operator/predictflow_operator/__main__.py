"""`python -m predictflow_operator [--namespace NS ...] [--verbose]`: run the operator."""

from __future__ import annotations

import argparse
import asyncio
import logging

import kopf

from . import handlers  # noqa: F401  (registers the handlers)


def main() -> None:
    parser = argparse.ArgumentParser(description="The PredictFlow FeatureStore operator")
    parser.add_argument("--namespace", action="append", default=[], help="watch only these namespaces (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.add_argument("--log-format", choices=["plain", "full", "json"], default="full")
    parser.add_argument("--liveness", default="", help="e.g. http://0.0.0.0:8080/healthz")
    args = parser.parse_args()
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()])
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = kopf.OperatorSettings()
    # With --namespace the operator runs on Roles alone: no cluster-wide scans of namespaces and CRDs.
    settings.scanning.disabled = bool(args.namespace)
    asyncio.run(
        kopf.operator(
            settings=settings,
            standalone=True,  # one replica (Recreate); no peering objects to install
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=args.liveness or None,
        )
    )


if __name__ == "__main__":
    main()
