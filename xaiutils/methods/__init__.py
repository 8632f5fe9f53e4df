"""The course's explanation methods, each from scratch and short.

One module per family, all re-exported here (``from xaiutils.methods import grad_cam``):

* :mod:`xaiutils.methods.cam`: the shared mechanism (:func:`layer_pass`, :func:`weighted_cam`),
  CAM (lesson 04), Grad-CAM (lesson 05), :func:`upsample`.

Conventions, for every method: ``method(model, x, target, layer)`` with a batch ``x`` of shape
``(N, C, H, W)``, ``target`` ``None`` (top-1), one class, or one per sample; maps come back
raw, one per sample; the model comes back exactly as it went in.
"""

from xaiutils.methods.cam import (
    Layer,
    LayerPass,
    Target,
    cam,
    cam_head,
    check_batch,
    combine,
    grad_cam,
    layer_pass,
    resolve_targets,
    upsample,
    weighted_cam,
)

__all__ = [
    "Layer",
    "LayerPass",
    "Target",
    "cam",
    "cam_head",
    "check_batch",
    "combine",
    "grad_cam",
    "layer_pass",
    "resolve_targets",
    "upsample",
    "weighted_cam",
]
