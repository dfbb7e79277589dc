"""The offline data is reproducible: same bytes for the same arguments."""

from datetime import datetime, timezone

import pytest

from predictflow_runtime import datagen

pytestmark = pytest.mark.unit


def _bytes(out, **kwargs):
    features, labels = datagen.write(out, **kwargs)
    return features.read_bytes(), labels.read_bytes()


def test_same_arguments_write_the_same_bytes(tmp_path):
    assert _bytes(tmp_path / "a", customers=50, seed=7) == _bytes(tmp_path / "b", customers=50, seed=7)


def test_another_seed_writes_other_data(tmp_path):
    a_features, a_labels = _bytes(tmp_path / "a", customers=50, seed=7)
    b_features, b_labels = _bytes(tmp_path / "b", customers=50, seed=8)
    assert a_features != b_features and a_labels != b_labels


def test_generated_data_follows_the_shared_contract():
    features, labels = datagen.generate(customers=20, seed=7)
    assert labels["customer_id"].tolist() == list(range(1001, 1021))
    assert set(features["customer_id"]) == set(labels["customer_id"])
    assert labels["churned"].dtype == bool
    december_2025 = (datetime(2025, 12, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert features["event_timestamp"].between(*december_2025).all()
    assert (features["created"] > features["event_timestamp"]).all()
    assert set(features["contract_type"]) <= set(datagen.CONTRACT_TYPES)
