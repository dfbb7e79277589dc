"""Timing helpers the benchmarks share: interleaved calls of several variants, percentiles in ms."""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(samples) * 1000.0
    return round(float(np.percentile(values, 50)), 4), round(float(np.percentile(values, 99)), 4)


def interleaved(variants: dict[str, Callable[[Any], Any]], inputs: Callable[[int], list], rounds: int,
                per_round: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call for every variant, on the same inputs.

    Calls alternate one by one (in an order that rotates every input), so a burst of
    background load lands on all variants alike instead of on whichever ran at the time.
    """
    timings: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for argument in inputs(warmup):
        for name in names:
            variants[name](argument)
    clock = time.perf_counter
    turn = 0
    for _ in range(rounds):
        for argument in inputs(per_round):
            turn += 1
            shift = turn % len(names)
            for name in names[shift:] + names[:shift]:
                call = variants[name]
                started = clock()
                call(argument)
                timings[name].append(clock() - started)
    return timings
