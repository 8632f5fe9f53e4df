"""Occlusion: slide a grey square over the photo and watch the prediction (Zeiler & Fergus, 2014).

Introduced in lesson 02 (``02_zfnet_occlusion_and_deconvnet``), which reproduces ZFNet's two
maps: the probability of the true class as the square moves, and the most probable class at
each position.

:func:`occlusion` follows the course's conventions: ``(model, x, target)`` with a batch ``x``
``(N, C, H, W)`` and a target that is ``None`` (each sample's top-1), one class, or one per
sample; the model comes back exactly as it went in (:func:`xaiutils.hooks.preserved_state`).
It returns an :class:`OcclusionResult`: maps on the grid of window positions, plus what is
needed to put them back on the pixels (:meth:`OcclusionResult.to_pixels`).

The windows are placed as captum's ``Occlusion`` places them: the first at the top-left
corner, then every ``stride`` pixels until the image is covered, so there are
``ceil((H - h) / stride) + 1`` rows of positions, and a last window that sticks out of the
image is cut at its border. ``to_pixels`` of the score *drop* is captum's attribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.progress import progress as bar
from xaiutils.progress import wanted
from xaiutils.validation import (
    Target,
    check_batch,
    check_logits,
    check_model,
    check_target,
    positive_int,
    resolve_targets,
)

__all__ = ["DEFAULT_BATCH_SIZE", "OcclusionResult", "occlusion", "window_starts"]

# How many occluded copies go through one forward pass. Measured on the course's 2-core CPU with
# the EfficientNet-Lite0 at 224 x 224 (169 copies; benchmarks/bench_saliency.py --batch-sizes):
# relative to 169 single-image forwards, batches of 1 / 4 / 8 / 16 / 32 took about
# 1.00 / 0.97 / 1.00 / 1.08 / 1.20 x. Small batches win here: larger ones fall out of the cache.
DEFAULT_BATCH_SIZE = 4

Pair = int | tuple[int, int]


def _pair(value: Pair, name: str) -> tuple[int, int]:
    """An int (Python, NumPy or 0-d tensor) or a pair of them, as ``(height, width)``."""
    if isinstance(value, str) or (isinstance(value, torch.Tensor) and value.ndim == 0):
        pair = (value, value)
    else:
        try:
            pair = tuple(value)  # type: ignore[arg-type]
        except TypeError:
            pair = (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
    return positive_int(pair[0], name), positive_int(pair[1], name)


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Where the windows start along one axis of length ``size`` (captum's placement).

    ``ceil((size - window) / stride) + 1`` starts, ``0, stride, 2 * stride, ...``; the last
    window may stick out of the image, and is then cut at the border.
    """
    if window > size:
        raise ValueError(f"the window ({window} px) is larger than the image ({size} px)")
    return [k * stride for k in range(math.ceil((size - window) / stride) + 1)]


@dataclass(frozen=True)
class OcclusionResult:
    """What the model said with the patch at each position. Lesson 02.

    Grids are ``(N, rows, cols)``: entry ``[n, r, c]`` is for sample ``n`` with the patch's
    top-left corner at pixel ``(ys[r], xs[c])``.

    Attributes
    ----------
    prob, logit
        The target's softmax probability (ZFNet's first map) and logit with the patch there.
    top_class, top_prob
        The most probable class with the patch there (ZFNet's second map) and its probability.
    base_prob, base_logit
        ``(N,)``: the target's probability and logit without a patch.
    targets
        ``(N,)``: the class each sample's maps are about.
    ys, xs
        Top and left edges of the windows, in pixels.
    window, size
        The window ``(h, w)`` and the input ``(H, W)``.
    """

    prob: torch.Tensor
    logit: torch.Tensor
    top_class: torch.Tensor
    top_prob: torch.Tensor
    base_prob: torch.Tensor
    base_logit: torch.Tensor
    targets: torch.Tensor
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    window: tuple[int, int]
    size: tuple[int, int]

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """The patch at grid cell ``(row, col)``: ``(x0, y0, x1, y1)`` pixels, cut at the border."""
        y0, x0 = self.ys[row], self.xs[col]
        return (
            x0,
            y0,
            min(x0 + self.window[1], self.size[1]),
            min(y0 + self.window[0], self.size[0]),
        )

    def drop(self, score: str = "prob") -> torch.Tensor:
        """``base - occluded`` for ``score`` ``"prob"`` or ``"logit"``: ``(N, rows, cols)``.

        Positive where hiding the patch lowers the target's score (the patch mattered).
        """
        if score not in ("prob", "logit"):
            raise ValueError(f'score must be "prob" or "logit", got {score!r}')
        grid, base = (
            (self.prob, self.base_prob) if score == "prob" else (self.logit, self.base_logit)
        )
        return base[:, None, None] - grid

    def to_pixels(self, grid: torch.Tensor) -> torch.Tensor:
        r"""Spread a grid ``(N, rows, cols)`` over the input's pixels: ``(N, H, W)``.

        Each pixel gets the mean of the grid values of the windows that cover it,

        .. math::  M(p) = \frac{1}{|\{w : p \in w\}|} \sum_{w \ni p} g(w),

        and 0 where no window does (a stride larger than the window). With
        ``grid = result.drop("logit")`` this is captum's ``Occlusion`` attribution of the logit
        (same window, stride and baseline), with ``drop("prob")`` that of the softmax.
        """
        n = grid.shape[0]
        if grid.shape[1:] != (len(self.ys), len(self.xs)):
            raise ValueError(
                f"grid {tuple(grid.shape)} does not match the {len(self.ys)} x {len(self.xs)} "
                "window positions"
            )
        total = torch.zeros(n, *self.size, dtype=torch.float64)
        count = torch.zeros(self.size, dtype=torch.float64)
        (h, w), values = self.window, grid.double()
        for r, y in enumerate(self.ys):
            for c, x in enumerate(self.xs):
                total[:, y : y + h, x : x + w] += values[:, r, c, None, None]
                count[y : y + h, x : x + w] += 1
        return (total / count.clamp_min(1)).to(grid.dtype)


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    *,
    window: Pair = 32,
    stride: Pair = 16,
    fill: float | Sequence[float] = 0.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
) -> OcclusionResult:
    r"""ZFNet's occlusion experiment (Zeiler & Fergus, ECCV 2014). Lesson 02.

    For each position of a ``window`` square (moved by ``stride`` pixels), the input is copied,
    the square is set to ``fill`` on every channel, and the copy is classified:

    .. math::  P_{r,c} = \mathrm{softmax}\big(f(x \odot (1 - m_{r,c}) + v\, m_{r,c})\big)_t

    with ``m_{r,c}`` the square's mask and ``v`` the fill. A low :math:`P_{r,c}` means the
    square hid something the class needs.

    Parameters
    ----------
    model
        A classifier returning logits ``(N, classes)``; it is left exactly as it was.
    x
        A batch ``(N, C, H, W)`` **after** the model's preprocessing.
    target
        ``None`` (each sample's unoccluded top-1), one class, or one per sample.
    window, stride
        The square's size and step in pixels: an int, or ``(height, width)``.
    fill
        The patch's value **in the model's input space** (after standardisation), one number or
        one per channel. The default 0.0 is the standardisation's mean: mid-grey (pixel 0.5) for
        the course's EfficientNet (mean = std = 0.5), the ImageNet mean colour for the
        torchvision models. For a model with another standardisation, pass
        ``(grey - mean) / std`` yourself.
    batch_size
        How many occluded copies go through one forward pass. The result does not depend on
        it; the speed does (see ``DEFAULT_BATCH_SIZE``).
    progress
        A progress bar: ``None`` shows one when a person is watching (:mod:`xaiutils.progress`).

    Returns
    -------
    OcclusionResult
        Grids ``(N, rows, cols)`` of the target's probability and logit, the most probable
        class and its probability, and the window positions.
    """
    check_model(model)
    check_batch(x, model=model)
    (h, w), (sh, sw) = _pair(window, "window"), _pair(stride, "stride")
    batch_size = positive_int(batch_size, "batch_size")
    check_target(target, len(x))
    show = wanted(progress)
    n, channels, height, width = x.shape
    if h > height or w > width:
        raise ValueError(
            f"the window ({h} x {w}) is larger than the image ({height} x {width}): "
            "choose a smaller window"
        )
    ys, xs = window_starts(height, h, sh), window_starts(width, w, sw)
    if isinstance(fill, str | bool):
        raise TypeError(f"fill must be a number or one per channel, got {fill!r}")
    value = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    if value.shape[0] not in (1, channels):
        raise ValueError(f"fill has {value.shape[0]} values for {channels} channels")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"fill must be finite, got {fill!r}")
    corners = [(y, x0) for y in ys for x0 in xs]
    jobs = n * len(corners)
    logit = torch.empty(jobs)
    prob, top_prob = torch.empty(jobs), torch.empty(jobs)
    top_class = torch.empty(jobs, dtype=torch.long)
    with preserved_state(model), torch.no_grad():
        base = check_logits(model(x), n)
        targets = resolve_targets(base, target)
        batches = range(0, jobs, batch_size)
        for start in bar(batches, total=len(batches), desc="occlusion", enabled=show):
            index = torch.arange(start, min(start + batch_size, jobs))
            samples = index // len(corners)
            copies = x[samples]  # advanced indexing: already a copy
            for k, job in enumerate(index.tolist()):
                y, x0 = corners[job % len(corners)]
                copies[k, :, y : y + h, x0 : x0 + w] = value
            out = model(copies).float()
            probs = out.softmax(dim=1)
            picked = targets[samples, None]
            logit[index] = out.gather(1, picked)[:, 0].cpu()
            prob[index] = probs.gather(1, picked)[:, 0].cpu()
            best = probs.max(dim=1)
            top_prob[index], top_class[index] = best.values.cpu(), best.indices.cpu()
    base_logits = base.float()
    grid = (n, len(ys), len(xs))
    return OcclusionResult(
        prob=prob.view(grid),
        logit=logit.view(grid),
        top_class=top_class.view(grid),
        top_prob=top_prob.view(grid),
        base_prob=base_logits.softmax(dim=1).gather(1, targets[:, None])[:, 0].cpu(),
        base_logit=base_logits.gather(1, targets[:, None])[:, 0].cpu(),
        targets=targets.cpu(),
        ys=tuple(ys),
        xs=tuple(xs),
        window=(h, w),
        size=(height, width),
    )
