"""Bootstrap intervals (xaiutils.statistics) and the baseline maps (xaiutils.baselines)."""

import numpy as np
import pytest
import torch

from xaiutils.baselines import BASELINES, brightness, centre, edges, uniform
from xaiutils.statistics import bootstrap_mean, paired_difference


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_cases():
    rng = np.random.default_rng(0)
    small, large = rng.normal(0.5, 0.2, 25), rng.normal(0.5, 0.2, 400)
    a, b = bootstrap_mean(small), bootstrap_mean(large)
    assert a.low < a.mean < a.high and b.low < b.mean < b.high
    assert (b.high - b.low) < 0.6 * (a.high - a.low)  # 16 x the cases: about 1/4 the width
    # The normal approximation: half-width about 1.96 sd / sqrt(n).
    assert (b.high - b.low) / 2 == pytest.approx(1.96 * large.std() / 20, rel=0.15)
    assert bootstrap_mean(small, seed=1) != a and bootstrap_mean(small) == a  # seeded
    assert str(a).startswith(f"{a.mean:.3f} [")


def test_bootstrap_of_hits_and_of_a_constant():
    hits = np.array([1.0] * 80 + [0.0] * 20)
    interval = bootstrap_mean(hits)
    assert interval.mean == pytest.approx(0.8) and 0.70 < interval.low < 0.8 < interval.high < 0.9
    constant = bootstrap_mean(np.full(10, 0.3))
    assert constant.low == constant.high == pytest.approx(0.3)


def test_paired_difference_sees_what_unpaired_intervals_hide():
    rng = np.random.default_rng(1)
    difficulty = rng.uniform(0, 1, 60)  # cases differ a lot
    a = difficulty + 0.05 + rng.normal(0, 0.01, 60)  # a is always a little better
    b = difficulty
    ia, ib = bootstrap_mean(a), bootstrap_mean(b)
    assert ia.low < ib.high  # the two intervals overlap...
    d = paired_difference(a, b)
    assert d.excludes(0) and d.low > 0.04 and d.p < 0.01  # ...but the pairs all agree
    same = paired_difference(b, b)
    assert not same.excludes(0) and same.p == 1.0
    noise = paired_difference(rng.normal(0, 1, 60), rng.normal(0, 1, 60))
    assert noise.p > 0.05


def test_statistics_refuse_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean([0.1, float("nan"), 0.3])
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_mean([0.1])
    with pytest.raises(ValueError, match="same cases"):
        paired_difference([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="level"):
        bootstrap_mean([0.1, 0.2], level=1.5)


def test_baseline_maps():
    c = centre((20, 30))
    assert c.shape == (20, 30) and c.dtype == torch.float32
    y, x = np.unravel_index(int(c.argmax()), c.shape)
    assert (y, x) in {(9, 14), (9, 15), (10, 14), (10, 15)}  # the four central pixels tie
    assert torch.allclose(c, c.flip(0)) and torch.allclose(c, c.flip(1))
    assert torch.equal(uniform((5, 6), seed=2), uniform((5, 6), seed=2))
    assert not torch.equal(uniform((5, 6), seed=2), uniform((5, 6), seed=3))
    pixels = np.zeros((10, 12, 3))
    pixels[:, 6:] = 1.0  # a vertical edge between columns 5 and 6
    e = edges(pixels)
    assert e[:, 5:7].min() > 0 and e[:, :4].max() == 0 and e[:, 8:].max() == 0
    assert torch.allclose(brightness(pixels)[:, 6:], torch.ones(10, 6))
    for name, f in BASELINES.items():
        assert f(pixels).shape == (10, 12), name


def test_baselines_refuse_bad_input():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        edges(np.zeros((3, 10, 12)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brightness(np.full((4, 4, 3), 255.0))
    with pytest.raises(ValueError, match="size"):
        centre(10)
