"""`python -m predictflow_operator [--namespace NS ...] [--verbose]`: run the operator."""

from __future__ import annotations

import argparse
import asyncio

import kopf

from . import handlers  # noqa: F401  (registers the handlers)


def main() -> None:
    parser = argparse.ArgumentParser(description="The PredictFlow FeatureStore operator")
    parser.add_argument("--namespace", action="append", default=[], help="watch only these namespaces (repeatable)")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--liveness", default="", help="e.g. http://0.0.0.0:8080/healthz")
    args = parser.parse_args()
    kopf.configure(verbose=args.verbose)
    asyncio.run(
        kopf.operator(
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=args.liveness or None,
        )
    )


if __name__ == "__main__":
    main()
