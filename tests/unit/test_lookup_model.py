"""The example churn model: trained on the synthetic data, saved as JSON, scoring what lookups return."""

from __future__ import annotations

import math

import pytest

from predictflow_runtime import datagen
from predictflow_serving.model import ChurnModel, roc_auc, train, training_frame

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def data():
    return datagen.generate(customers=1000, seed=7)


@pytest.fixture(scope="module")
def model(data):
    return train(*data)


def test_training_uses_each_customers_newest_row(data):
    features, labels = data
    frame = training_frame(features, labels)
    assert len(frame) == len(labels) == features["customer_id"].nunique()
    newest = features.sort_values("event_timestamp").groupby("customer_id").last()
    assert (frame.set_index("customer_id")["tenure_months"] == newest["tenure_months"]).all()


def test_model_ranks_churners_first(model, data):
    frame = training_frame(*data)
    scores = [model.score(row) for row in frame.to_dict("records")]
    assert all(0.0 < s < 1.0 for s in scores)
    assert roc_auc(scores, frame["churned"].tolist()) > 0.75
    held_out = training_frame(*datagen.generate(customers=500, seed=99))
    held_out_scores = [model.score(row) for row in held_out.to_dict("records")]
    assert roc_auc(held_out_scores, held_out["churned"].tolist()) > 0.7


def test_json_round_trip_scores_the_same(model):
    again = ChurnModel.from_json(model.to_json())
    assert again == model
    features = {"tenure_months": 3, "monthly_charges": 110.5, "total_charges": 331.5,
                "contract_type": "month-to-month", "support_tickets_90d": 4}
    assert again.score(features) == model.score(features)


def test_missing_features_count_as_average(model):
    average = dict(zip(("tenure_months", "monthly_charges", "total_charges", "support_tickets_90d"), model.means))
    assert model.score({**average, "contract_type": None}) == pytest.approx(model.score({}))
    assert model.score({"monthly_charges": math.nan}) == model.score({})
    risky = {"tenure_months": 1, "monthly_charges": 119.0, "total_charges": 119.0,
             "contract_type": "month-to-month", "support_tickets_90d": 6}
    loyal = {"tenure_months": 70, "monthly_charges": 20.0, "total_charges": 1400.0,
             "contract_type": "two-year", "support_tickets_90d": 0}
    assert model.score(risky) > 0.5 > model.score(loyal)


def test_a_model_for_other_features_is_refused(model):
    text = model.to_json().replace('"support_tickets_90d"', '"calls"', 1)
    with pytest.raises(ValueError, match="other features"):
        ChurnModel.from_json(text)


def test_roc_auc_reference_values():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert roc_auc([0.5, 0.5], [False, True]) == 0.5
