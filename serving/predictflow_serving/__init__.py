"""PredictFlow serving: a fast reader of Feast's Redis online store and the example churn service."""
