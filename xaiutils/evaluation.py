"""Measure a map against the model itself: deletion and insertion curves, and a summary.

Introduced in lesson 09 (``09_evaluating_explanations``). The metrics that compare a map with
an annotated region (box, IoU, pointing game, energy) are in :mod:`xaiutils.metrics`.

* :func:`perturbation_curve` (and its two names :func:`deletion`, :func:`insertion`): remove
  or add pixels in the order the map ranks them and follow the class's score (Petsiuk, Das &
  Saenko, "RISE", BMVC 2018). A faithful map makes the score fall fast (deletion) or rise
  fast (insertion).
* :func:`score_maps`: those curves and every ground-truth metric of :mod:`xaiutils.metrics`
  for one method's maps, averaged into a table row by :meth:`MapScores.summary`.

The sanity check (randomise the weights, see whether the maps change) is in
:mod:`xaiutils.metrics` too: it compares maps with maps, not with the model's score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.metrics import (
    XYXY,
    box_from_map,
    energy_in_region,
    iou,
    peak,
    pointing_game,
)
from xaiutils.validation import (
    Target,
    check_batch,
    check_logits,
    check_model,
    check_target,
    positive_int,
    resolve_targets,
)

__all__ = [
    "MapScores",
    "PerturbationCurve",
    "blur",
    "deletion",
    "insertion",
    "perturbation_curve",
    "score_maps",
]


def blur(x: torch.Tensor, kernel: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """A Gaussian blur of a batch ``(N, C, H, W)``, channel by channel; RISE's insertion start
    (``kernel = 11``, ``sigma = 5``). Borders are padded by reflection (torchvision's
    ``gaussian_blur``)."""
    from torchvision.transforms.v2.functional import gaussian_blur

    return gaussian_blur(x, [kernel, kernel], [sigma, sigma])


@dataclass(frozen=True)
class PerturbationCurve:
    """The class's score as pixels are removed (deletion) or added (insertion). Lesson 09.

    ``fractions`` ``(steps + 1,)``: the share of pixels removed or added, 0 to 1.
    ``scores`` ``(N, steps + 1)``: the target's score at each step. ``full`` ``(N,)``: the
    score of the untouched input (``scores[:, 0]`` for deletion, ``scores[:, -1]`` for
    insertion). ``targets`` ``(N,)``.
    """

    mode: str
    fractions: np.ndarray
    scores: torch.Tensor
    full: torch.Tensor
    targets: torch.Tensor

    def auc(self, relative: bool = False) -> torch.Tensor:
        r"""Area under the curve by the trapezoid rule over ``fractions`` in [0, 1]:

        .. math::  \mathrm{AUC} = \sum_{k=1}^{K} \tfrac12 (s_{k-1} + s_k)(f_k - f_{k-1})

        RISE's formula. ``relative=True`` first divides each curve by its ``full`` score, so
        classes that the model scores differently compare (deletion then starts at 1).
        Deletion: lower is better. Insertion: higher is better. Returns ``(N,)``.
        """
        s = self.scores / self.full[:, None] if relative else self.scores
        df = torch.as_tensor(np.diff(self.fractions), dtype=s.dtype)
        return ((s[:, 1:] + s[:, :-1]) / 2 * df).sum(dim=1)


def _check_maps(maps: object, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Maps ``(N, H, W)`` that rank the pixels of ``x`` (one image per map, or one for all):
    detached, and their number ``N``. Shared by the curves here and :func:`xaiutils.road.road`.
    """
    b, _, h, w = x.shape
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"maps must be a tensor (N, H, W), got {type(maps).__name__}")
    maps = maps.detach()
    if maps.is_complex() or not bool(torch.isfinite(maps.float()).all()):
        raise ValueError("maps have NaN or infinite values: they rank no pixels")
    n = maps.shape[0] if maps.ndim == 3 else -1
    if maps.shape[1:] != (h, w) or b not in (1, n):
        raise ValueError(
            f"maps must be (N, H, W) = (N, {h}, {w}), one map per sample of x (or any N maps "
            f"for a single image x); got {tuple(maps.shape)} for x with {b}. Upsample the "
            "maps to the input first (xaiutils.methods.upsample)"
        )
    return maps, n


def _pixel_ranks(maps: torch.Tensor, seed: int) -> torch.Tensor:
    """Each pixel's place in its map's order, highest value first ``(N, H*W)``.

    Ties (the flat zeros of a ReLU'd map) are broken in a fixed random order, not in
    reading order, so a tie does not always delete the top-left corner first.
    """
    n, hw = maps.shape[0], maps[0].numel()
    shuffle = torch.randperm(hw, generator=torch.Generator().manual_seed(seed))
    flat = maps.reshape(n, hw)[:, shuffle].double()
    order = shuffle[torch.argsort(-flat, dim=1, stable=True)]
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(hw).expand(n, hw).contiguous())
    return ranks


def perturbation_curve(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    target: Target,
    *,
    mode: Literal["deletion", "insertion"],
    steps: int = 16,
    batch_size: int = 16,
    baseline: Literal["zero", "blur"] | torch.Tensor | None = None,
    score: Literal["prob", "logit"] = "prob",
    seed: int = 0,
) -> PerturbationCurve:
    r"""RISE's deletion or insertion curve (Petsiuk, Das & Saenko, BMVC 2018). Lesson 09.

    Sort the pixels by the map, highest first. At step ``k = 0..K`` the first
    ``n_k = round(k H W / K)`` pixels (all channels) are

    * deletion: replaced by the baseline in ``x`` -- the score should fall fast;
    * insertion: copied from ``x`` into the baseline -- the score should rise fast.

    .. math::
        x^{del}_k = x \odot (1 - m_k) + b \odot m_k, \qquad
        x^{ins}_k = b \odot (1 - m_k) + x \odot m_k

    with ``m_k`` the mask of the top ``n_k`` pixels. Steps 0 and ``K`` are ``x`` and the
    baseline whatever the map, so they take one forward each; the ``N (K - 1)`` inputs between
    go through the model ``batch_size`` at a time. The curves do not depend on ``batch_size``,
    the speed does (``batch_size=1`` is one forward per step).

    Parameters
    ----------
    model
        A classifier returning logits; it comes back as it went in.
    x
        A batch ``(N, C, H, W)`` after preprocessing, or one image ``(1, C, H, W)`` that all
        the maps are about (e.g. one map per class of a composite).
    maps
        ``(N, H, W)`` at the input's resolution (upsample first), one per curve. Only the
        order of its values matters.
    target
        ``None`` (top-1 of ``x``), one class, or one per map.
    mode
        ``"deletion"`` or ``"insertion"``.
    steps
        ``K``: the curve has ``K + 1`` points (RISE moves 224 pixels a step: ``K = 224`` at
        224 x 224; a few steps give a coarser, cheaper estimate).
    baseline
        What "no pixel" looks like. ``"zero"``: 0 in the model's input space, i.e. the
        standardisation's mean (mid-grey for the course's EfficientNet), RISE's deletion
        substrate. ``"blur"``: :func:`blur` of ``x``, RISE's insertion substrate (starting
        from grey, the first inserted pixels make sharp-edged patches that are evidence of
        their own; from a blurred image only the detail is added). ``None`` picks RISE's
        choice for the mode. A tensor ``(N, C, H, W)`` is used as it is.
    score
        ``"prob"``: the target's softmax probability (RISE); ``"logit"``: its logit.
    seed
        Fixes the order among tied map values.
    """
    check_model(model)
    check_batch(x, model=model)
    if mode not in ("deletion", "insertion"):
        raise ValueError(f'mode must be "deletion" or "insertion", got {mode!r}')
    if score not in ("prob", "logit"):
        raise ValueError(f'score must be "prob" or "logit", got {score!r}')
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    seed = positive_int(seed, "seed", minimum=0)
    b, _, h, w = x.shape
    maps, n = _check_maps(maps, x)
    if baseline is None:
        baseline = "zero" if mode == "deletion" else "blur"
    if isinstance(baseline, str):
        if baseline not in ("zero", "blur"):
            raise ValueError(f'baseline must be "zero", "blur" or a tensor, got {baseline!r}')
        baseline = torch.zeros_like(x) if baseline == "zero" else blur(x)
    if not isinstance(baseline, torch.Tensor):
        raise TypeError(f'baseline must be "zero", "blur" or a tensor, got {baseline!r}')
    if baseline.shape != x.shape:
        raise ValueError(f"baseline {tuple(baseline.shape)} differs from x {tuple(x.shape)}")
    check_batch(baseline, "baseline", model=model)
    check_target(target, n)
    ranks = _pixel_ranks(maps, seed).view(n, 1, h, w)
    counts = torch.round(torch.arange(steps + 1) * (h * w) / steps).long()
    first, rest = (baseline, x) if mode == "insertion" else (x, baseline)
    row = torch.arange(n) if b == n else torch.zeros(n, dtype=torch.long)  # x's row per map
    # Step 0 is `first` and step K is `rest`, whatever the map: one forward each per row of x.
    jobs = [(i, k) for i in range(n) for k in range(1, steps)]
    scores = torch.empty(n, steps + 1)
    with preserved_state(model), torch.no_grad():
        out_x = check_logits(model(x), b).float()
        out_b = model(baseline).float()
        targets = resolve_targets(out_x[row], target)

        def pick(out: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
            out = out.softmax(dim=1) if score == "prob" else out
            return out.gather(1, targets[i, None])[:, 0].cpu()

        everyone = torch.arange(n)
        out_first, out_rest = (out_b, out_x) if mode == "insertion" else (out_x, out_b)
        scores[:, 0], scores[:, steps] = (
            pick(out_first[row], everyone),
            pick(out_rest[row], everyone),
        )
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            i = torch.tensor([j for j, _ in chunk])
            k = torch.tensor([k for _, k in chunk])
            inside = ranks[i] < counts[k].view(-1, 1, 1, 1)  # the top n_k pixels
            scores[i, k] = pick(model(torch.where(inside, rest[row[i]], first[row[i]])).float(), i)
    return PerturbationCurve(
        mode=mode,
        fractions=(counts.double() / (h * w)).numpy(),
        scores=scores,
        full=pick(out_x[row], torch.arange(n)),
        targets=targets.cpu(),
    )


def deletion(
    model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: Target, **kwargs: object
) -> PerturbationCurve:
    """:func:`perturbation_curve` with ``mode="deletion"`` (baseline ``"zero"`` by default)."""
    return perturbation_curve(model, x, maps, target, mode="deletion", **kwargs)


def insertion(
    model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: Target, **kwargs: object
) -> PerturbationCurve:
    """:func:`perturbation_curve` with ``mode="insertion"`` (baseline ``"blur"`` by default)."""
    return perturbation_curve(model, x, maps, target, mode="insertion", **kwargs)


@dataclass(frozen=True)
class MapScores:
    """Every ground-truth and model metric of one method's maps, one entry per map. Lesson 09.

    ``iou``: of the CAM paper's box (:func:`~xaiutils.metrics.box_from_map`) with the object
    box; ``hits``: the pointing game; ``energy``: share of positive mass in the region;
    ``peaks``: each map's maximum ``(x, y)``; ``deletion``, ``insertion``: the curves.
    :meth:`summary` averages them into one table row.
    """

    iou: np.ndarray
    hits: np.ndarray
    energy: np.ndarray
    peaks: tuple[tuple[int, int], ...]
    deletion: PerturbationCurve
    insertion: PerturbationCurve

    def summary(self, iou_threshold: float = 0.5) -> dict[str, float]:
        """Localisation accuracy (share of IoU >= ``iou_threshold``), pointing accuracy, mean
        energy, mean deletion and insertion AUC (RISE's, in probability units)."""
        return {
            "localisation": float((self.iou >= iou_threshold).mean()),
            "pointing": float(self.hits.mean()),
            "energy": float(self.energy.mean()),
            "deletion": float(self.deletion.auc().mean()),
            "insertion": float(self.insertion.auc().mean()),
        }


def score_maps(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    target: Target,
    boxes: Sequence[XYXY],
    regions: Sequence[XYXY | np.ndarray] | None = None,
    *,
    tolerance: float = 15,
    **curve_options: object,
) -> MapScores:
    """Score maps ``(N, H, W)`` of ``x`` (one image or one per map) against ground truth.

    ``boxes``: each map's object box, for the box IoU and the pointing game (with
    ``tolerance``, TorchRay's 15 pixels by default); ``regions`` (default: the boxes): where
    each class's evidence may lie, for the energy (a composite's tiles). ``curve_options`` go
    to :func:`perturbation_curve` (``steps``, ``batch_size``, ...).
    """
    maps = maps.detach().float()
    regions = boxes if regions is None else regions
    if not len(maps) == len(boxes) == len(regions):
        raise ValueError(f"{len(maps)} maps, {len(boxes)} boxes and {len(regions)} regions")
    return MapScores(
        iou=np.array([iou(box_from_map(m), b) for m, b in zip(maps, boxes, strict=True)]),
        hits=np.array([pointing_game(m, b, tolerance) for m, b in zip(maps, boxes, strict=True)]),
        energy=np.array([energy_in_region(m, r) for m, r in zip(maps, regions, strict=True)]),
        peaks=tuple(peak(m) for m in maps),
        deletion=deletion(model, x, maps, target, **curve_options),
        insertion=insertion(model, x, maps, target, **curve_options),
    )
