"""Maps that know nothing about the model: what a method must beat. Lesson 09.

An evaluation number means little alone: a pointing accuracy of 70 % is good only if a map
that does not look at the model scores less. TorchRay's pointing-game table lists a *centre*
baseline beside the methods for that reason (on VOC07 it beats the deconvnet). These four maps
use no model and no class, so on a composite they give the same map for every tile:

* :func:`centre`: a Gaussian at the image's centre (photographers centre their subject);
* :func:`uniform`: uniform random values, seeded (no information at all);
* :func:`edges`: the Sobel edge magnitude of the photo (where there is structure: what a
  map that only reconstructs the image, like guided backprop's, would show);
* :func:`brightness`: the photo's own grey level.

Each returns a map ``(H, W)``, float32, larger meaning "more evidence", at the image's size.
"""

from __future__ import annotations

import numpy as np
import torch

from xaiutils.validation import in_range, positive_int

__all__ = ["BASELINES", "brightness", "centre", "edges", "uniform"]


def _size(size: object) -> tuple[int, int]:
    if not isinstance(size, tuple | list) or len(size) != 2:
        raise ValueError(f"size must be (H, W), got {size!r}")
    return positive_int(size[0], "size[0]"), positive_int(size[1], "size[1]")


def _pixels(pixels: object) -> np.ndarray:
    p = np.asarray(pixels, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 3 or 0 in p.shape:
        raise ValueError(f"pixels must be an RGB image (H, W, 3) in [0, 1], got {p.shape}")
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError("pixels must be finite values in [0, 1] (the photo before standardising)")
    return p


def centre(size: tuple[int, int], sigma: float = 0.25) -> torch.Tensor:
    """A Gaussian centred on the image, standard deviation ``sigma`` times its shorter side."""
    h, w = _size(size)
    s = in_range(sigma, "sigma", 0) * min(h, w)
    if s <= 0:
        raise ValueError("sigma must be positive")
    rows = (np.arange(h) - (h - 1) / 2) ** 2
    cols = (np.arange(w) - (w - 1) / 2) ** 2
    return torch.from_numpy(np.exp(-(rows[:, None] + cols[None, :]) / (2 * s**2))).float()


def uniform(size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Uniform random values in [0, 1), from a generator seeded with ``seed``."""
    h, w = _size(size)
    generator = torch.Generator().manual_seed(positive_int(seed, "seed", minimum=0))
    return torch.rand(h, w, generator=generator)


def edges(pixels: np.ndarray) -> torch.Tensor:
    """The Sobel edge magnitude of the photo's grey level (scikit-image's ``sobel``)."""
    from skimage.color import rgb2gray
    from skimage.filters import sobel

    return torch.from_numpy(sobel(rgb2gray(_pixels(pixels)))).float()


def brightness(pixels: np.ndarray) -> torch.Tensor:
    """The photo's grey level (scikit-image's ``rgb2gray``: 0.2125 R + 0.7154 G + 0.0721 B)."""
    from skimage.color import rgb2gray

    return torch.from_numpy(rgb2gray(_pixels(pixels))).float()


# name: f(pixels (H, W, 3), seed) -> map (H, W). The evaluation runs each like a method.
BASELINES = {
    "centre": lambda pixels, seed=0: centre(pixels.shape[:2]),
    "uniform": lambda pixels, seed=0: uniform(pixels.shape[:2], seed),
    "edges": lambda pixels, seed=0: edges(pixels),
    "brightness": lambda pixels, seed=0: brightness(pixels),
}
