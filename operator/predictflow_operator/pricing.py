"""The ElastiCache cost estimate in status: nodes x an on-demand list price from a dated table (pure).

The table is the project's record, not AWS's live price list (operators run where AWS's pricing
API is often out of reach): `cache.t4g.small` reproduces the design's sizing figure, two nodes at
about $54 a month; the other rows are approximate us-east-1 list prices for Redis OSS. The chart's
`pricing.elasticache` replaces or extends rows (PREDICTFLOW_ELASTICACHE_PRICES, the same shape as
PRICE_LIST) and sets its own date. Reserved nodes, backups, data transfer and tax are not included.
"""

from __future__ import annotations

import functools
import json
from typing import Any

HOURS_PER_MONTH = 730
NOTE = "On-demand node-hours only: no reserved-node discount, backups, data transfer or tax"

PRICE_LIST: dict[str, Any] = {
    "date": "2026-12-03",
    "currency": "USD",
    "hourly": {
        "us-east-1": {
            "cache.t4g.micro": 0.016,
            "cache.t4g.small": 0.037,
            "cache.t4g.medium": 0.065,
            "cache.t3.micro": 0.017,
            "cache.t3.small": 0.034,
            "cache.t3.medium": 0.068,
            "cache.m7g.large": 0.158,
            "cache.m7g.xlarge": 0.315,
            "cache.r7g.large": 0.219,
            "cache.r7g.xlarge": 0.437,
            "cache.r7g.2xlarge": 0.873,
        }
    },
}


def price_list(override_json: str = "") -> dict[str, Any]:
    """The shipped table with the chart's rows laid over it; ValueError for an override that is not
    {"date"?, "currency"?, "hourly": {region: {nodeType: price}}}."""
    merged = {"date": PRICE_LIST["date"], "currency": PRICE_LIST["currency"], "hourly": {r: dict(p) for r, p in PRICE_LIST["hourly"].items()}}
    if not override_json.strip():
        return merged
    override = json.loads(override_json)
    if not isinstance(override, dict) or not isinstance(override.get("hourly", {}), dict):
        raise ValueError("PREDICTFLOW_ELASTICACHE_PRICES must be a JSON object with an `hourly` object of regions")
    for region, rows in override.get("hourly", {}).items():
        if not isinstance(rows, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in rows.values()):
            raise ValueError(f"PREDICTFLOW_ELASTICACHE_PRICES: region {region!r} must map node types to hourly prices")
        merged["hourly"].setdefault(region, {}).update({node: float(price) for node, price in rows.items()})
    for key in ("date", "currency"):
        if override.get(key):
            merged[key] = str(override[key])
    return merged


@functools.cache  # one setting per process: parsed once, not on every pass
def usable_price_list(override_json: str) -> dict[str, Any]:
    """price_list(), or the shipped table with the override's problem recorded for the estimate to tell."""
    try:
        return price_list(override_json)
    except ValueError as error:  # json.JSONDecodeError is one
        return {**price_list(), "problem": f"the chart's pricing.elasticache was ignored: {error}"}


def monthly_cost(prices: dict[str, Any], region: str, node_type: str, nodes: int) -> dict[str, Any]:
    """status.estimatedMonthlyCost (camelCase); without a price for the node type, says so."""
    hourly = prices["hourly"].get(region, {}).get(node_type)
    estimate: dict[str, Any] = {"currency": prices["currency"], "nodeType": node_type, "nodes": nodes, "priceListDate": prices["date"]}
    if prices.get("problem"):
        estimate["note"] = prices["problem"]
        return estimate
    if hourly is None:
        estimate["note"] = f"The price list of {prices['date']} has no {node_type} in {region}: add it with the chart's pricing.elasticache"
        return estimate
    estimate.update({"amount": round(nodes * hourly * HOURS_PER_MONTH, 2), "hourlyPrice": hourly, "note": NOTE})
    return estimate
