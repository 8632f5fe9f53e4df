"""The course's evaluation metrics against Quantus 0.6.0, the library people use (lesson 09).

Each test gives both the same inputs and asserts the same numbers; where Quantus's default
differs from the course's metric, the test shows the difference and what removes it.
"""

import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from xaiutils.metrics import energy_in_region, map_similarity, pointing_game, region_mask
from xaiutils.road import noisy_linear_imputation, road
from xaiutils.sanity import random_logit, sanity_check

quantus = pytest.importorskip("quantus")
warnings.filterwarnings("ignore", module="quantus")

QUIET = dict(disable_warnings=True, display_progressbar=False)


def _maps(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random maps with one maximum each (no ties)."""
    rng = np.random.default_rng(seed)
    maps = ndimage.gaussian_filter(rng.normal(size=(n, h, w)), sigma=(0, 3, 3))
    return maps + 1e-6 * rng.random((n, h, w))


def test_pointing_game_equals_quantus_on_the_mask_grown_by_the_tolerance():
    # TorchRay's tolerance: a hit if some object pixel is closer than 15 px to the peak. That
    # is Quantus's plain rule (the peak inside the mask) on the mask grown by 15 px.
    h, w, r = 64, 80, 15
    maps = _maps(40, h, w)
    corners = np.random.default_rng(9).integers(0, 40, size=(40, 2))
    boxes = [(x0, y0, x0 + 20, y0 + 16) for x0, y0 in corners.tolist()]
    masks = np.stack([region_mask(b, (h, w)) for b in boxes])
    grown = np.stack([ndimage.distance_transform_edt(~m) < r for m in masks])
    ours = [pointing_game(m, b, tolerance=r) for m, b in zip(maps, boxes, strict=True)]
    metric = quantus.PointingGame(normalise=False, abs=False, **QUIET)
    theirs = metric(
        model=None,
        x_batch=np.zeros((40, 1, h, w)),
        y_batch=np.zeros(40, int),
        a_batch=maps[:, None],
        s_batch=grown[:, None].astype(float),
    )
    assert 5 < sum(ours) < 35  # hits and misses both
    assert ours == [bool(v) for v in theirs]
    strict = quantus.PointingGame(normalise=False, abs=False, **QUIET)(
        model=None,
        x_batch=np.zeros((40, 1, h, w)),
        y_batch=np.zeros(40, int),
        a_batch=maps[:, None],
        s_batch=masks[:, None].astype(float),
    )
    assert [pointing_game(m, b) for m, b in zip(maps, boxes, strict=True)] == [
        bool(v) for v in strict
    ]


def test_relevance_mass_accuracy_equals_energy_on_maps_without_negative_values():
    h, w = 32, 48
    maps = _maps(12, h, w, seed=1)
    boxes = [(4 + i, 3, 20 + 2 * i, 25) for i in range(12)]
    masks = np.stack([region_mask(b, (h, w)) for b in boxes]).astype(float)[:, None]
    metric = quantus.RelevanceMassAccuracy(normalise=False, abs=False, **QUIET)
    x, y = np.zeros((12, 1, h, w)), np.zeros(12, int)
    positive = np.clip(maps, 0, None)
    theirs = metric(model=None, x_batch=x, y_batch=y, a_batch=positive[:, None], s_batch=masks)
    ours = [energy_in_region(m, b) for m, b in zip(maps, boxes, strict=True)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    # Quantus sums the raw map, negative values included: a different number for signed maps.
    raw = metric(model=None, x_batch=x, y_batch=y, a_batch=maps[:, None], s_batch=masks)
    assert not np.allclose(raw, ours)


class Grey(nn.Module):
    """A grey image (N, 1, H, W) copied into three channels, then a small seeded CNN."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 5),
        )
        self.eval()  # Quantus refuses a model in training mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.expand(-1, 3, -1, -1))


def test_noisy_linear_imputation_equals_quantus():
    from quantus.functions.perturb_func import noisy_linear_imputation as theirs

    rng = np.random.default_rng(2)
    image = rng.normal(size=(3, 20, 24)).astype(np.float32)
    for share in (0.1, 0.5, 0.9):
        idx = rng.permutation(20 * 24)[: int(share * 20 * 24)]
        removed = np.zeros(20 * 24, bool)
        removed[idx] = True
        ours = noisy_linear_imputation(torch.from_numpy(image), removed.reshape(20, 24), noise=0)
        np.testing.assert_allclose(ours.numpy(), theirs(image, np.sort(idx), noise=0.0), atol=1e-5)


def test_road_equals_quantus_on_a_grey_image_and_quantus_fails_on_rgb():
    model = Grey()
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.normal(size=(6, 1, 16, 16)).astype(np.float32))
    maps = _maps(6, 16, 16, seed=4).astype(np.float32)
    y = model(x).argmax(dim=1).numpy()
    pct = [25, 50, 75]  # whole pixel counts at 16 x 16: Quantus truncates, we round
    metric = quantus.ROAD(percentages=pct, noise=0.0, normalise=False, abs=False, **QUIET)
    theirs = metric(model=model, x_batch=x.numpy(), y_batch=y, a_batch=maps[:, None], device="cpu")
    ours = road(
        model,
        x,
        torch.from_numpy(maps),
        torch.from_numpy(y),
        percentages=pct,
        noise=0,
        score="accuracy",
    )
    # Quantus returns the accuracy over the images at each percentage (MoRF only).
    assert [theirs[p] for p in pct] == ours.scores.mean(dim=0).tolist()
    # On a colour image with one map per pixel, Quantus 0.6.0 ranks the (3, H, W) entries but
    # imputes pixels (H, W): the indices run past the image. Hence the grey image above.
    rgb = np.repeat(x.numpy(), 3, axis=1)
    with pytest.raises(IndexError):
        metric(model=model.net, x_batch=rgb, y_batch=y, a_batch=maps[:, None], device="cpu")


def _saliency(model, inputs, targets, **kwargs):
    """Quantus's explain_func: |gradient| summed over channels, (N, 1, H, W) NumPy."""
    x = torch.as_tensor(inputs).float().requires_grad_(True)
    t = torch.as_tensor(np.asarray(targets)).long()
    out = model(x)
    (grad,) = torch.autograd.grad(out.gather(1, t[:, None]).sum(), x)
    return grad.abs().sum(dim=1, keepdim=True).detach().numpy()


def _ours(model, x, t):
    return torch.from_numpy(_saliency(model, x, t)[:, 0])


def test_mprt_equals_quantus_with_quantus_randomisation():
    from quantus.functions.similarity_func import correlation_spearman

    model = Grey().net
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 3, 12, 12)).astype(np.float32)
    y = np.array([0, 1, 2, 3])
    metric = quantus.MPRT(
        similarity_func=correlation_spearman,
        layer_order="top_down",
        seed=7,
        normalise=False,
        abs=False,
        **QUIET,
    )
    a = _saliency(model, x, y)
    theirs = metric(
        model=model, x_batch=x, y_batch=y, a_batch=a, explain_func=_saliency, device="cpu"
    )
    layers = [n for n, m in model.named_modules() if hasattr(m, "reset_parameters")][::-1]
    check = sanity_check(
        model, torch.from_numpy(x), torch.from_numpy(y), {"g": _ours}, layers, seed=7, how="reset"
    )
    assert list(theirs) == ["original", *layers]
    for s, layer in enumerate(check.stages):
        np.testing.assert_allclose(check.spearman["g"][s], theirs[layer], atol=1e-6)
    assert check.spearman["g"][-1].max() < 0.9  # the maps did change


def test_random_logit_equals_quantus_with_the_same_classes_and_similarity():
    from quantus.functions.similarity_func import correlation_spearman

    model = Grey().net
    x = np.random.default_rng(6).normal(size=(5, 3, 12, 12)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4])
    asked = []
    maps = _saliency(model, x, y)

    def explain(model, inputs, targets, **kwargs):
        asked.append(np.asarray(targets))
        return _saliency(model, inputs, targets)

    metric = quantus.RandomLogit(
        similarity_func=correlation_spearman,
        num_classes=5,
        seed=1,
        normalise=False,
        abs=False,
        **QUIET,
    )
    theirs = metric(
        model=model,
        x_batch=x,
        y_batch=y,
        a_batch=maps,
        explain_func=explain,
        device="cpu",
    )
    others = asked[-1]  # the classes Quantus drew
    assert (others != y).all()
    ours = random_logit(model, torch.from_numpy(x), torch.from_numpy(y), _ours, others)
    np.testing.assert_allclose(ours.spearman, theirs, atol=1e-6)
    # Quantus's default similarity is SSIM of the *flattened* maps (a 1-D SSIM over rows laid
    # end to end, on their joint range); ours is the 2-D SSIM of min-max normalised maps.
    default = quantus.RandomLogit(num_classes=5, seed=1, normalise=False, abs=False, **QUIET)
    flat = default(
        model=model,
        x_batch=x,
        y_batch=y,
        a_batch=maps,
        explain_func=_saliency,
        device="cpu",
    )
    assert not np.allclose(flat, ours.ssim, atol=1e-3)
    from skimage.metrics import structural_similarity

    a, b = maps[0, 0].ravel(), _saliency(model, x, others)[0, 0].ravel()
    span = float(max(a.max(), b.max()) - min(a.min(), b.min()))
    assert flat[0] == pytest.approx(structural_similarity(a, b, data_range=span), abs=1e-6)
    assert map_similarity(_ours(model, x[:1], y[:1])[0], _ours(model, x[:1], others[:1])[0])[
        1
    ] == pytest.approx(ours.ssim[0], abs=1e-5)
