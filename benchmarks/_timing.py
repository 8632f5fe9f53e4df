"""Interleaved timing, shared by the benchmarks: ratios measured in one run.

Absolute timings on a shared CPU drift by up to 4x between minutes; the ratio of two calls
timed in the *same* rounds drifts far less. So every benchmark here calls each contender once
per round, after one warm-up call of each, and reports medians and ratios. The order within a
round is shuffled (seeded): a call can slow down the one after it (a library's NumPy leaves
its BLAS threads spinning for a while), and a fixed order would always charge that to the same
contender.

How much is noise? ``interleaved(..., again="ours")`` times one contender twice per round
(as ``"ours"`` and ``"ours, again"``); the ratio of the two is what chance alone gives on this
machine, and :func:`verdict` uses it as the tolerance of "no slower than".
"""

from __future__ import annotations

import contextlib
import io
import random
import statistics
import time
import warnings
from collections.abc import Callable

AGAIN = ", again"


def interleaved(
    contenders: dict[str, Callable[[], object]],
    repeats: int,
    *,
    again: str | None = None,
    warmup: bool = True,
) -> dict[str, list[float]]:
    """Seconds of each call, ``repeats`` rounds of one call each (progress bars silenced)."""
    if again is not None:
        contenders = contenders | {again + AGAIN: contenders[again]}
    times: dict[str, list[float]] = {key: [] for key in contenders}
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if warmup:
            for fn in contenders.values():
                fn()
        order, shuffle = list(contenders.items()), random.Random(0).shuffle
        for _ in range(repeats):
            shuffle(order)
            for key, fn in order:
                start = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - start)
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {key: statistics.median(values) for key, values in times.items()}


def paired(times: dict[str, list[float]], a: str, b: str) -> float:
    """Median over rounds of ``time(a) / time(b)``: each round's calls share its conditions."""
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def table(times: dict[str, list[float]], base: str, unit: str = "ms") -> None:
    """Print each call's median and its paired ratio to ``base``."""
    scale = 1e3 if unit == "ms" else 1.0
    for key, value in medians(times).items():
        print(f"  {key:38s} {value * scale:9.1f} {unit}  {paired(times, key, base):5.2f}x")


def noise(times: dict[str, list[float]], key: str) -> float:
    """How far the same call timed twice per round drifts: ``|median ratio - 1|``."""
    return abs(paired(times, key, key + AGAIN) - 1)


def verdict(ratio: float, target: float, tolerance: float) -> str:
    """``"met"``, ``"met within noise"`` (over by at most ``tolerance``) or ``"NOT met"``."""
    if ratio <= target:
        return "met"
    return "met within noise" if ratio <= target + tolerance else "NOT met"
