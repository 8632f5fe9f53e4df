"""How sure is a mean over cases? Bootstrap intervals and paired comparisons. Lesson 09.

A table of evaluation scores is a table of means over cases (images, or one class on one
image). With a hundred cases a mean still moves by a few points if other cases had been
drawn. The **percentile bootstrap** (Efron, 1979) measures how much: draw ``n`` cases with
replacement from the ``n`` cases, take the mean, repeat a few thousand times; the middle 95 %
of those means is the 95 % confidence interval.

Two methods scored on the *same* cases are compared **paired**: the bootstrap of the mean of
their per-case differences. Cases differ far more from each other than methods do on one case
(a large, centred object is easy for every method), and pairing removes that shared part; two
unpaired intervals that overlap can still hide a clear paired difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xaiutils.validation import in_range, positive_int

__all__ = ["Interval", "bootstrap_mean", "paired_difference"]


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` cases and its bootstrap interval ``[low, high]`` at ``level``.

    For a paired difference, ``p`` is the two-sided bootstrap p-value of "the mean difference
    is 0": twice the share of resampled means on the far side of 0 (at most 1); ``None`` for
    a plain mean.
    """

    mean: float
    low: float
    high: float
    n: int
    level: float
    p: float | None = None

    def excludes(self, value: float = 0.0) -> bool:
        """Whether ``value`` lies outside the interval (a significant difference from it)."""
        return not self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _values(values: object, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"{name} must be one score per case, at least 2 cases, got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(
            f"{name} has NaN or infinite scores: drop the cases a metric cannot score first, "
            "and say how many"
        )
    return v


def _means(v: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` bootstrap means of ``v`` (cases drawn with replacement)."""
    rng = np.random.default_rng(seed)
    return v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)


def bootstrap_mean(
    values: object, *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Interval:
    """The mean of per-case scores and its percentile-bootstrap interval.

    ``values``: one number per case. ``level``: the interval's coverage (0.95: the 2.5th to
    97.5th percentile of ``resamples`` bootstrap means). Seeded: the same input gives the same
    interval.
    """
    v = _values(values, "values")
    level = in_range(level, "level", 0, 1)
    means = _means(v, positive_int(resamples, "resamples"), positive_int(seed, "seed", minimum=0))
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(v.mean()), float(low), float(high), v.size, level)


def paired_difference(
    a: object, b: object, *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Interval:
    """The mean of ``a - b`` over the same cases, its bootstrap interval and p-value.

    ``a`` and ``b``: two methods' scores on the same cases, in the same order. The difference
    is significant at ``level`` when the interval excludes 0 (:meth:`Interval.excludes`).
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must score the same cases, got {a.size} and {b.size}")
    d = a - b
    level = in_range(level, "level", 0, 1)
    means = _means(d, positive_int(resamples, "resamples"), positive_int(seed, "seed", minimum=0))
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    p = 1.0 if not d.any() else min(1.0, 2 * min((means <= 0).mean(), (means >= 0).mean()))
    return Interval(float(d.mean()), float(low), float(high), d.size, level, float(p))
