"""Audit a model for a planted cue: which methods find it, which raise false alarms. Lesson 10.

With :mod:`xaiutils.cleverhans` the evidence each model uses is known from its accuracies: the
Clever Hans follows the stamp, the fair model the shape. So a map can be *graded*, per image:

* ``cue``, ``object``: the share of the map's positive mass on the cue's pixels and on the
  object's (lesson 09's energy, on a pixel mask instead of a box);
* ``peak_cue``, ``peak_object``: whether the map's maximum lies on the cue, on the object
  (the pointing game with no tolerance: the stamp is 6 pixels wide and at least 4 pixels
  from the shape; see :func:`peak_on` for ties);
* ``rho``, ``ssim``: for the data-randomisation test (Adebayo et al., NeurIPS 2018), the rank
  correlation and SSIM of the map with the same method's map on the model trained on shuffled
  labels, for the same image and class (:func:`xaiutils.metrics.map_similarity`).

:func:`audit_rows` runs every method on a set of images for several models; ``studies/
cleverhans.py`` writes the committed rows (``results/cleverhans.csv``); :func:`summarise`
gives each model's and method's mean per column with a bootstrap 95 % interval.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import xaiutils as xu
from xaiutils.cleverhans import CueData

__all__ = [
    "COLUMNS",
    "LAYER",
    "OPTIONS",
    "audit_rows",
    "mass_share",
    "method_maps",
    "peak_on",
    "summarise",
]

LAYER = "features"  # every method that takes a layer: the last conv block's ReLU, 16 x 16
OPTIONS = {  # lesson 10's settings for 64 x 64 images (fill: the background's grey)
    "occlusion": {"window": 8, "stride": 4, "fill": 0.5, "batch_size": 100},
    "rise": {"masks": 300, "grid": 8, "batch_size": 100},
    "lime": {"samples": 200, "batch_size": 100},
    "smoothgrad": {"samples": 16, "batch_size": 100},
    "integrated-gradients": {"steps": 16, "batch_size": 100},
    "gradient-shap": {"samples": 16, "batch_size": 100},
    "score-cam": {"batch_size": 100},
}
COLUMNS = {  # column: what it says
    "cue": "share of the positive map on the cue",
    "object": "share of the positive map on the object",
    "peak_cue": "the map's maximum lies on the cue",
    "peak_object": "the map's maximum lies on the object",
    "rho": "Spearman with the shuffled-label model's map",
    "ssim": "SSIM with the shuffled-label model's map",
}


def method_maps(model: nn.Module, x: torch.Tensor, key: str, target: torch.Tensor) -> torch.Tensor:
    """The registry's method ``key`` with lesson 10's settings: maps ``(N, 64, 64)``."""
    layer = LAYER if xu.METHODS[key].needs_layer else None
    return xu.explain(model, x, key, target, layer, **OPTIONS.get(key, {})).detach().float()


def mass_share(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Each map's share of positive mass on its mask ``(N, H, W)``: ``(N,)``, 0 if none."""
    positive = maps.clamp(min=0)
    total = positive.sum(dim=(1, 2))
    inside = (positive * masks).sum(dim=(1, 2))
    return torch.where(total > 0, inside / total.clamp(min=1e-30), torch.zeros_like(total))


def peak_on(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """1 where a pixel at a map's maximum lies on its mask, else 0: ``(N,)``.

    Any pixel at the maximum counts (Quantus's rule, lesson 09): occlusion's and LIME's maps
    are flat over a window or a superpixel, and which of its pixels is "the" peak would be an
    accident of reading order. A constant map has no maximum: 0.
    """
    flat = maps.flatten(1)
    top = flat == flat.amax(dim=1, keepdim=True)
    hit = (top & masks.flatten(1)).any(dim=1)
    return (hit & (flat.amax(dim=1) > flat.amin(dim=1))).float()


def audit_rows(
    models: dict[str, nn.Module],
    data: CueData,
    methods: list[str],
    shuffled: nn.Module | None = None,
) -> list[dict]:
    """One row per model, method and image: the :data:`COLUMNS` of that map.

    Each model's maps explain its own top-1 class. If ``shuffled`` is given, the same method's
    map on it, for the same image and class, gives ``rho`` and ``ssim`` (else they are NaN).
    """
    from xaiutils.metrics import map_similarity

    rows = []
    x = data.images
    for name, model in models.items():
        with torch.no_grad():
            top1 = model(x).argmax(dim=1)
        for key in methods:
            maps = method_maps(model, x, key, top1)
            other = method_maps(shuffled, x, key, top1) if shuffled is not None else None
            cue, obj = mass_share(maps, data.cues), mass_share(maps, data.objects)
            peak_cue, peak_obj = peak_on(maps, data.cues), peak_on(maps, data.objects)
            for i in range(len(data)):
                rho, ssim = (
                    map_similarity(maps[i], other[i]) if other is not None else (np.nan,) * 2
                )
                rows.append(
                    {
                        "model": name,
                        "method": xu.METHODS[key].name,
                        "image": i,
                        "label": int(data.labels[i]),
                        "cue_label": int(data.cue_labels[i]),
                        "top1": int(top1[i]),
                        "cue": float(cue[i]),
                        "object": float(obj[i]),
                        "peak_cue": float(peak_cue[i]),
                        "peak_object": float(peak_obj[i]),
                        "rho": rho,
                        "ssim": ssim,
                    }
                )
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Each model's and method's mean per column and its bootstrap 95 % interval over the
    images: one row per model, method and column."""
    from xaiutils.statistics import bootstrap_mean

    out = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["method"]), []).append(r)
    for (model, method), group in groups.items():
        for column in COLUMNS:
            values = np.array([r[column] for r in group], dtype=float)
            if np.isnan(values).all():
                continue
            ci = bootstrap_mean(values)
            out.append({"model": model, "method": method, "column": column, "n": ci.n,
                        "mean": ci.mean, "low": ci.low, "high": ci.high})  # fmt: skip
    return out
