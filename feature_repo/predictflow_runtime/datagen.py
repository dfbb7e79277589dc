"""Deterministic synthetic churn data: the offline store (Parquet) and training labels.

`python -m predictflow_runtime.datagen --out DIR [--customers N] [--seed S]` writes
DIR/churn_features.parquet (what the feature view reads) and DIR/churn_labels.parquet
(customer_id, churned), the same bytes for the same arguments.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES_FILE = "churn_features.parquet"
LABELS_FILE = "churn_labels.parquet"
CONTRACT_TYPES = ("month-to-month", "one-year", "two-year")
# Fixed so the data is reproducible; rows are spread over the 30 days before it.
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_CUSTOMER_ID = 1001


def generate(customers: int = 1000, seed: int = 7, snapshots: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features (`snapshots` rows per customer, the newest wins online) and labels."""
    rng = np.random.default_rng(seed)
    ids = np.arange(FIRST_CUSTOMER_ID, FIRST_CUSTOMER_ID + customers, dtype=np.int64)
    contract = rng.choice(len(CONTRACT_TYPES), size=customers, p=[0.55, 0.25, 0.20])
    tenure = rng.integers(1, 72, size=customers)
    monthly = np.round(rng.uniform(18.0, 120.0, size=customers), 2)
    tickets = rng.poisson(1.5, size=customers)

    frames = []
    for snapshot in range(snapshots):
        age = snapshots - 1 - snapshot  # months before the newest snapshot
        when = ANCHOR - timedelta(days=30) + timedelta(days=10 * snapshot)
        offsets = rng.integers(0, 86_400, size=customers)
        snapshot_tenure = np.maximum(tenure - age, 0)
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "event_timestamp": [when + timedelta(seconds=int(s)) for s in offsets],
                    "created": [when + timedelta(seconds=int(s), minutes=5) for s in offsets],
                    "tenure_months": snapshot_tenure.astype(np.int64),
                    "monthly_charges": monthly,
                    "total_charges": np.round(monthly * snapshot_tenure, 2),
                    "contract_type": [CONTRACT_TYPES[c] for c in contract],
                    "support_tickets_90d": np.maximum(tickets - age, 0).astype(np.int64),
                }
            )
        )
    features = pd.concat(frames, ignore_index=True)

    # Churn risk grows with monthly charges and support tickets, falls with tenure and long contracts.
    logit = -1.0 + 0.025 * (monthly - 60) + 0.45 * tickets - 0.05 * tenure - 1.2 * contract
    churned = rng.random(customers) < 1 / (1 + np.exp(-logit))
    labels = pd.DataFrame({"customer_id": ids, "churned": churned})
    return features, labels


def write(out: Path, customers: int = 1000, seed: int = 7) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    features, labels = generate(customers, seed)
    features_path, labels_path = out / FEATURES_FILE, out / LABELS_FILE
    features.to_parquet(features_path, index=False)
    labels.to_parquet(labels_path, index=False)
    return features_path, labels_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    features_path, _ = write(args.out, args.customers, args.seed)
    print(f"wrote {features_path} ({args.customers} customers)")


if __name__ == "__main__":
    main()
