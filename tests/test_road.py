"""ROAD's noisy linear imputation and curve (xaiutils.road), by hand and on small models."""

import numpy as np
import pytest
import torch
from torch import nn

from xaiutils.road import noisy_linear_imputation, road


def test_a_constant_image_is_filled_with_its_constant_and_kept_pixels_stay():
    image = torch.full((3, 6, 7), 0.25)
    image[1] = -2.0
    removed = torch.zeros(6, 7, dtype=torch.bool)
    removed[1:4, 2:6] = True
    removed[0, 0] = True  # a corner: three neighbours only
    out = noisy_linear_imputation(image, removed, noise=0)
    assert torch.allclose(out, image, atol=1e-6)
    noisy = noisy_linear_imputation(
        image, removed, noise=0.5, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(noisy[:, ~removed], image[:, ~removed])  # only the removed pixels move
    assert 0.2 < float((noisy - image)[:, removed].std()) < 0.8


def test_one_removed_pixel_gets_the_weighted_mean_of_its_eight_neighbours():
    image = torch.arange(25.0).view(1, 5, 5) ** 2  # not linear, so the weights matter
    removed = torch.zeros(5, 5, dtype=torch.bool)
    removed[2, 2] = True
    out = noisy_linear_imputation(image, removed, noise=0)
    p = image[0]
    direct = (p[1, 2] + p[3, 2] + p[2, 1] + p[2, 3]) / 6
    diagonal = (p[1, 1] + p[1, 3] + p[3, 1] + p[3, 3]) / 12
    assert float(out[0, 2, 2]) == pytest.approx(float(direct + diagonal), rel=1e-6)


def test_a_linear_ramp_is_reproduced_inside_the_image():
    # Inside the image, the weighted mean of a linear function's 8 neighbours is its value.
    rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(9.0), indexing="ij")
    image = (2 * rows - 3 * cols)[None]
    removed = torch.zeros(8, 9, dtype=torch.bool)
    removed[2:6, 3:7] = True
    out = noisy_linear_imputation(image, removed, noise=0)
    assert torch.allclose(out, image, atol=1e-4)


def test_imputation_refuses_bad_input():
    image = torch.zeros(3, 4, 4)
    with pytest.raises(ValueError, match="every pixel"):
        noisy_linear_imputation(image, torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="removed must be a mask"):
        noisy_linear_imputation(image, torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="one image"):
        noisy_linear_imputation(image[None], torch.zeros(4, 4, dtype=torch.bool))


class CornerScore(nn.Module):
    """Logit 0 = 10 x the mean of the top-left 2 x 2 pixels (channel 0); logit 1 = 0."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale * x[:, 0, :2, :2].mean(dim=(1, 2))
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def test_road_morf_and_lerf_on_a_model_whose_evidence_is_known():
    model = CornerScore()
    x = torch.zeros(1, 1, 8, 8)
    x[..., :2, :2] = 1.0  # evidence: the bright corner (logit 10, probability ~1)
    right = torch.zeros(1, 8, 8)
    right[0, :2, :2] = 1.0
    right[0] += torch.linspace(0, 0.1, 64).view(8, 8)  # no ties
    wrong = -right
    kwargs = dict(percentages=(10, 50), noise=0.0)
    morf = road(model, x, torch.cat([right, wrong]), 0, order="morf", **kwargs)
    lerf = road(model, x, torch.cat([right, wrong]), 0, order="lerf", **kwargs)
    # Removing the corner first (the right map, MoRF) fills it from its dark neighbours.
    assert morf.scores[0].max() < 0.6 and morf.scores[1].min() > 0.99
    # Least relevant first keeps the corner for the right map, removes it for the wrong one.
    assert lerf.scores[0].min() > 0.99 and lerf.scores[1].max() < 0.6
    assert morf.mean()[0] < morf.mean()[1] and lerf.mean()[0] > lerf.mean()[1]
    acc = road(model, x, right, 0, order="morf", score="accuracy", **kwargs)
    assert set(acc.scores.flatten().tolist()) <= {0.0, 1.0}
    assert model.scale.item() == 10.0 and model.training


def test_road_refuses_bad_arguments():
    model, x = CornerScore(), torch.zeros(1, 1, 8, 8)
    maps = torch.rand(1, 8, 8)
    with pytest.raises(ValueError, match="order"):
        road(model, x, maps, 0, order="top")
    with pytest.raises(ValueError, match="percentages"):
        road(model, x, maps, 0, percentages=(0, 50))
    with pytest.raises(ValueError, match="maps must be"):
        road(model, x, torch.rand(1, 4, 4), 0)
    with pytest.raises(ValueError, match="NaN"):
        road(model, x, torch.full((1, 8, 8), float("nan")), 0)
    with pytest.raises(ValueError, match="score"):
        road(model, x, maps, 0, score="logit")


def test_road_is_seeded():
    model, x = CornerScore(), torch.rand(1, 1, 8, 8)
    maps = torch.rand(2, 8, 8)
    a = road(model, x, maps, 0, seed=3)
    b = road(model, x, maps, 0, seed=3)
    assert torch.equal(a.scores, b.scores)
    assert np.array_equal(a.percentages, [10, 30, 50, 70, 90])
