"""The course's explanation methods, each from scratch and short.

One module per family, all re-exported here (``from xaiutils.methods import grad_cam``):

* :mod:`xaiutils.methods.cam`: the shared mechanism (:func:`layer_pass`, :func:`weighted_cam`),
  CAM (lesson 04), Grad-CAM (lesson 05), :func:`upsample`;
* :mod:`xaiutils.methods.gradients`: vanilla gradient, guided backprop, deconvnet, SmoothGrad,
  guided Grad-CAM (lesson 03), and :func:`modified_rectifiers` (lessons 02 and 03);
* :mod:`xaiutils.methods.occlusion`: ZFNet's occlusion experiment (lesson 02);
* :mod:`xaiutils.methods.variants`: Grad-CAM++, XGrad-CAM, HiResCAM, Layer-CAM, Score-CAM,
  Ablation-CAM and Eigen-CAM (lesson 07);
* :mod:`xaiutils.methods.registry`: :data:`METHODS`, every method with its family, cost,
  paper and library counterparts, and :func:`explain`, the front door that runs any of them.

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
from xaiutils.methods.gradients import (
    deconvnet,
    gradient_colour,
    gradient_grayscale,
    guided_backprop,
    guided_grad_cam,
    input_gradient,
    modified_rectifiers,
    smoothgrad,
    vanilla_gradient,
)
from xaiutils.methods.occlusion import OcclusionResult, occlusion
from xaiutils.methods.registry import METHODS, Method, explain, get_method
from xaiutils.methods.variants import (
    ablation_cam,
    eigen_cam,
    grad_cam_pp,
    hires_cam,
    layer_cam,
    score_cam,
    xgrad_cam,
)

__all__ = [
    "METHODS",
    "Layer",
    "LayerPass",
    "Method",
    "OcclusionResult",
    "Target",
    "ablation_cam",
    "cam",
    "cam_head",
    "check_batch",
    "combine",
    "deconvnet",
    "eigen_cam",
    "explain",
    "grad_cam",
    "grad_cam_pp",
    "get_method",
    "gradient_colour",
    "gradient_grayscale",
    "guided_backprop",
    "guided_grad_cam",
    "hires_cam",
    "input_gradient",
    "layer_cam",
    "layer_pass",
    "modified_rectifiers",
    "occlusion",
    "resolve_targets",
    "score_cam",
    "smoothgrad",
    "upsample",
    "vanilla_gradient",
    "weighted_cam",
    "xgrad_cam",
]
