"""Deterministic synthetic card activity: the offline store (Parquet) and the fraud labels.

`python -m fraud_example.data --out DIR [--cards N] [--seed S]` writes DIR/card_activity.parquet
(what the card_activity feature view reads; three snapshots per card, the newest is what the
online store serves) and DIR/fraud_labels.parquet (card_id, fraud), the same bytes for the same
arguments.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ACTIVITY_FILE = "card_activity.parquet"
LABELS_FILE = "fraud_labels.parquet"
FIRST_CARD_ID = 400_001
DEFAULT_CARDS = 500
DEFAULT_SEED = 11
COUNTRIES = ("CH", "DE", "FR", "IT", "AT")
# The newest snapshot is taken at this moment; the older ones a day and two days before.
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SNAPSHOTS = 3


def generate(cards: int = DEFAULT_CARDS, seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(activity, labels): SNAPSHOTS aggregate rows per card, and whether the card turned out fraudulent."""
    rng = np.random.default_rng(seed)
    ids = np.arange(FIRST_CARD_ID, FIRST_CARD_ID + cards, dtype=np.int64)
    # A card's habits: how much it usually spends and how many merchants it usually sees.
    usual_amount = np.round(rng.lognormal(mean=3.6, sigma=0.6, size=cards), 2)
    usual_merchants = rng.integers(2, 12, size=cards)
    chargebacks = rng.poisson(0.15, size=cards)
    # About one card in ten is being abused: bursts of spending at many new merchants.
    compromised = rng.random(cards) < 0.1
    country = rng.choice(len(COUNTRIES), size=cards)

    frames = []
    for snapshot in range(SNAPSHOTS):
        age_days = SNAPSHOTS - 1 - snapshot
        # The abuse shows only in the newest snapshot; before it every card looks like itself.
        burst = compromised & (age_days == 0)
        count_1h = rng.poisson(np.where(burst, 6.0, 0.4))
        sum_24h = np.round(usual_amount * rng.poisson(np.where(burst, 14.0, 2.0)) * rng.uniform(0.7, 1.3, size=cards), 2)
        merchants_7d = usual_merchants + rng.poisson(np.where(burst, 9.0, 0.5))
        offsets = rng.integers(0, 3_600, size=cards)
        when = ANCHOR - timedelta(days=age_days)
        frames.append(
            pd.DataFrame(
                {
                    "card_id": ids,
                    "event_timestamp": [when - timedelta(seconds=int(s)) for s in offsets],
                    "created": [when - timedelta(seconds=int(s)) + timedelta(minutes=2) for s in offsets],
                    "txn_count_1h": count_1h.astype(np.int64),
                    "txn_amount_sum_24h": sum_24h,
                    "avg_amount_30d": np.round(usual_amount * rng.uniform(0.9, 1.1, size=cards), 2),
                    "distinct_merchants_7d": merchants_7d.astype(np.int64),
                    "chargebacks_90d": chargebacks.astype(np.int64),
                    "home_country": [COUNTRIES[c] for c in country],
                }
            )
        )
    activity = pd.concat(frames, ignore_index=True)
    # Some abused cards slip through unnoticed and a few honest ones are reported: the labels are noisy.
    noise = rng.random(cards)
    fraud = np.where(compromised, noise < 0.9, noise < 0.02 + 0.1 * np.minimum(chargebacks, 3))
    labels = pd.DataFrame({"card_id": ids, "fraud": fraud})
    return activity, labels


def newest_activity(activity: pd.DataFrame) -> pd.DataFrame:
    """Each card's newest row, indexed by card_id: what materialization puts online."""
    return activity.sort_values("event_timestamp").groupby("card_id").last()


def write(out: Path, cards: int = DEFAULT_CARDS, seed: int = DEFAULT_SEED) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    activity, labels = generate(cards, seed)
    activity_path, labels_path = out / ACTIVITY_FILE, out / LABELS_FILE
    activity.to_parquet(activity_path, index=False)
    labels.to_parquet(labels_path, index=False)
    return activity_path, labels_path


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the fraud example's offline store and labels")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cards", type=int, default=DEFAULT_CARDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    activity_path, _ = write(args.out, args.cards, args.seed)
    print(f"wrote {activity_path} ({args.cards} cards)")


if __name__ == "__main__":
    main()
