"""LIME for images (Ribeiro, Singh & Guestrin, KDD 2016): a weighted linear model of the class
probability on which superpixels are kept. Lesson 04.

A black-box method, like :mod:`xaiutils.methods.rise` (whose batching it shares):
:func:`lime` takes ``(model, x, target)`` and returns maps ``(N, H, W)`` at the input's size in
``x``'s dtype, the model left as it was; :func:`superpixels` segments the photos. The samples
come from a private generator seeded with ``seed``; samples that are the same image share their
forward passes.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.methods.occlusion import DEFAULT_BATCH_SIZE
from xaiutils.methods.rise import _jobs, _seed, _shared, _softmax, _spread
from xaiutils.progress import wanted
from xaiutils.validation import (
    Target,
    check_batch,
    check_model,
    check_target,
    in_range,
    positive_int,
    resolve_targets,
)

__all__ = ["lime", "superpixels"]


def superpixels(x: torch.Tensor, kind: str = "slic") -> torch.Tensor:
    """Superpixels of each photo: ``(N, H, W)`` int64 labels ``0 .. K - 1``. Lesson 04.

    Each sample is turned back into a picture by a min-max over all its channels (the photo
    itself for the EfficientNet's mean = std = 0.5; colours shift a little under a per-channel
    standardisation), then segmented by scikit-image: ``"slic"``: ``slic(n_segments=50,
    compactness=10)``; ``"quickshift"``: LIME's ``quickshift(kernel_size=4, max_dist=200,
    ratio=0.2)``; in Lab for 3 channels. Other settings: segment, and pass the labels.
    """
    check_batch(x)
    if kind not in ("slic", "quickshift"):
        raise ValueError(f'segments must be "slic", "quickshift" or integer labels, got {kind!r}')
    from skimage.segmentation import quickshift, slic

    photos = x.detach().float().cpu().movedim(1, -1).numpy().astype(np.float64)
    labels = []
    for photo in photos:
        low, span = photo.min(), np.ptp(photo)
        photo = (photo - low) / span if span > 0 else np.zeros_like(photo)
        lab = photo.shape[-1] == 3
        if kind == "slic":
            seg = slic(photo, n_segments=50, compactness=10, start_label=0, convert2lab=lab)
        else:
            seg = quickshift(photo, kernel_size=4, max_dist=200, ratio=0.2, convert2lab=lab, rng=0)
        labels.append(torch.from_numpy(np.asarray(seg, dtype=np.int64)))
    return torch.stack(labels)


def _segments(segments: object, x: torch.Tensor) -> torch.Tensor:
    if isinstance(segments, str):
        return superpixels(x, segments)
    segments = torch.from_numpy(segments) if isinstance(segments, np.ndarray) else segments
    if not isinstance(segments, torch.Tensor):
        raise TypeError(f'segments must be "slic", "quickshift" or labels, got {segments!r}')
    if segments.is_floating_point() or segments.is_complex() or segments.dtype == torch.bool:
        raise TypeError(f"segments must hold integer labels, got dtype {segments.dtype}")
    n, _, h, w = x.shape
    if segments.shape not in ((h, w), (n, h, w), (1, h, w)):
        raise ValueError(
            f"segments has shape {tuple(segments.shape)} for x {tuple(x.shape)}: give labels "
            f"({h}, {w}) for every sample or ({n}, {h}, {w}), one map per sample"
        )
    segments = segments.cpu().long().expand(n, h, w)
    return torch.stack([s.unique(return_inverse=True)[1] for s in segments])  # 0 .. K - 1


def _baseline(baseline: object, x: torch.Tensor) -> torch.Tensor:
    if isinstance(baseline, bool) or not isinstance(baseline, numbers.Real | torch.Tensor):
        raise TypeError(f"baseline must be a number or a tensor like x, got {baseline!r}")
    value = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    dims = zip(value.shape[::-1], x.shape[::-1], strict=False)  # broadcasting: from the right
    if value.ndim > 4 or any(a not in (1, b) for a, b in dims):
        raise ValueError(
            f"baseline has shape {tuple(value.shape)}: it must broadcast to x "
            f"{tuple(x.shape)}, e.g. one number, (C, 1, 1) or (C, H, W)"
        )
    if not bool(torch.isfinite(value).all()):
        raise ValueError("baseline must be finite")
    return value.expand(x.shape)


def _samples(count: int, features: int, seed: int) -> torch.Tensor:
    """LIME's binary samples ``(count, features)``: each feature on with probability 1/2, the
    first sample all on; from a private generator seeded with ``seed``."""
    z = torch.randint(0, 2, (count, features), generator=torch.Generator().manual_seed(seed))
    z[0] = 1
    return z.bool()


def lime(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    *,
    segments: str | torch.Tensor = "slic",
    samples: int = 1000,
    baseline: float | torch.Tensor = 0.0,
    kernel_width: float = 0.25,
    alpha: float = 1.0,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
) -> torch.Tensor:
    r"""LIME: a linear model of the class probability on which superpixels are kept. Lesson 04.

    Ribeiro, Singh & Guestrin, KDD 2016, as their ``LimeImageExplainer`` does it. Each sample
    :math:`z_j \in \{0, 1\}^K` keeps each of the ``K`` superpixels with probability 1/2
    (:math:`z_1 = \mathbf{1}`, the photo itself); the others are set to ``baseline``. With
    :math:`y_j = P(c \mid x_{z_j})`, the target's softmax probability, and the cosine
    distance :math:`d_j = 1 - \cos(z_j, \mathbf{1})` (1 when nothing is kept),

    .. math::  \pi_j = \sqrt{\exp(-d_j^2 / w^2)}, \qquad
               \min_{\beta, b} \sum_j \pi_j (y_j - b - \beta^\top z_j)^2
               + \alpha \lVert \beta \rVert^2,

    a weighted ridge regression (scikit-learn's ``Ridge(alpha)``, with an intercept); each
    pixel gets its superpixel's coefficient :math:`\beta_k`. The kernel is LIME's (a square
    root, i.e. :math:`\exp(-d^2 / 2w^2)`, also captum's
    ``get_exp_kernel_similarity_function("cosine", w)``), on the binary vectors as LIME
    computes it (captum's default measures the distance between the perturbed images).

    Parameters
    ----------
    model, x, target
        As for :func:`rise`.
    segments
        ``"slic"`` or ``"quickshift"`` (:func:`superpixels`), or integer labels (any values)
        ``(H, W)`` for every sample or ``(N, H, W)``.
    samples
        Perturbed copies of each sample (the first is the sample itself).
    baseline
        What a removed superpixel becomes, **in the model's input space**: a number (0.0 is
        the standardisation's mean, mid-grey for the EfficientNet) or a tensor broadcasting to
        ``x``.
    kernel_width, alpha
        :math:`w` (LIME: 0.25) and the ridge penalty (LIME: 1.0; 0: weighted least squares).
    seed, batch_size, progress
        As for :func:`rise` (the same seed, the same samples for a photo's superpixels).

    Returns
    -------
    torch.Tensor
        ``(N, H, W)`` in ``x``'s dtype: each pixel's superpixel coefficient, a signed change
        of probability.
    """
    check_model(model)
    check_batch(x, model=model)
    samples = positive_int(samples, "samples")
    if (width := in_range(kernel_width, "kernel_width", 0.0)) == 0:
        raise ValueError("kernel_width must be > 0")
    alpha, seed = in_range(alpha, "alpha", 0.0), _seed(seed)
    batch_size = positive_int(batch_size, "batch_size")
    check_target(target, len(x))
    show = wanted(progress)
    base = _baseline(baseline, x)
    labels = _segments(segments, x)
    n = len(x)
    draws = [_samples(samples, int(lab.max()) + 1, seed) for lab in labels]
    y = torch.empty(n, samples, dtype=torch.float64)
    on_device = labels.to(x.device)
    groups = _shared(x, base, labels)  # the same image, segments and baseline: shared forwards
    with preserved_state(model), torch.no_grad():
        targets = resolve_targets(model(x), target)
        for led, j in _jobs(len(groups), samples, batch_size, "LIME", show):
            first = [groups[g][0] for g in led.tolist()]
            keep = torch.stack(
                [draws[a][b].to(x.device)[on_device[a]] for a, b in zip(first, j, strict=True)]
            )
            probs = _softmax(model, torch.where(keep[:, None], x[first], base[first]))
            for sample, rows, prob in _spread(probs, led, groups, targets):
                y[sample, j[rows]] = prob
    from sklearn.linear_model import Ridge

    maps = []
    for lab, z, out in zip(labels, draws, y, strict=True):
        zd = z.double()
        cosine = zd.sum(1).sqrt() / math.sqrt(z.shape[1])  # z . 1 / (|z| |1|); 0 if z = 0
        weights = (-((1 - cosine) ** 2) / width**2).exp().sqrt()
        fit = Ridge(alpha=alpha).fit(zd.numpy(), out.numpy(), sample_weight=weights.numpy())
        maps.append(torch.from_numpy(fit.coef_)[lab])
    return torch.stack(maps).to(device=x.device, dtype=x.dtype)
