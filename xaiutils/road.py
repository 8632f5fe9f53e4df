"""ROAD: remove pixels without leaving a trace of the removal. Lesson 09.

Rong, Leemann, Borisov, Kasneci & Kasneci, "A Consistent and Efficient Evaluation Strategy for
Attribution Methods" (ICML 2022). Deletion with a grey baseline (:mod:`xaiutils.evaluation`)
leaves sharp grey shapes in the image, and the shapes themselves carry information: the
model can read the *mask*, i.e. the map, from them. ROAD fills each removed pixel instead
with the weighted mean of its eight neighbours (**noisy linear imputation**), solved for all
removed pixels at once, plus a little noise, so that what is left says as little as possible
about which pixels were removed.

* :func:`noisy_linear_imputation`: one image, a set of pixels to fill.
* :func:`road`: the class's probability after removing a share ``p`` of the pixels, most
  relevant first (MoRF: should fall fast) or least relevant first (LeRF: should stay high).

Quantus's ``ROAD`` (``quantus.metrics.faithfulness.road``) imputes with the same equations; a
test checks that both give the same pixels (without noise) and the same ROAD curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import spsolve
from torch import nn

from xaiutils.evaluation import _check_maps, _pixel_ranks
from xaiutils.hooks import preserved_state
from xaiutils.validation import (
    Target,
    check_batch,
    check_logits,
    check_model,
    check_target,
    positive_int,
    resolve_targets,
)

__all__ = ["ROADCurve", "noisy_linear_imputation", "road"]

# Rong et al.'s neighbourhood: the four direct neighbours weigh 1/6, the four diagonal 1/12.
NEIGHBOURS = (
    ((0, 1), 1 / 6),
    ((0, -1), 1 / 6),
    ((1, 0), 1 / 6),
    ((-1, 0), 1 / 6),
    ((1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((-1, 1), 1 / 12),
    ((-1, -1), 1 / 12),
)


def noisy_linear_imputation(
    image: torch.Tensor,
    removed: torch.Tensor | np.ndarray,
    noise: float = 0.01,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Fill the ``removed`` pixels of one image ``(C, H, W)`` from their neighbours (ROAD).

    Each removed pixel ``i`` gets the weighted mean of its neighbours ``j`` inside the image
    (weights ``w_j``: 1/6 for the four direct ones, 1/12 for the four diagonal ones), whether
    those are kept pixels or removed ones being solved for at the same time:

    .. math::  \Bigl(\sum_j w_j\Bigr)\, v_i - \sum_{j \text{ removed}} w_j\, v_j
               = \sum_{j \text{ kept}} w_j\, x_j

    one sparse linear system for all removed pixels, every channel at once; then Gaussian
    noise of standard deviation ``noise`` is added to the filled values. Returns a new image;
    kept pixels are unchanged.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        raise ValueError(f"image must be one image (C, H, W), got {getattr(image, 'shape', image)}")
    c, h, w = image.shape
    removed = np.asarray(torch.as_tensor(removed).cpu(), dtype=bool)
    if removed.shape != (h, w):
        raise ValueError(f"removed must be a mask (H, W) = ({h}, {w}), got {removed.shape}")
    out = image.detach().clone()
    unknown = np.flatnonzero(removed)
    n = unknown.size
    if n == 0:
        return out
    if n == h * w:
        raise ValueError("removed covers every pixel: there is no neighbour to impute from")
    flat = image.detach().reshape(c, h * w).double().cpu().numpy()
    variable = np.full(h * w, -1)
    variable[unknown] = np.arange(n)
    rows, cols = np.divmod(unknown, w)
    diagonal = np.zeros(n)
    rhs = np.zeros((n, c))
    entries_i, entries_j, entries_v = [], [], []
    for (dr, dc), weight in NEIGHBOURS:
        r, q = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
        i, j = np.flatnonzero(inside), r[inside] * w + q[inside]
        diagonal[i] += weight
        solved = removed.ravel()[j]
        entries_i.append(i[solved])
        entries_j.append(variable[j[solved]])
        entries_v.append(np.full(int(solved.sum()), -weight))
        rhs[i[~solved]] += weight * flat[:, j[~solved]].T
    a = sparse.csc_matrix(
        (
            np.concatenate([diagonal, *entries_v]),
            (
                np.concatenate([np.arange(n), *entries_i]),
                np.concatenate([np.arange(n), *entries_j]),
            ),
        ),
        shape=(n, n),
    )
    values = torch.from_numpy(np.asarray(spsolve(a, rhs)).reshape(n, c).T.copy())
    if noise > 0:
        values = values + noise * torch.randn(
            values.shape, generator=generator, dtype=torch.float64
        )
    out.view(c, h * w)[:, torch.from_numpy(unknown)] = values.to(out.dtype)
    return out


@dataclass(frozen=True)
class ROADCurve:
    """The class's score after ROAD removed each share of pixels. Lesson 09.

    ``percentages`` ``(P,)``: the share of pixels removed, in %; ``scores`` ``(N, P)``: the
    target's probability (or 1/0 for still-top-1 with ``score="accuracy"``); ``order``:
    ``"morf"`` (most relevant removed first: a faithful map makes it fall) or ``"lerf"``
    (least relevant first: it should stay up); ``targets`` ``(N,)``.
    """

    order: str
    percentages: np.ndarray
    scores: torch.Tensor
    targets: torch.Tensor

    def mean(self) -> torch.Tensor:
        """Each curve's mean over the percentages ``(N,)``: MoRF lower is better, LeRF higher."""
        return self.scores.mean(dim=1)


def road(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    target: Target,
    *,
    order: Literal["morf", "lerf"] = "morf",
    percentages: Sequence[float] = (10, 30, 50, 70, 90),
    noise: float = 0.01,
    score: Literal["prob", "accuracy"] = "prob",
    batch_size: int = 8,
    seed: int = 0,
) -> ROADCurve:
    """ROAD (Rong et al., ICML 2022) for maps ``(N, H, W)`` of ``x``. Lesson 09.

    For each map and each ``p`` in ``percentages``, the ``round(p H W / 100)`` highest pixels
    (``order="morf"``) or lowest (``"lerf"``) are removed by :func:`noisy_linear_imputation`
    and the target's score is read. ``x`` is a batch ``(N, C, H, W)`` or one image
    ``(1, C, H, W)`` that every map is about (one map per class of a composite). Ties in a map
    are broken in a fixed random order (``seed``), as in :func:`xaiutils.evaluation.deletion`;
    the noise is drawn from a generator seeded with ``seed`` too. ``score="prob"``: the
    softmax probability; ``"accuracy"``: 1 if the target is still the top-1, else 0 (Rong et
    al.'s and Quantus's). The model comes back as it went in.
    """
    check_model(model)
    check_batch(x, model=model)
    if order not in ("morf", "lerf"):
        raise ValueError(f'order must be "morf" or "lerf", got {order!r}')
    if score not in ("prob", "accuracy"):
        raise ValueError(f'score must be "prob" or "accuracy", got {score!r}')
    pct = np.asarray(percentages, dtype=np.float64)
    if pct.ndim != 1 or pct.size == 0 or not ((pct > 0) & (pct < 100)).all():
        raise ValueError(
            f"percentages must be numbers strictly between 0 and 100, got {percentages!r}"
        )
    batch_size = positive_int(batch_size, "batch_size")
    seed = positive_int(seed, "seed", minimum=0)
    b, _, h, w = x.shape
    maps, n = _check_maps(maps, x)
    check_target(target, n)
    ranks = _pixel_ranks(maps, seed)  # 0 = the most relevant pixel
    if order == "lerf":
        ranks = h * w - 1 - ranks
    counts = np.round(pct * h * w / 100).astype(int)
    generator = torch.Generator().manual_seed(seed)
    row = list(range(n)) if b == n else [0] * n
    jobs = [(i, k) for i in range(n) for k in range(len(pct))]
    scores = torch.empty(n, len(pct))
    with preserved_state(model), torch.no_grad():
        targets = resolve_targets(check_logits(model(x), b)[row].float(), target)
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            inputs = [
                noisy_linear_imputation(
                    x[row[i]], (ranks[i] < counts[k]).view(h, w), noise, generator
                )
                for i, k in chunk
            ]
            out = model(torch.stack(inputs)).float()
            t = targets[[i for i, _ in chunk]]
            if score == "prob":
                value = out.softmax(dim=1).gather(1, t[:, None])[:, 0]
            else:
                value = (out.argmax(dim=1) == t).float()
            for (i, k), v in zip(chunk, value.tolist(), strict=True):
                scores[i, k] = v
    return ROADCurve(order, pct, scores, targets.cpu())
