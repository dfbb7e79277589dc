"""Pure builders: FeatureStore spec (+ observed inputs) -> Kubernetes manifests as dicts."""
