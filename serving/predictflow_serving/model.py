"""The example churn model: logistic regression on the churn feature view, in plain numpy.

`python -m predictflow_serving.model --data DIR` trains it on DIR/churn_features.parquet and
DIR/churn_labels.parquet (what `python -m predictflow_runtime.datagen --out DIR` writes) and
saves it to the BentoML model store ($BENTOML_HOME/models) as `churn_model`. The service loads
`churn_model:latest` from there, or from a model store directory of its own (an image's
read-only copy, while BENTOML_HOME points at a writable folder for BentoML's runtime files).
The model is a small JSON document, not a pickle.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predictflow_runtime.datagen import CONTRACT_TYPES, FEATURES_FILE, LABELS_FILE

MODEL_NAME = "churn_model"
MODEL_FILE = "churn_model.json"
FEATURE_VIEW = "churn_features"
ENTITY_KEY = "customer_id"
NUMERIC_FEATURES = ("tenure_months", "monthly_charges", "total_charges", "support_tickets_90d")
CATEGORICAL_FEATURE = "contract_type"
FEATURES = NUMERIC_FEATURES[:3] + (CATEGORICAL_FEATURE,) + NUMERIC_FEATURES[3:]
FEATURE_REFERENCES = tuple(f"{FEATURE_VIEW}:{name}" for name in FEATURES)


@dataclass(frozen=True)
class ChurnModel:
    """Standardised numeric features and a one-hot contract type, through a logistic link.

    A missing numeric feature counts as the training mean; an unknown or missing contract type
    as none of the known ones.
    """

    means: tuple[float, ...]
    scales: tuple[float, ...]
    categories: tuple[str, ...]
    numeric_weights: tuple[float, ...]
    category_weights: tuple[float, ...]
    bias: float

    def score(self, features: Mapping[str, Any]) -> float:
        """The churn probability for one customer's features."""
        logit = self.bias
        for name, mean, scale, weight in zip(NUMERIC_FEATURES, self.means, self.scales, self.numeric_weights, strict=True):
            value = features.get(name)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                logit += weight * (float(value) - mean) / scale
        category = features.get(CATEGORICAL_FEATURE)
        for known, weight in zip(self.categories, self.category_weights, strict=True):
            if category == known:
                logit += weight
        return 1.0 / (1.0 + math.exp(-logit))

    def to_json(self) -> str:
        return json.dumps({"features": list(FEATURES), **asdict(self)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ChurnModel:
        document = json.loads(text)
        if tuple(document["features"]) != FEATURES:
            raise ValueError("the saved model was trained on other features")
        return cls(
            means=tuple(document["means"]),
            scales=tuple(document["scales"]),
            categories=tuple(document["categories"]),
            numeric_weights=tuple(document["numeric_weights"]),
            category_weights=tuple(document["category_weights"]),
            bias=float(document["bias"]),
        )


def training_frame(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Each customer's newest feature row (what the online store serves) with its label."""
    newest = features.sort_values("event_timestamp").groupby(ENTITY_KEY, as_index=False).last()
    return newest.merge(labels, on=ENTITY_KEY, how="inner")


def _design_matrix(frame: pd.DataFrame, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    numeric = (frame[list(NUMERIC_FEATURES)].to_numpy(dtype=float) - means) / scales
    one_hot = np.stack([(frame[CATEGORICAL_FEATURE] == c).to_numpy(dtype=float) for c in CONTRACT_TYPES], axis=1)
    return np.hstack([numeric, one_hot, np.ones((len(frame), 1))])


def train(features: pd.DataFrame, labels: pd.DataFrame, l2: float = 1e-2, iterations: int = 25) -> ChurnModel:
    """Fit by Newton's method (iteratively reweighted least squares) with a small ridge penalty."""
    frame = training_frame(features, labels)
    means = frame[list(NUMERIC_FEATURES)].mean().to_numpy(dtype=float)
    scales = frame[list(NUMERIC_FEATURES)].std(ddof=0).replace(0, 1).to_numpy(dtype=float)
    x = _design_matrix(frame, means, scales)
    y = frame["churned"].to_numpy(dtype=float)
    penalty = l2 * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    weights = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ weights)))
        gradient = x.T @ (p - y) + penalty @ weights
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    n_numeric = len(NUMERIC_FEATURES)
    return ChurnModel(
        means=tuple(means.tolist()),
        scales=tuple(scales.tolist()),
        categories=tuple(CONTRACT_TYPES),
        numeric_weights=tuple(weights[:n_numeric].tolist()),
        category_weights=tuple(weights[n_numeric:-1].tolist()),
        bias=float(weights[-1]),
    )


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Probability that a random churner scores above a random non-churner (ties count half)."""
    ranks = pd.Series(scores).rank().to_numpy()
    positives = np.asarray(labels, dtype=bool)
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def train_from_directory(data: Path) -> ChurnModel:
    features_path, labels_path = data / FEATURES_FILE, data / LABELS_FILE
    for path in (features_path, labels_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `python -m predictflow_runtime.datagen --out {data}`")
    return train(pd.read_parquet(features_path), pd.read_parquet(labels_path))


def save(model: ChurnModel, name: str = MODEL_NAME, metadata: Mapping[str, Any] | None = None) -> str:
    """Save into the BentoML model store; returns the new tag."""
    import bentoml

    with bentoml.models.create(name, metadata=dict(metadata or {})) as stored:
        Path(stored.path_of(MODEL_FILE)).write_text(model.to_json())
    return str(stored.tag)


def load(tag: str = f"{MODEL_NAME}:latest", model_store: Path | None = None) -> ChurnModel:
    """Load from BentoML's model store, or from the model store directory `model_store`."""
    import bentoml

    if model_store is None:
        stored = bentoml.models.get(tag)
    else:
        from bentoml._internal.models.model import ModelStore

        stored = bentoml.models.get(tag, _model_store=ModelStore(model_store))
    return ChurnModel.from_json(Path(stored.path_of(MODEL_FILE)).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the churn model and save it to the BentoML model store")
    parser.add_argument("--data", type=Path, required=True, help="folder with the datagen Parquet files")
    parser.add_argument("--name", default=MODEL_NAME)
    args = parser.parse_args()
    model = train_from_directory(args.data)
    frame = training_frame(pd.read_parquet(args.data / FEATURES_FILE), pd.read_parquet(args.data / LABELS_FILE))
    auc = roc_auc([model.score(row) for row in frame.to_dict("records")], frame["churned"].tolist())
    tag = save(model, args.name, {"training_auc": round(auc, 4), "customers": len(frame)})
    print(f"saved {tag} (training AUC {auc:.3f}, {len(frame)} customers)")


if __name__ == "__main__":
    main()
