"""Audit a model for a planted cue: which methods find it, which raise false alarms. Lesson 10.

With :mod:`xaiutils.cleverhans` the evidence each model uses is known from its accuracies: the
Clever Hans follows the stamp, the fair model the shape. So a map can be *graded*, per image:

* ``cue``, ``object``: the share of the map's positive mass on the cue's pixels and on the
  object's (lesson 09's energy, on a pixel mask instead of a box);
* ``peak_cue``, ``peak_object``: whether the map's maximum lies on the cue, on the object
  (the pointing game with no tolerance: the stamp is 6 pixels wide and at least 4 pixels
  from the shape; see :func:`peak_on` for ties);
* ``decoy``, ``peak_decoy``: the same for a **decoy**, a 6 x 6 square of plain background
  placed at random away from the shape and the stamp (:func:`decoy_masks`): how often a map
  "finds" a stamp-sized patch where there is nothing, the chance level of the pointing game
  for that method, flat maxima included;
* ``rho``, ``ssim``: for the data-randomisation test (Adebayo et al., NeurIPS 2018), the rank
  correlation and SSIM of the map with the same method's map on the model trained on shuffled
  labels, for the same image and class (:func:`xaiutils.metrics.map_similarity`).

:func:`audit_rows` runs every method on a set of images for several models; ``studies/
cleverhans.py`` writes the committed rows (``results/cleverhans.csv``); :func:`summarise`
gives each model's and method's mean per column with a bootstrap 95 % interval.
"""

from __future__ import annotations

from pathlib import Path

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
    "decoy_masks",
    "mass_share",
    "method_maps",
    "peak_on",
    "read_rows",
    "summarise",
    "verdicts",
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
    "decoy": "share of the positive map on a decoy patch of background",
    "peak_cue": "the map's maximum lies on the cue",
    "peak_object": "the map's maximum lies on the object",
    "peak_decoy": "the map's maximum lies on the decoy",
    "rho": "Spearman with the shuffled-label model's map",
    "ssim": "SSIM with the shuffled-label model's map",
}


def method_maps(model: nn.Module, x: torch.Tensor, key: str, target: torch.Tensor) -> torch.Tensor:
    """The registry's method ``key`` with lesson 10's settings: maps ``(N, 64, 64)``."""
    layer = LAYER if xu.METHODS[key].needs_layer else None
    return xu.explain(model, x, key, target, layer, **OPTIONS.get(key, {})).detach().float()


def mass_share(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Each map's share of positive mass on its mask ``(N, H, W)``: ``(N,)``, 0 if none.

    Lesson 09's energy (:func:`xaiutils.metrics.energy_in_region`) on a pixel mask, map by
    map, with its convention for a map without a positive pixel (0, as in the study)."""
    from xaiutils.metrics import energy_in_region

    shares = [
        energy_in_region(m, k) if bool((m > 0).any()) else 0.0
        for m, k in zip(maps, masks, strict=True)
    ]
    return torch.tensor(shares)


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


def decoy_masks(data: CueData, seed: int = 0) -> torch.Tensor:
    """A stamp-sized square per image ``(N, 64, 64)``, on plain background: at least 3 pixels
    from the shape and from the stamp, at a random place (seeded)."""
    from scipy.ndimage import binary_dilation

    from xaiutils.cleverhans import SIZE, STAMP

    rng = np.random.default_rng(seed)
    out = torch.zeros(len(data), SIZE, SIZE, dtype=torch.bool)
    near = np.ones((7, 7), dtype=bool)  # 3 pixels around
    for i in range(len(data)):
        taken = binary_dilation((data.objects[i] | data.cues[i]).numpy(), near)
        while True:
            top, left = rng.integers(0, SIZE - STAMP + 1, 2)
            if not taken[top : top + STAMP, left : left + STAMP].any():
                out[i, top : top + STAMP, left : left + STAMP] = True
                break
    return out


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
    masks = {"cue": data.cues, "object": data.objects, "decoy": decoy_masks(data)}
    for name, model in models.items():
        with torch.no_grad():
            top1 = model(x).argmax(dim=1)
        for key in methods:
            maps = method_maps(model, x, key, top1)
            other = method_maps(shuffled, x, key, top1) if shuffled is not None else None
            share = {k: mass_share(maps, m) for k, m in masks.items()}
            peak = {k: peak_on(maps, m) for k, m in masks.items()}
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
                        **{k: float(v[i]) for k, v in share.items()},
                        **{f"peak_{k}": float(v[i]) for k, v in peak.items()},
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


def verdicts(rows: list[dict], exposes_above: float = 0.5) -> dict[str, dict]:
    """Lesson 10's two rules, per method, from the rows of :func:`audit_rows`.

    ``exposes``: on the ``"clever-hans"`` model the peak lies on the cue in more than
    ``exposes_above`` of the images (lower end of the bootstrap 95 % interval above it);
    ``false_alarm``: on the ``"fair"`` model the peak lies on the cue significantly more often
    than on the decoy (paired bootstrap over the same images: the interval of the difference
    lies above 0). Each entry also holds those intervals (``peak_cue``, ``fair_minus_decoy``).
    """
    from xaiutils.statistics import bootstrap_mean, paired_difference

    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        clever = [
            r["peak_cue"] for r in rows if r["model"] == "clever-hans" and r["method"] == method
        ]
        fair = [r for r in rows if r["model"] == "fair" and r["method"] == method]
        hit = bootstrap_mean(clever)
        excess = paired_difference([r["peak_cue"] for r in fair], [r["peak_decoy"] for r in fair])
        out[method] = {
            "exposes": hit.low > exposes_above,
            "false_alarm": excess.low > 0,
            "peak_cue": hit,
            "fair_minus_decoy": excess,
        }
    return out


def read_rows(path: Path) -> list[dict]:
    """The rows of a ``cleverhans.csv`` (``studies/cleverhans.py``), numbers parsed."""
    import csv

    with Path(path).open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("image", "label", "cue_label", "top1"):
            r[k] = int(r[k])
        for k in COLUMNS:
            r[k] = float(r[k])
    return rows
