"""Measure a map against ground truth, and against the same method on a randomised model.

Box from a map and IoU: lesson 05. Pointing game, energy and map similarity: lesson 09, whose
deletion and insertion curves (the map against the model's own score) are in
:mod:`xaiutils.evaluation`, and the sanity check (a map against the same method on a
randomised model) in :mod:`xaiutils.sanity`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from xaiutils.images import Box
from xaiutils.validation import in_range

__all__ = [
    "box_from_map",
    "energy_in_region",
    "iou",
    "map_similarity",
    "peak",
    "pointing_game",
    "region_mask",
]

# Box coordinates (x0, y0, x1, y1), x1 and y1 exclusive. The course's one box *type* is
# xaiutils.images.Box (an annotated box: label, class, coordinates); every function here takes
# either it or bare coordinates.
XYXY = tuple[float, float, float, float]

# 8-connectivity: pixels that touch only at a corner belong to the same region. A thresholded,
# upsampled map often has thin diagonal bridges; 4-connectivity would cut one object in two.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def box_from_map(
    heatmap: torch.Tensor | np.ndarray, threshold: float = 0.2
) -> tuple[int, int, int, int]:
    r"""A bounding box from a heatmap, as the CAM paper localises objects (Zhou et al., 2016).

    Keep the pixels at or above a fraction of the map's maximum,

    .. math::  S = \{(i, j) : M(i, j) \ge t \cdot \max M\},

    split ``S`` into 8-connected regions, and return the bounding box of the largest one
    (the most pixels; ties go to the region found first, scanning rows from the top).

    Parameters
    ----------
    heatmap
        One map ``(H, W)``, tensor or array, e.g. an upsampled, normalised CAM. The
        threshold is a fraction of the maximum, not of the range: normalise first (lesson 05
        does) if the map's minimum is not 0.
    threshold
        The fraction ``t`` of the maximum; the paper uses 0.2.

    Returns
    -------
    ``(x0, y0, x1, y1)`` in the map's pixel coordinates, ``x1`` and ``y1`` exclusive, so
    ``heatmap[y0:y1, x0:x1]`` is the box.

    Raises
    ------
    ValueError
        If the map is not 2-D, or its maximum is not positive (no region stands out).
    """
    threshold = in_range(threshold, "threshold", 0, 1)
    m = _as_map(heatmap)
    top = float(m.max())
    if not top > 0:
        raise ValueError(
            f"the map's maximum is {top:g}: no pixel is positive, so there is no region to "
            "box (an all-zero map, e.g. a Grad-CAM whose ReLU removed everything)"
        )
    labels, count = ndimage.label(m >= threshold * top, structure=EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    largest = int(np.argmax(sizes)) + 1
    rows, cols = ndimage.find_objects(labels)[largest - 1]
    return (int(cols.start), int(rows.start), int(cols.stop), int(rows.stop))


def _box(box: object, name: str) -> tuple[float, float, float, float]:
    """A box ``(x0, y0, x1, y1)`` as four finite floats (a NaN corner would match nothing)."""
    values = tuple(float(v) for v in getattr(box, "xyxy", box))  # type: ignore[union-attr]
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ValueError(f"{name} must be four finite numbers (x0, y0, x1, y1), got {box!r}")
    return values  # type: ignore[return-value]


def iou(box_a: XYXY | Box, box_b: XYXY | Box) -> float:
    r"""Intersection over union of two boxes ``(x0, y0, x1, y1)`` (``x1``, ``y1`` exclusive).

    .. math::  \mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A| + |B| - |A \cap B|}

    with ``|A| = (x_1 - x_0)(y_1 - y_0)``. 0 for disjoint boxes (or boxes that only touch),
    1 for equal ones. A box with no area raises ``ValueError``.
    """
    from torchvision.ops import box_iou  # the same formula, in float64 here

    a, b = _box(box_a, "box_a"), _box(box_b, "box_b")
    if a[2] <= a[0] or a[3] <= a[1] or b[2] <= b[0] or b[3] <= b[1]:
        raise ValueError(f"boxes need x1 > x0 and y1 > y0, got {a} and {b}")
    boxes = torch.tensor([a, b], dtype=torch.float64)
    return float(box_iou(boxes[:1], boxes[1:])[0, 0])


# --- Lesson 09: pointing game, energy, map similarity ---------------------------------------

Region = np.ndarray | torch.Tensor | XYXY | Box


def _as_map(heatmap: torch.Tensor | np.ndarray) -> np.ndarray:
    """One map ``(H, W)`` as float64 NumPy, NaN refused (it would silently win or lose)."""
    if isinstance(heatmap, torch.Tensor):
        m = heatmap.detach().cpu().float().numpy()
    elif isinstance(heatmap, np.ndarray):
        m = heatmap
    else:
        raise TypeError(f"heatmap must be a tensor or array (H, W), got {type(heatmap).__name__}")
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"heatmap must be one map (H, W), got shape {m.shape}")
    if m.dtype.kind not in "biuf":
        raise TypeError(f"heatmap must hold numbers, got dtype {m.dtype}")
    m = m.astype(np.float64, copy=False)
    if np.isnan(m).any():
        raise ValueError("heatmap has NaN values: no pixel can be ranked against them")
    return m


def region_mask(region: Region, size: tuple[int, int]) -> np.ndarray:
    """A region as a boolean mask of ``size = (H, W)``: a mask passes through, a box is filled.

    A box ``(x0, y0, x1, y1)`` (``x1``, ``y1`` exclusive, floats allowed, e.g. a scaled
    annotation) holds the pixels whose *centre* ``(j + 0.5, i + 0.5)`` lies inside it, so an
    integer box holds exactly ``mask[y0:y1, x0:x1]``.
    """
    if isinstance(region, np.ndarray | torch.Tensor) and np.ndim(region) == 2:
        mask = region.detach().cpu().numpy() if isinstance(region, torch.Tensor) else region
        if mask.shape != tuple(size):
            raise ValueError(f"mask {mask.shape} and map {tuple(size)} differ in size")
        return mask.astype(bool)
    x0, y0, x1, y1 = _box(region, "region")
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"a box needs x1 > x0 and y1 > y0, got {(x0, y0, x1, y1)}")
    rows = (np.arange(size[0]) + 0.5 >= y0) & (np.arange(size[0]) + 0.5 < y1)
    cols = (np.arange(size[1]) + 0.5 >= x0) & (np.arange(size[1]) + 0.5 < x1)
    return rows[:, None] & cols[None, :]


def peak(heatmap: torch.Tensor | np.ndarray) -> tuple[int, int]:
    """The map's maximum as a point ``(x, y)``: the first one in row-major order on ties.

    The same rule as TorchRay's benchmark (``_saliency_to_point`` in
    ``examples/attribution_benchmark.py``: ``argmax`` of the flattened map, then
    ``(index % W, index // W)``).
    """
    m = _as_map(heatmap)
    y, x = np.unravel_index(int(np.argmax(m)), m.shape)
    return int(x), int(y)


def pointing_game(heatmap: torch.Tensor | np.ndarray, region: Region, tolerance: float = 0) -> bool:
    r"""The pointing game (Zhang et al., ECCV 2016): does the map's maximum hit the object?

    The point ``p = (x, y)`` is :func:`peak`. With ``tolerance = r > 0`` it is TorchRay's rule
    (``torchray.benchmark.pointing_game.PointingGame.evaluate``): a hit if some pixel ``q`` of
    the region lies *strictly* closer than ``r`` pixels,

    .. math::  \exists\, q \in R : \lVert q - p \rVert^2 < r^2 ;

    TorchRay and the benchmarks built on it use ``r = 15``. With ``tolerance = 0`` (the
    default) the point itself must lie in the region (TorchRay's strict ``<`` would accept
    nothing at ``r = 0``; ``r = 1`` there is this rule).

    Parameters
    ----------
    heatmap
        One map ``(H, W)`` at the input's resolution (upsample it first).
    region
        The object: a boolean mask ``(H, W)`` or a box ``(x0, y0, x1, y1)`` (see
        :func:`region_mask`).
    tolerance
        ``r`` in pixels.
    """
    m = _as_map(heatmap)
    if m.max() == m.min():
        raise ValueError(
            "the map is constant (all zero, say): it has no peak to point with. Count it as a "
            "miss yourself if that is what you mean"
        )
    tolerance = in_range(tolerance, "tolerance", 0)
    mask = region_mask(region, m.shape)
    x, y = peak(m)
    if tolerance <= 0:
        return bool(mask[y, x])
    rows, cols = np.nonzero(mask)
    return bool((((rows - y) ** 2 + (cols - x) ** 2) < tolerance**2).any())


def energy_in_region(heatmap: torch.Tensor | np.ndarray, region: Region) -> float:
    r"""The share of the map's positive mass that falls in the region (energy-based pointing
    game, Wang et al., Score-CAM, 2020):

    .. math::  E = \frac{\sum_{p \in R} \max(M_p, 0)}{\sum_{p} \max(M_p, 0)}

    1 when all the positive evidence is inside, the region's share of the pixels for a
    uniform map. Give the **raw** map: min-max normalisation shifts the zero, and the most
    negative pixel's surroundings then count as evidence. Raises ``ValueError`` if no pixel
    is positive.
    """
    m = np.clip(_as_map(heatmap), 0, None)
    total = m.sum()
    if not total > 0:
        raise ValueError("the map has no positive pixel: there is no energy to share out")
    return float(m[region_mask(region, m.shape)].sum() / total)


def map_similarity(
    a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray
) -> tuple[float, float]:
    """Spearman rank correlation and SSIM of two maps ``(H, W)``: 1 and 1 for the same map.

    Both are min-max normalised first (:func:`xaiutils.viz.normalize`); SSIM is scikit-image's
    ``structural_similarity`` with ``data_range=1``; the rank correlation is
    ``scipy.stats.spearmanr`` of the flattened maps. A constant map has no ranking to share:
    its correlation is reported as 0 (scipy would return NaN with a warning).
    """
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    from xaiutils.viz import normalize

    a = normalize(torch.as_tensor(np.asarray(a, dtype=np.float64)))
    b = normalize(torch.as_tensor(np.asarray(b, dtype=np.float64)))
    a, b = a.numpy(), b.numpy()
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"expected two maps (H, W) of the same size, got {a.shape}, {b.shape}")
    constant = np.ptp(a) == 0 or np.ptp(b) == 0
    rho = 0.0 if constant else float(spearmanr(a.ravel(), b.ravel()).statistic)
    return rho, float(structural_similarity(a, b, data_range=1.0))
