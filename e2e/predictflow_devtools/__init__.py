"""Local tooling shared by `make cluster-up` and the test fixtures."""
