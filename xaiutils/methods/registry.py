"""One registry of the course's methods, and one front door for practitioners: :func:`explain`.

Every consumer that lists methods reads :data:`METHODS`: the lessons' galleries and tables
(08, 09), the benchmarks, the cross-check tests and the command line (``python -m xaiutils
methods``). Adding a method is one function plus one :class:`Method` entry here; a test fails
if a public method of :mod:`xaiutils.methods` is missing.

:func:`explain` runs any of them and brings the raw output to one form, maps ``(N, H, W)`` at
the input's resolution, through the course's named steps (``Method.to_input``):

* ``"upsample"`` (CAM family): :func:`~xaiutils.methods.cam.upsample`, bilinear;
* ``"abs-sum"`` (input gradients): ``|g|`` summed over the colour channels, lesson 03's
  grayscale before its normalisation;
* ``"to-pixels"`` (occlusion): :meth:`~xaiutils.methods.occlusion.OcclusionResult.to_pixels`
  of the logit's drop, captum's ``Occlusion`` attribution;
* ``"as-is"`` (RISE, LIME): their maps are already one value per pixel;

then, only if asked, ``normalize=True``: :func:`xaiutils.viz.normalize`, min-max per map.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from xaiutils.methods.ablation import ablation_cam
from xaiutils.methods.attributions import gradient_shap, gradient_x_input, integrated_gradients
from xaiutils.methods.cam import cam, grad_cam, upsample
from xaiutils.methods.gradients import (
    deconvnet,
    guided_backprop,
    guided_grad_cam,
    smoothgrad,
    vanilla_gradient,
)
from xaiutils.methods.lime import lime
from xaiutils.methods.occlusion import occlusion
from xaiutils.methods.rise import rise
from xaiutils.methods.variants import (
    eigen_cam,
    grad_cam_pp,
    hires_cam,
    layer_cam,
    score_cam,
    xgrad_cam,
)
from xaiutils.validation import Layer, Target

__all__ = ["METHODS", "Method", "explain", "get_method"]

Family = Literal["gradient", "cam", "perturbation", "path"]
ToInput = Literal["upsample", "abs-sum", "to-pixels", "as-is"]


@dataclass(frozen=True)
class Method:
    """One method of the course and where to find it elsewhere.

    ``key``: its name on the command line and in :func:`explain` (``"grad-cam"``); ``name``:
    its name in figures and tables (``"Grad-CAM"``); ``family``: ``"gradient"`` (back-
    propagation to the input), ``"cam"`` (channel weights times a layer's maps),
    ``"perturbation"`` (change the input, watch the score) or ``"path"`` (integrate along a
    path); ``needs_layer``: whether it takes a ``layer``; ``cost``: its passes through the
    network; ``to_input``: the named step that brings its output to the input's pixels.
    The last four fields name the counterpart in each library (``None``: it has none).
    """

    key: str
    name: str
    function: Callable[..., object]
    family: Family
    needs_layer: bool
    cost: str
    paper: str
    lesson: str
    to_input: ToInput
    pytorch_grad_cam: str | None = None
    torchcam: str | None = None
    captum: str | None = None
    torchray: str | None = None


_GRAD_PASS = "1 forward, 1 backward that stops at the layer"
_INPUT_PASS = "1 forward, 1 backward to the input"
_ENTRIES = [
    Method("occlusion", "occlusion", occlusion, "perturbation", False,
           "1 + one forward per window position", "Zeiler & Fergus, ECCV 2014", "02",
           "to-pixels", captum="Occlusion"),
    Method("vanilla-gradient", "vanilla gradient", vanilla_gradient, "gradient",
           False, _INPUT_PASS, "Simonyan, Vedaldi & Zisserman, ICLR 2014", "03", "abs-sum",
           captum="Saliency", torchray="gradient"),
    Method("guided-backprop", "guided backprop", guided_backprop, "gradient", False,
           _INPUT_PASS, "Springenberg et al., ICLR workshop 2015", "03", "abs-sum",
           pytorch_grad_cam="GuidedBackpropReLUModel", captum="GuidedBackprop",
           torchray="guided_backprop"),
    Method("deconvnet", "deconvnet", deconvnet, "gradient", False, _INPUT_PASS,
           "Zeiler & Fergus, ECCV 2014", "03", "abs-sum", captum="Deconvolution",
           torchray="deconvnet"),
    Method("smoothgrad", "SmoothGrad", smoothgrad, "gradient", False,
           "samples x (1 forward, 1 backward to the input), + 1 forward for target=None",
           "Smilkov et al., 2017", "03", "abs-sum", captum="NoiseTunnel(Saliency)"),
    Method("guided-grad-cam", "guided Grad-CAM", guided_grad_cam, "gradient", True,
           "2 forwards, 2 backwards, + 1 forward for target=None",
           "Selvaraju et al., ICCV 2017", "03", "abs-sum", captum="GuidedGradCam"),
    Method("gradient-x-input", "gradient × input", gradient_x_input, "gradient", False,
           _INPUT_PASS, "Shrikumar et al., 2016 (arXiv:1605.01713)", "04", "abs-sum",
           captum="InputXGradient"),
    Method("integrated-gradients", "Integrated Gradients", integrated_gradients, "path",
           False, "steps x (1 forward, 1 backward to the input), + 1 forward for target=None, "
           "+ 1 forward for return_delta", "Sundararajan, Taly & Yan, ICML 2017", "04",
           "abs-sum", captum="IntegratedGradients"),
    Method("gradient-shap", "GradientSHAP", gradient_shap, "path", False,
           "samples x (1 forward, 1 backward to the input), + 1 forward for target=None",
           "Lundberg & Lee, NeurIPS 2017", "04", "abs-sum", captum="GradientShap"),
    Method("rise", "RISE", rise, "perturbation", False,
           "1 + one forward per mask and sample (default 2000 masks)",
           "Petsiuk, Das & Saenko, BMVC 2018", "04", "as-is", torchray="rise"),
    Method("lime", "LIME", lime, "perturbation", False,
           "1 + one forward per sample drawn (default 1000), a segmentation and a ridge fit",
           "Ribeiro, Singh & Guestrin, KDD 2016", "04", "as-is", captum="Lime"),
    Method("cam", "CAM", cam, "cam", True,
           "2 forwards (the first, of one sample, finds and checks the head)",
           "Zhou et al., CVPR 2016", "05", "upsample", torchcam="CAM"),
    Method("grad-cam", "Grad-CAM", grad_cam, "cam", True, _GRAD_PASS,
           "Selvaraju et al., ICCV 2017", "06", "upsample", pytorch_grad_cam="GradCAM",
           torchcam="GradCAM", captum="LayerGradCam", torchray="grad_cam"),
    Method("grad-cam-pp", "Grad-CAM++", grad_cam_pp, "cam", True, _GRAD_PASS,
           "Chattopadhay et al., WACV 2018", "08", "upsample",
           pytorch_grad_cam="GradCAMPlusPlus", torchcam="GradCAMpp"),
    Method("xgrad-cam", "XGrad-CAM", xgrad_cam, "cam", True, _GRAD_PASS,
           "Fu et al., BMVC 2020", "08", "upsample", pytorch_grad_cam="XGradCAM",
           torchcam="XGradCAM"),
    Method("hires-cam", "HiResCAM", hires_cam, "cam", True, _GRAD_PASS,
           "Draelos & Carin, 2020", "08", "upsample", pytorch_grad_cam="HiResCAM"),
    Method("layer-cam", "Layer-CAM", layer_cam, "cam", True, _GRAD_PASS,
           "Jiang et al., IEEE TIP 2021", "08", "upsample", pytorch_grad_cam="LayerCAM",
           torchcam="LayerCAM"),
    Method("score-cam", "Score-CAM", score_cam, "cam", True,
           "1 + one forward per channel of the layer that is not constant",
           "Wang et al., CVPR workshops 2020", "08", "upsample", pytorch_grad_cam="ScoreCAM",
           torchcam="ScoreCAM"),
    Method("ablation-cam", "Ablation-CAM", ablation_cam, "cam", True,
           "1 forward, then per channel one pass of the network above the layer",
           "Desai & Ramaswamy, WACV 2020", "08", "upsample", pytorch_grad_cam="AblationCAM"),
    Method("eigen-cam", "Eigen-CAM", eigen_cam, "cam", True,
           "1 forward (no class, no gradient)", "Muhammad & Yeasin, IJCNN 2020", "08",
           "upsample", pytorch_grad_cam="EigenCAM"),
]  # fmt: skip
METHODS: dict[str, Method] = {m.key: m for m in _ENTRIES}


def get_method(method: str | Method) -> Method:
    """The registry's entry for ``method``: its key (``"grad-cam"``), its name (``"Grad-CAM"``)
    or its function's name (``"grad_cam"``); an unknown one gets the closest keys."""
    if isinstance(method, Method):
        return method
    if not isinstance(method, str):
        raise TypeError(f"method must be a name like 'grad-cam', got {type(method).__name__}")
    for m in METHODS.values():
        if method in (m.key, m.name, m.function.__name__):
            return m
    close = difflib.get_close_matches(method.lower().replace("_", "-"), list(METHODS), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown method {method!r}.{hint} Known: {', '.join(METHODS)}")


def explain(
    model: nn.Module,
    x: torch.Tensor,
    method: str | Method,
    target: Target = None,
    layer: Layer | None = None,
    *,
    normalize: bool = False,
    **options: object,
) -> torch.Tensor:
    """Any method of the registry, as maps ``(N, H, W)`` at the input's resolution.

    ``method`` is a key of :data:`METHODS` (``"grad-cam"``), a name or a function name;
    ``target`` and ``layer`` as for every method (``layer`` is required by the CAM family and
    guided Grad-CAM, refused by the others); ``options`` go to the method itself (e.g.
    ``samples=`` for SmoothGrad, ``window=`` for occlusion, ``convention=`` for a variant).
    The raw output is brought to the input's pixels by the method's named step
    (``Method.to_input``, see the module's docstring); ``normalize=True`` then min-maxes each
    map to [0, 1]. The model comes back exactly as it went in.
    """
    m = get_method(method)  # the method checks model, x, target and layer itself, first
    if m.needs_layer:
        if layer is None:
            raise ValueError(f"{m.name} needs a layer, e.g. layer='bn2' (xu.layer_names(model))")
        raw = m.function(model, x, target, layer, **options)
    else:
        if layer is not None:
            raise ValueError(f"{m.name} takes no layer (it explains the input): drop layer=")
        raw = m.function(model, x, target, **options)
    size = tuple(x.shape[-2:])
    if m.to_input == "upsample":
        maps = raw if raw.shape[-2:] == size else upsample(raw, size)  # type: ignore[union-attr]
    elif m.to_input == "abs-sum":
        maps = raw.abs().sum(dim=1)  # type: ignore[union-attr]
    elif m.to_input == "as-is":
        maps = raw
    else:
        maps = raw.to_pixels(raw.drop("logit"))  # type: ignore[union-attr]
    if normalize:
        from xaiutils.viz import normalize as min_max

        maps = min_max(maps)
    return maps
