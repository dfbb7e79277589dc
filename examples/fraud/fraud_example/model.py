"""The fraud model: logistic regression on a card's transaction aggregates, in plain numpy.

`python -m fraud_example.model --data DIR` trains it on what `python -m fraud_example.data
--out DIR` wrote and saves it to BentoML's model store ($BENTOML_HOME/models) as `fraud_model`.
The saved model is a small JSON document (weights and the feature names), not a pickle.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import ACTIVITY_FILE, LABELS_FILE, newest_activity

MODEL_NAME = "fraud_model"
MODEL_FILE = "fraud_model.json"
# The features of the repo's `fraud_scoring` FeatureService, in its order.
FEATURES = ("txn_count_1h", "txn_amount_sum_24h", "avg_amount_30d", "distinct_merchants_7d", "chargebacks_90d")


@dataclass(frozen=True)
class FraudModel:
    """log1p of each aggregate, standardised, through a logistic link.

    A missing aggregate counts as the training mean, so a card with a gap in its history is
    scored on what is known about it.
    """

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def score(self, features: Mapping[str, Any]) -> float:
        """The probability that the card is being used fraudulently."""
        logit = self.bias
        for name, mean, scale, weight in zip(self.features, self.means, self.scales, self.weights, strict=True):
            value = features.get(name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            logit += weight * (math.log1p(max(float(value), 0.0)) - mean) / scale
        return 1.0 / (1.0 + math.exp(-logit))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> FraudModel:
        document = json.loads(text)
        return cls(
            features=tuple(document["features"]),
            means=tuple(document["means"]),
            scales=tuple(document["scales"]),
            weights=tuple(document["weights"]),
            bias=float(document["bias"]),
        )


def training_frame(activity: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Each card's newest aggregates (what serving reads) with its label."""
    return newest_activity(activity).reset_index().merge(labels, on="card_id", how="inner")


def train(activity: pd.DataFrame, labels: pd.DataFrame, l2: float = 1e-2, iterations: int = 50) -> FraudModel:
    """Penalised maximum likelihood by Newton's method; the bias is not penalised."""
    frame = training_frame(activity, labels)
    logs = np.log1p(frame[list(FEATURES)].to_numpy(dtype=float).clip(min=0.0))
    means = logs.mean(axis=0)
    scales = logs.std(axis=0)
    scales[scales == 0] = 1.0
    x = np.hstack([(logs - means) / scales, np.ones((len(frame), 1))])
    y = frame["fraud"].to_numpy(dtype=float)
    penalty = np.diag([l2] * len(FEATURES) + [0.0])
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (p - y) + penalty @ beta
        hessian = x.T @ (x * (p * (1.0 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return FraudModel(
        features=FEATURES,
        means=tuple(means.tolist()),
        scales=tuple(scales.tolist()),
        weights=tuple(beta[:-1].tolist()),
        bias=float(beta[-1]),
    )


def train_from_directory(data: Path) -> FraudModel:
    return train(pd.read_parquet(data / ACTIVITY_FILE), pd.read_parquet(data / LABELS_FILE))


def save(model: FraudModel, metadata: Mapping[str, Any] | None = None) -> str:
    """Into BentoML's model store; returns the new tag."""
    import bentoml

    with bentoml.models.create(MODEL_NAME, metadata=dict(metadata or {})) as stored:
        Path(stored.path_of(MODEL_FILE)).write_text(model.to_json())
    return str(stored.tag)


def load(tag: str = f"{MODEL_NAME}:latest") -> FraudModel:
    """From BentoML's model store."""
    import bentoml

    return FraudModel.from_json(Path(bentoml.models.get(tag).path_of(MODEL_FILE)).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the fraud model and save it to BentoML's model store")
    parser.add_argument("--data", type=Path, required=True, help="the folder `python -m fraud_example.data` wrote")
    args = parser.parse_args()
    activity, labels = pd.read_parquet(args.data / ACTIVITY_FILE), pd.read_parquet(args.data / LABELS_FILE)
    model = train(activity, labels)
    frame = training_frame(activity, labels)
    flagged = np.array([model.score(row) >= 0.5 for row in frame.to_dict("records")])
    accuracy = float((flagged == frame["fraud"].to_numpy()).mean())
    tag = save(model, {"training_accuracy": round(accuracy, 4), "cards": len(frame)})
    print(f"saved {tag} (training accuracy {accuracy:.3f} on {len(frame)} cards)")


if __name__ == "__main__":
    main()
