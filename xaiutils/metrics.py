"""Measure a map against ground truth. Introduced in lesson 04 (boxes and IoU)."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

__all__ = ["box_from_map", "iou"]

Box = tuple[float, float, float, float]

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
        threshold is a fraction of the maximum, not of the range: normalise first (lesson 04
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
    m = heatmap.detach().cpu().numpy() if isinstance(heatmap, torch.Tensor) else np.asarray(heatmap)
    if m.ndim != 2:
        raise ValueError(f"expected one map (H, W), got shape {m.shape}")
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


def iou(box_a: Box, box_b: Box) -> float:
    r"""Intersection over union of two boxes ``(x0, y0, x1, y1)`` (``x1``, ``y1`` exclusive).

    .. math::  \mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A| + |B| - |A \cap B|}

    with ``|A| = (x_1 - x_0)(y_1 - y_0)``. 0 for disjoint boxes (or boxes that only touch),
    1 for equal ones. A box with no area raises ``ValueError``.
    """
    ax0, ay0, ax1, ay1 = (float(v) for v in box_a)
    bx0, by0, bx1, by1 = (float(v) for v in box_b)
    area_a, area_b = (ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0)
    if ax1 <= ax0 or ay1 <= ay0 or bx1 <= bx0 or by1 <= by0:
        raise ValueError(f"boxes need x1 > x0 and y1 > y0, got {box_a} and {box_b}")
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    return inter / (area_a + area_b - inter)
