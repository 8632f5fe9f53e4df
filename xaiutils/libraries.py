"""The four libraries, each called as its documentation shows. Lesson 07.

Each ``<library>_<method>(model, x, target, layer)`` calls one library and returns its output
as a tensor, otherwise untouched: the library's own shape, ReLU, normalisation and resizing.
Each call runs inside :func:`restored`, which gives the model back exactly as it came.
:mod:`xaiutils.crosscheck` compares these outputs with ours.
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager

import numpy as np
import torch
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.models import get_layer
from xaiutils.validation import Layer, Target, check_batch, check_model, targets_or_top1

__all__ = [
    "captum_grad_cam",
    "pytorch_grad_cam_grad_cam",
    "restored",
    "torchcam_cam",
    "torchcam_grad_cam",
    "torchray_grad_cam",
]


def restored(model: nn.Module) -> AbstractContextManager[nn.Module]:
    """Lend ``model`` to a library (eval mode, parameters frozen) and get it back as it was.

    :func:`xaiutils.hooks.preserved_state`, the same guard our own methods run under: it puts
    back ``training`` and ``inplace`` flags, ``requires_grad`` and ``.grad``, and removes (and
    reports) any hook a library leaves.
    """
    return preserved_state(model)


def _gradient_path(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Give ``module``'s output a gradient, which pytorch-grad-cam and torch-cam need.

    Not through every weight (pytorch-grad-cam would back-propagate into all 138 M of VGG16's):
    the layer's own parameters, or the input for a layer without any. Returns the input to use.
    """
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(True)
    return x.detach() if params else x.detach().requires_grad_()


def targets_of(model: nn.Module, x: torch.Tensor, target: Target) -> list[int]:
    """One class index per sample as a list of ints; ``None``: each sample's top-1. Checks the
    model and the batch first, as our own methods do."""
    check_model(model)
    check_batch(x, model=model)
    return targets_or_top1(model, x, target).tolist()


def torchray_grad_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer
) -> torch.Tensor:
    """``torchray.attribution.grad_cam.grad_cam``: ``(N, 1, h, w)``, ReLU, not normalised, and
    with ``resize=False`` (its default) not resized."""
    with warnings.catch_warnings():
        # torchray's __init__ reads its VERSION with a deprecated importlib call: noise only.
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchray.attribution.grad_cam import grad_cam as torchray_gc

    module = get_layer(model, layer)
    with restored(model):
        targets = targets_of(model, x, target)
        return torchray_gc(model, x.detach(), targets, saliency_layer=module).detach()


def pytorch_grad_cam_grad_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, layer_map: bool = False
) -> torch.Tensor:
    """``pytorch_grad_cam.GradCAM``: ``(N, H, W)``, ReLU, min-max at ``h x w``, ``cv2.resize``
    (bilinear) to the input's size, min-max again. ``layer_map=True``: its ``get_cam_image``
    from the same pass instead, the weighted sum at ``h x w`` before all of that.
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    module = get_layer(model, layer)
    with restored(model):
        targets = [ClassifierOutputTarget(c) for c in targets_of(model, x, target)]
        # Not `with GradCAM(...)`: its __exit__ prints and swallows any IndexError.
        extractor = GradCAM(model, [module])
        try:
            out = extractor(_gradient_path(module, x), targets)
            if layer_map:
                store = extractor.activations_and_grads
                acts, grads = store.activations[0].numpy(), store.gradients[0].numpy()
                out = extractor.get_cam_image(x, module, targets, acts, grads)
        finally:
            extractor.activations_and_grads.release()
    return torch.from_numpy(np.ascontiguousarray(out))


def torchcam_grad_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, normalized: bool = True
) -> torch.Tensor:
    """``torchcam.methods.GradCAM``: ``(N, h, w)``, ReLU, min-max unless ``normalized=False``.

    Its min-max divides by ``max - min + 1e-8``: a map of small range does not quite reach 1.
    """
    from torchcam.methods import GradCAM

    module = get_layer(model, layer)
    with restored(model):
        targets = targets_of(model, x, target)
        with GradCAM(model, module) as extractor:
            scores = model(_gradient_path(module, x))
            (out,) = extractor(class_idx=targets, scores=scores, normalized=normalized)
    return out.detach()


def captum_grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: Layer,
    *,
    relu_attributions: bool = False,
) -> torch.Tensor:
    """``captum.attr.LayerGradCam(...).attribute``: ``(N, 1, h, w)``, no ReLU by default."""
    from captum.attr import LayerGradCam

    module = get_layer(model, layer)
    with restored(model):
        targets = targets_of(model, x, target)
        explainer = LayerGradCam(model, module)
        out = explainer.attribute(x.detach(), target=targets, relu_attributions=relu_attributions)
    return out.detach()


def torchcam_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: Layer,
    fc_layer: Layer,
    *,
    normalized: bool = True,
) -> torch.Tensor:
    """``torchcam.methods.CAM``: ``(N, h, w)``, no ReLU, min-max normalised by default."""
    from torchcam.methods import CAM

    module, fc = get_layer(model, layer), get_layer(model, fc_layer)
    with restored(model):
        targets = targets_of(model, x, target)
        with CAM(model, module, fc) as extractor, torch.no_grad():
            model(x.detach())
            (out,) = extractor(class_idx=targets, normalized=normalized)
    return out.detach()
