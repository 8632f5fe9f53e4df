"""Normalise maps, lay a heatmap over a photo, draw boxes, and show grids of images.

Introduced in lesson 00. One colormap (``CMAP``) and one overlay function serve every lesson.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = ["CMAP", "draw_boxes", "normalize", "overlay", "show_grid"]

CMAP = "jet"  # the heatmap colormap of the CAM and Grad-CAM papers, used everywhere


def normalize(maps: torch.Tensor | np.ndarray, eps: float = 1e-12) -> torch.Tensor | np.ndarray:
    """Min-max each map to [0, 1] over its last two axes: ``(m - min) / (max - min)``.

    A constant map (all zeros, say) becomes all zeros, never NaN. Works on ``(h, w)``,
    ``(N, h, w)`` or ``(N, C, h, w)``, tensor or array, and returns the same kind.
    """
    if isinstance(maps, np.ndarray):
        return normalize(torch.from_numpy(maps), eps).numpy()
    if maps.ndim < 2:
        raise ValueError(f"expected maps of shape (..., h, w), got {tuple(maps.shape)}")
    low = maps.amin(dim=(-2, -1), keepdim=True)
    span = maps.amax(dim=(-2, -1), keepdim=True) - low
    return torch.where(span > eps, (maps - low) / span.clamp_min(eps), torch.zeros_like(maps))


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def overlay(
    image: np.ndarray | torch.Tensor,
    heatmap: np.ndarray | torch.Tensor,
    *,
    alpha: float = 0.5,
    cmap: str = CMAP,
) -> np.ndarray:
    """Blend a heatmap over a photo: ``(1 - alpha) * image + alpha * cmap(heatmap)``.

    ``image`` is ``H x W x 3`` in [0, 1] (e.g. ``preprocessing().pixels(photo)``); ``heatmap`` is
    ``H x W`` in [0, 1] (upsample and :func:`normalize` it first). Returns ``H x W x 3``.
    """
    image, heatmap = _as_numpy(image), _as_numpy(heatmap)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be H x W x 3, got {image.shape}")
    if heatmap.shape != image.shape[:2]:
        raise ValueError(
            f"heatmap {heatmap.shape} and image {image.shape[:2]} differ in size: upsample the "
            "map to the image first (xaiutils.methods.upsample)"
        )
    if heatmap.min() < 0 or heatmap.max() > 1:
        raise ValueError("heatmap must lie in [0, 1]: normalize it first (xaiutils.normalize)")
    colours = plt.get_cmap(cmap)(heatmap)[..., :3]
    return np.clip((1 - alpha) * image + alpha * colours, 0.0, 1.0)


def draw_boxes(ax: plt.Axes, boxes: Sequence, *, color: str = "lime", labels: bool = True) -> None:
    """Draw ``(x0, y0, x1, y1)`` boxes (or :class:`xaiutils.images.Box`) on an axis."""
    for box in boxes:
        x0, y0, x1, y1 = getattr(box, "xyxy", box)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color=color, lw=2))
        if labels and hasattr(box, "label"):
            ax.text(
                x0 + 3,
                y0 + 3,
                box.label,
                color="black",
                va="top",
                fontsize=8,
                bbox={"facecolor": color, "alpha": 0.8, "pad": 1, "lw": 0},
            )


def show_grid(
    images: Sequence[np.ndarray | torch.Tensor],
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    size: float = 2.6,
    cmap: str = "gray",
    suptitle: str | None = None,
) -> Figure:
    """Show images in a grid without axis ticks, each with its title; returns the figure.

    2-D arrays are drawn with ``cmap``; ``H x W x 3`` arrays as colour images.
    """
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    nrows = max(1, -(-len(images) // ncols))
    ncols = min(ncols, max(1, len(images)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(_as_numpy(images[i]), cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
