"""RISE (Petsiuk, Das & Saenko, BMVC 2018): random masks weighted by the probability each
leaves. Lesson 04.

A black-box method: it only asks the model for probabilities. :func:`rise` takes
``(model, x, target)`` and returns maps ``(N, H, W)`` at the input's size in ``x``'s dtype, the
model left as it was. As in occlusion, the copies go ``batch_size`` at a time (the result does
not depend on it); the masks come from a private generator seeded with ``seed``, the same for
every sample, so a sample's map does not depend on the batch and the global RNG is untouched.
Samples that are the same image (one photo explained for several classes) share their forward
passes. The batching helpers here are shared with :mod:`xaiutils.methods.lime`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.methods.occlusion import DEFAULT_BATCH_SIZE
from xaiutils.progress import progress as bar
from xaiutils.progress import wanted
from xaiutils.validation import (
    Target,
    check_batch,
    check_logits,
    check_model,
    check_target,
    in_range,
    positive_int,
    resolve_targets,
)

__all__ = ["rise", "rise_masks"]

Pairs = Iterator[tuple[torch.Tensor, torch.Tensor]]


def _jobs(n: int, per_sample: int, batch_size: int, desc: str, show: bool) -> Pairs:
    """Batches of (sample, draw) indices over ``n`` samples times ``per_sample`` draws."""
    jobs = n * per_sample
    starts = range(0, jobs, batch_size)
    for start in bar(starts, total=len(starts), desc=desc, enabled=show):
        index = torch.arange(start, min(start + batch_size, jobs))
        yield index // per_sample, index % per_sample


def _softmax(model: nn.Module, copies: torch.Tensor) -> torch.Tensor:
    """Every class's softmax probability for each copy ``(B, classes)``, float64 on the CPU."""
    return check_logits(model(copies), len(copies)).double().softmax(dim=1).cpu()


def _shared(*tensors: torch.Tensor) -> list[list[int]]:
    """Groups of samples equal in every tensor (the first of each group leads): the same image
    explained for several classes is sent through the model once, its forwards shared."""
    groups: list[list[int]] = []
    for i in range(len(tensors[0])):
        group = next((g for g in groups if all(torch.equal(t[g[0]], t[i]) for t in tensors)), None)
        if group is None:
            groups.append([i])
        else:
            group.append(i)
    return groups


def _spread(
    probs: torch.Tensor, led: torch.Tensor, groups: list[list[int]], targets: torch.Tensor
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """For each sample of the groups in a batch: (sample, its rows, its target's probabilities),
    the rows being the batch's copies of its group's image (``led[row]``: the group)."""
    for g in led.unique().tolist():
        rows = (led == g).nonzero().flatten()
        for sample in groups[g]:
            yield sample, rows, probs[rows, int(targets[sample])]


def _bilinear(size: int, cells: int) -> torch.Tensor:
    """``(size, cells)`` weights of the paper's bilinear resize from ``cells`` to ``size``:
    ``skimage.transform.resize(order=1, mode="reflect", anti_aliasing=False)``."""
    src = (torch.arange(size, dtype=torch.float64) + 0.5) * cells / size - 0.5
    low = src.floor()
    frac, low = src - low, low.long()
    rows, weights = torch.arange(size), torch.zeros(size, cells, dtype=torch.float64)
    for index, w in ((low, 1 - frac), (low + 1, frac)):
        index = index.abs()  # -1 -> 1
        index = torch.where(index > cells - 1, 2 * (cells - 1) - index, index).clamp(0)
        weights.index_put_((rows, index), w, accumulate=True)
    return weights


class _MaskDraw:
    """The random part of RISE's masks: grids and shifts, drawn once for ``count`` masks."""

    def __init__(self, count: int, size: tuple[int, int], grid: int, p: float, seed: int):
        gen = torch.Generator().manual_seed(seed)
        self.size = size
        cell = [math.ceil(s / grid) for s in size]  # the paper's C_H, C_W
        self.cells = (torch.rand(count, grid, grid, generator=gen) < p).double()
        self.shift = [torch.randint(0, c, (count,), generator=gen) for c in cell]
        # Upsampled to (grid + 1) cells, then cropped at a random shift within one cell.
        self.resize = [_bilinear((grid + 1) * c, grid) for c in cell]

    def masks(self, index: torch.Tensor) -> torch.Tensor:
        """Masks ``index``: ``(B, H, W)`` float64 in [0, 1]."""
        rows, cols = (
            r[s[index, None] + torch.arange(n)]
            for r, s, n in zip(self.resize, self.shift, self.size, strict=True)
        )
        return rows @ self.cells[index] @ cols.transpose(1, 2)


def rise_masks(
    count: int, size: tuple[int, int], *, grid: int = 7, p: float = 0.5, seed: int = 0
) -> torch.Tensor:
    """The masks :func:`rise` draws with these arguments: ``(count, H, W)`` float32. Lesson 04.

    A ``grid x grid`` binary grid (cells on with probability ``p``), upsampled bilinearly to
    ``(grid + 1) * ceil(H / grid)`` pixels and cropped to ``H`` at a random shift of less than
    one cell (likewise for the width), as in the paper's code."""
    count = positive_int(count, "count")
    h, w = (positive_int(s, "size") for s in size)
    draw = _MaskDraw(count, (h, w), positive_int(grid, "grid"), _probability(p), _seed(seed))
    return draw.masks(torch.arange(count)).float()


def _probability(p: object) -> float:
    try:
        value = in_range(p, "p", 0.0, 1.0)  # a TypeError for anything but a number
    except ValueError:
        value = 0.0
    if not 0 < value < 1:
        raise ValueError(
            f"p must be strictly between 0 and 1 (a cell's chance to be on), got {p!r}"
        )
    return value


def _seed(seed: object) -> int:
    return positive_int(seed, "seed", minimum=0)


def _given_masks(masks: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    shape = (len(masks), *x.shape[2:])
    fits = (
        masks.ndim in (3, 4) and masks.shape[-2:] == shape[1:] and masks.shape[1:-2] in ((), (1,))
    )
    if not masks.is_floating_point() or masks.numel() == 0 or not fits:
        raise ValueError(
            f"masks must be a count or floats (M, H, W) = (M, {x.shape[2]}, {x.shape[3]}), got "
            f"{masks.dtype} {tuple(masks.shape)}"
        )
    masks = masks.reshape(shape).double().cpu()
    if not bool(((masks >= 0) & (masks <= 1)).all()) or masks.sum() == 0:
        raise ValueError("masks must lie in [0, 1] (finite), and not all be 0")
    return masks


def rise(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    *,
    masks: int | torch.Tensor = 2000,
    grid: int = 7,
    p: float = 0.5,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    progress: bool | None = None,
) -> torch.Tensor:
    r"""RISE: the mean of random masks, weighted by the class probability they leave. Lesson 04.

    Petsiuk, Das & Saenko, BMVC 2018. For ``N`` random masks :math:`M_i` (see
    :func:`rise_masks`) and the target's softmax probability :math:`P(c \mid \cdot)`,

    .. math::  S_c(\lambda) = \frac{1}{N\, \mathbb{E}[M]} \sum_{i=1}^{N}
               P(c \mid x \odot M_i)\, M_i(\lambda), \qquad \mathbb{E}[M] = p,

    a Monte-Carlo estimate of :math:`\mathbb{E}[P(c \mid x \odot M) \mid M(\lambda) = 1]`.

    A masked pixel is **0 in the model's input space**, as in the paper's code and TorchRay
    (``x * M``): the standardisation's mean, mid-grey for the course's EfficientNet (mean =
    std = 0.5), the ImageNet mean colour for the torchvision models.

    Parameters
    ----------
    model, x, target
        A classifier returning logits (left exactly as it was), a batch ``(N, C, H, W)`` after
        its preprocessing, and ``None`` (each sample's top-1), a class, or one per sample.
    masks
        How many masks to draw, or the masks themselves ``(M, H, W)`` in [0, 1] (e.g. from
        :func:`rise_masks`; then ``grid``, ``p`` and ``seed`` are not used, and
        :math:`\mathbb{E}[M]` is their mean value). The same masks serve every sample.
    grid, p
        The masks' grid (``grid x grid`` cells) and the chance that a cell is kept.
    batch_size, seed, progress
        Copies per forward pass (the result does not depend on it); the private generator's
        seed (the same seed, the same masks); a progress bar (``None``: when someone watches).

    Returns
    -------
    torch.Tensor
        ``(N, H, W)`` in ``x``'s dtype, not normalised: the class's mean probability when the
        pixel is kept (compare it with the map's mean, not with 0).
    """
    check_model(model)
    check_batch(x, model=model)
    given = isinstance(masks, torch.Tensor) and masks.ndim > 0
    count = len(masks) if given else positive_int(masks, "masks")
    grid, p, seed = positive_int(grid, "grid"), _probability(p), _seed(seed)
    batch_size = positive_int(batch_size, "batch_size")
    check_target(target, len(x))
    show = wanted(progress)
    if given:
        fixed = _given_masks(masks, x)  # type: ignore[arg-type]
        draw, mean = None, float(fixed.mean())
    else:
        draw, mean = _MaskDraw(count, tuple(x.shape[2:]), grid, p, seed), p
    n, size = len(x), x.shape[2:]
    saliency = torch.zeros(n, size.numel(), dtype=torch.float64)
    groups = _shared(x)  # an image given twice (for two classes) costs its forwards once
    with preserved_state(model), torch.no_grad():
        targets = resolve_targets(model(x), target)
        for led, index in _jobs(len(groups), count, batch_size, "RISE", show):
            m = fixed[index] if draw is None else draw.masks(index)
            images = x[[groups[g][0] for g in led.tolist()]]
            probs = _softmax(model, images * m[:, None].to(device=x.device, dtype=x.dtype))
            for sample, rows, prob in _spread(probs, led, groups, targets):
                weighted = prob[:, None] * m[rows].flatten(1)
                saliency.index_add_(0, torch.full_like(rows, sample), weighted)
    maps = saliency / (count * mean)
    return maps.view(n, *size).to(device=x.device, dtype=x.dtype)
