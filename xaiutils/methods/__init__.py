"""The course's explanation methods, each from scratch and short.

One module per family, all re-exported here (``from xaiutils.methods import grad_cam``); this
package's ``__all__`` is exactly the union of theirs (a test checks it):

* :mod:`xaiutils.methods.cam`: the shared mechanism (:func:`layer_pass`, :func:`weighted_cam`),
  CAM (lesson 05), Grad-CAM (lesson 06), :func:`upsample`;
* :mod:`xaiutils.methods.gradients`: vanilla gradient, guided backprop, deconvnet, SmoothGrad,
  guided Grad-CAM (lesson 03), and :func:`modified_rectifiers` (lessons 02 and 03);
* :mod:`xaiutils.methods.occlusion`: ZFNet's occlusion experiment (lesson 02);
* :mod:`xaiutils.methods.attributions`: gradient x input, Integrated Gradients, GradientSHAP
  (lesson 04, attributions that add up); :mod:`xaiutils.methods.rise` and
  :mod:`xaiutils.methods.lime`: RISE and LIME, black-box (lesson 04);
* :mod:`xaiutils.methods.variants`: Grad-CAM++, XGrad-CAM, HiResCAM, Layer-CAM, Score-CAM and
  Eigen-CAM, and :mod:`xaiutils.methods.ablation`: Ablation-CAM (lesson 08);
* :mod:`xaiutils.methods.tokens`: ``reshape=`` for a transformer's tokens, :func:`vit_reshape`
  and :func:`swin_reshape` (timm's layouts; lesson 08);
* :mod:`xaiutils.methods.registry`: :data:`METHODS`, every method with its family, cost,
  paper and library counterparts, and :func:`explain`, the front door that runs any of them.

Conventions, for every method: ``method(model, x, target, layer)`` with a batch ``x`` of shape
``(N, C, H, W)``, ``target`` ``None`` (top-1), one class, or one per sample; maps come back
raw, one per sample; the model comes back exactly as it went in. The argument checks they all
share (and the ``Target`` and ``Layer`` types) are in :mod:`xaiutils.validation`.
"""

from xaiutils.methods.ablation import ablation_cam
from xaiutils.methods.attributions import (
    BASELINES,
    RULES,
    gradient_shap,
    gradient_x_input,
    integrated_gradients,
    quadrature,
)
from xaiutils.methods.cam import (
    LayerPass,
    cam,
    cam_head,
    combine,
    grad_cam,
    layer_pass,
    upsample,
    weighted_cam,
)
from xaiutils.methods.gradients import (
    RECTIFIERS,
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
from xaiutils.methods.lime import lime, superpixels
from xaiutils.methods.occlusion import (
    DEFAULT_BATCH_SIZE,
    OcclusionResult,
    occlusion,
    window_starts,
)
from xaiutils.methods.registry import METHODS, Method, explain, get_method
from xaiutils.methods.rise import rise, rise_masks
from xaiutils.methods.tokens import (
    Reshape,
    TokenGrid,
    check_reshape,
    feature_map,
    swin_reshape,
    vit_reshape,
)
from xaiutils.methods.variants import (
    eigen_cam,
    grad_cam_pp,
    hires_cam,
    layer_cam,
    score_cam,
    xgrad_cam,
)

__all__ = [
    "BASELINES",
    "DEFAULT_BATCH_SIZE",
    "METHODS",
    "RECTIFIERS",
    "RULES",
    "LayerPass",
    "Method",
    "OcclusionResult",
    "Reshape",
    "TokenGrid",
    "ablation_cam",
    "cam",
    "cam_head",
    "check_reshape",
    "combine",
    "deconvnet",
    "eigen_cam",
    "explain",
    "feature_map",
    "get_method",
    "gradient_shap",
    "gradient_x_input",
    "grad_cam",
    "grad_cam_pp",
    "gradient_colour",
    "gradient_grayscale",
    "guided_backprop",
    "guided_grad_cam",
    "hires_cam",
    "input_gradient",
    "integrated_gradients",
    "layer_cam",
    "layer_pass",
    "lime",
    "modified_rectifiers",
    "occlusion",
    "quadrature",
    "rise",
    "rise_masks",
    "score_cam",
    "smoothgrad",
    "superpixels",
    "swin_reshape",
    "upsample",
    "vanilla_gradient",
    "vit_reshape",
    "weighted_cam",
    "window_starts",
    "xgrad_cam",
]
