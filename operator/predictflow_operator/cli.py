"""The operator's command line, as the Helm chart renders it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def parser() -> argparse.ArgumentParser:
    # No abbreviations: a misspelt flag in the chart must fail, not match a prefix.
    parser = argparse.ArgumentParser(prog="python -m predictflow_operator", description="The PredictFlow FeatureStore operator", allow_abbrev=False)
    parser.add_argument("--namespace", action="append", default=[], help="watch only these namespaces (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.add_argument("--log-format", choices=["plain", "full", "json"], default="full")
    parser.add_argument("--liveness", default="", help="e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--metrics", default="", help="serve Prometheus metrics, e.g. http://0.0.0.0:8081/metrics")
    parser.add_argument(
        "--leader-election-namespace",
        default="",
        help="take the Lease predictflow-operator in this namespace before acting (two replicas, one active)",
    )
    return parser


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Exits with status 2 and a usage message on an unknown flag or a bad value."""
    return parser().parse_args(argv)
