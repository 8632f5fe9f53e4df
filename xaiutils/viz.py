"""Normalise maps, lay a heatmap over a photo, draw boxes, and show grids of images.

Introduced in lesson 00. One colormap (``CMAP``) and one overlay function serve every lesson.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from xaiutils.validation import in_range, positive_int

__all__ = [
    "CMAP",
    "SIGNED_CMAP",
    "add_colorbar",
    "as_float_image",
    "draw_boxes",
    "normalize",
    "outline",
    "overlay",
    "show_grid",
    "show_signed",
]

CMAP = "jet"  # the heatmap colormap of the CAM and Grad-CAM papers, used everywhere
SIGNED_CMAP = "RdBu_r"  # signed maps: red positive, blue negative, white at 0


def normalize(maps: torch.Tensor | np.ndarray, eps: float = 1e-12) -> torch.Tensor | np.ndarray:
    """Min-max each map to [0, 1] over its last two axes: ``(m - min) / (max - min)``.

    A constant map (all zeros, say) becomes all zeros, never NaN. Works on ``(h, w)``,
    ``(N, h, w)`` or ``(N, C, h, w)``, tensor or array, and returns the same kind: floating
    maps keep their dtype, integer and bool maps come back as float32. NaN or infinite values
    are refused (one NaN would otherwise turn its whole map into zeros).
    """
    if isinstance(maps, np.ndarray):
        if maps.dtype.kind not in "biuf":
            raise TypeError(f"maps must hold numbers, got dtype {maps.dtype}")
        return normalize(torch.from_numpy(np.ascontiguousarray(maps)), eps).numpy()
    if not isinstance(maps, torch.Tensor):
        raise TypeError(
            f"maps must be a tensor or a NumPy array, got {type(maps).__name__}: convert it "
            "(torch.as_tensor(maps))"
        )
    if maps.ndim < 2 or 0 in maps.shape[-2:]:
        raise ValueError(
            f"maps must have shape (..., h, w) with h, w >= 1, got {tuple(maps.shape)}"
        )
    if maps.is_complex():
        raise TypeError("maps are complex: take .abs() or .real first")
    if not maps.is_floating_point():
        maps = maps.float()
    if not bool(torch.isfinite(maps).all()):
        raise ValueError(
            f"maps have {int(torch.isnan(maps).sum())} NaN and {int(torch.isinf(maps).sum())} "
            "infinite values: find where they come from, or replace them (torch.nan_to_num)"
        )
    m = maps.double()  # no overflow of max - min near float32's limits
    low = m.amin(dim=(-2, -1), keepdim=True)
    span = m.amax(dim=(-2, -1), keepdim=True) - low
    out = torch.where(span > eps, (m - low) / span.clamp_min(eps), torch.zeros_like(m))
    return out.to(maps.dtype)


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def as_float_image(image: np.ndarray | torch.Tensor, name: str = "image") -> np.ndarray:
    """An ``H x W x 3`` picture as floats in [0, 1]: float images must already lie in [0, 1];
    ``uint8`` is divided by 255 and ``uint16`` by 65535. Anything else is refused by name."""
    array = _as_numpy(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{name} must be H x W x 3, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if array.dtype.kind != "f":
        raise TypeError(
            f"{name} has dtype {array.dtype}: give floats in [0, 1], uint8 (0..255) or uint16 "
            "(0..65535)"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        fix = " (0..255 values: divide by 255)" if high <= 255 and low >= 0 else ""
        raise ValueError(
            f"{name} has float values in [{low:g}, {high:g}]; floats must lie in [0, 1]{fix}. "
            "For a preprocessed batch use preprocessing().pixels(photo) instead"
        )
    return array


def overlay(
    image: np.ndarray | torch.Tensor,
    heatmap: np.ndarray | torch.Tensor,
    *,
    alpha: float = 0.5,
    cmap: str = CMAP,
) -> np.ndarray:
    """Blend a heatmap over a photo: ``(1 - alpha) * image + alpha * cmap(heatmap)``.

    ``image`` is ``H x W x 3``: floats in [0, 1] (e.g. ``preprocessing().pixels(photo)``), or
    ``uint8`` / ``uint16``, converted to [0, 1]; ``heatmap`` is ``H x W`` in [0, 1] (upsample
    and :func:`normalize` it first). Returns ``H x W x 3`` floats in [0, 1].
    """
    alpha = in_range(alpha, "alpha", 0, 1)
    image, heatmap = as_float_image(image), _as_numpy(heatmap)
    if heatmap.dtype.kind not in "biuf":
        raise TypeError(f"heatmap must hold numbers, got dtype {heatmap.dtype}")
    # As floats: matplotlib reads an integer array as indices into the colour table.
    heatmap = heatmap.astype(np.float64)
    if heatmap.shape != image.shape[:2]:
        raise ValueError(
            f"heatmap {heatmap.shape} and image {image.shape[:2]} differ in size: upsample the "
            "map to the image first (xaiutils.methods.upsample)"
        )
    if not np.isfinite(heatmap).all():
        raise ValueError("heatmap has NaN or infinite values")
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


def outline(
    ax: plt.Axes,
    mask: np.ndarray | torch.Tensor,
    *,
    color: str = "white",
    grow: int = 0,
    linewidth: float = 1.2,
) -> None:
    """Draw the outline of a pixel mask ``H x W`` on an image axis; ``grow`` pixels outside it
    (so that a small coloured region keeps its own colour inside the line). Lesson 10."""
    m = _as_numpy(mask).astype(bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be H x W, got shape {m.shape}")
    grow = positive_int(grow, "grow", minimum=0)
    if grow:
        from scipy.ndimage import binary_dilation

        m = binary_dilation(m, np.ones((2 * grow + 1, 2 * grow + 1), dtype=bool))
    if m.any():
        ax.contour(m, levels=[0.5], colors=color, linewidths=linewidth)


def add_colorbar(
    fig: Figure,
    axes,
    label: str,
    *,
    cmap: str = CMAP,
    limits: tuple[float, float] = (0.0, 1.0),
    shrink: float = 0.8,
):
    """One colorbar beside ``axes`` (an axis or an array of them): ``cmap`` from ``limits[0]``
    to ``limits[1]``, labelled. The default is the scale of :func:`overlay` on a map normalised
    to [0, 1]. In a figure made with ``layout="constrained"`` (as :func:`show_grid` makes them),
    matplotlib makes room for it."""
    bar = fig.colorbar(
        ScalarMappable(norm=Normalize(*limits), cmap=cmap), ax=axes, shrink=shrink, aspect=25
    )
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


def show_grid(
    images: Sequence[np.ndarray | torch.Tensor],
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    size: float = 2.6,
    cmap: str = "gray",
    suptitle: str | None = None,
    colorbar: str | None = None,
    limits: tuple[float, float] | None = None,
) -> Figure:
    """Show images in a grid without axis ticks, each with its title; returns the figure.

    2-D arrays are drawn with ``cmap``, each scaled to its own range unless ``limits`` gives one
    ``(low, high)`` for all; ``H x W x 3`` arrays as colour images. ``colorbar``, a label, adds
    one colorbar for the whole grid (:func:`add_colorbar`): ``cmap`` over ``limits`` when those
    are given, else the heatmap colormap :data:`CMAP` from 0 to 1, the scale of every
    :func:`overlay` of a normalised map (CONTRIBUTING.md: a scale on every heatmap figure). The
    layout is matplotlib's constrained layout, which leaves room for the ``suptitle`` and the
    colorbar.
    """
    ncols = positive_int(ncols, "ncols")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    nrows = max(1, -(-len(images) // ncols))
    ncols = min(ncols, max(1, len(images)))
    width = size * ncols + (0.9 if colorbar else 0.0)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, size * nrows), squeeze=False, layout="constrained"
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            low, high = limits if limits is not None else (None, None)
            ax.imshow(_as_numpy(images[i]), cmap=cmap, vmin=low, vmax=high)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if colorbar:
        scale = {"cmap": cmap, "limits": limits} if limits is not None else {}
        add_colorbar(fig, axes, colorbar, shrink=min(0.9, 2.2 / nrows), **scale)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def show_signed(
    maps: Sequence[np.ndarray | torch.Tensor],
    titles: Sequence[str],
    *,
    ncols: int = 4,
    size: float = 2.8,
    percentile: float = 99.0,
    suptitle: str | None = None,
) -> Figure:
    """Signed maps ``H x W``, each in :data:`SIGNED_CMAP` centred on 0, with its own colorbar.

    Each panel's scale is symmetric, ``[-s, s]`` with ``s`` the ``percentile`` of the map's
    ``|values|`` (a few extreme pixels would otherwise wash out the rest); values beyond it take
    the end colours; ``suptitle`` above them all. Introduced in lesson 00 for signed feature
    maps; lesson 04 uses it for attributions, which can be negative too.
    """
    if len(titles) != len(maps):
        raise ValueError(f"{len(maps)} maps but {len(titles)} titles")
    percentile = in_range(percentile, "percentile", 0, 100)
    arrays = [_as_numpy(m).astype(np.float64) for m in maps]
    if any(a.ndim != 2 or not np.isfinite(a).all() for a in arrays):
        raise ValueError("maps must be finite H x W arrays: sum an attribution over its channels")
    fig = show_grid([np.zeros((1, 1))] * len(arrays), titles, ncols=ncols, size=size)
    for ax, a in zip(fig.axes, arrays, strict=False):
        scale = float(np.percentile(np.abs(a), percentile)) or float(np.abs(a).max()) or 1.0
        ax.images[0].remove()
        image = ax.imshow(a, cmap=SIGNED_CMAP, vmin=-scale, vmax=scale)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
