"""Latency benchmarks: `python -m bench.run` (what `make bench` runs) writes bench/results.json."""
