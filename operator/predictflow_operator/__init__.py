"""The PredictFlow operator: one FeatureStore resource -> a Feast online feature-serving stack."""

GROUP = "predictflow.io"
VERSION = "v1alpha1"
KIND = "FeatureStore"
PLURAL = "featurestores"
FIELD_MANAGER = "predictflow-operator"
