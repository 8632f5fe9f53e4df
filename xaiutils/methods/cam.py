"""CAM and Grad-CAM from scratch, over one shared mechanism that the variants reuse.

CAM is introduced in lesson 05, Grad-CAM in lesson 06; lesson 07 checks both against torchray,
pytorch-grad-cam, torch-cam and captum.

Every method takes ``(model, x, target, layer)``:

* ``x``: a batch ``(N, C, H, W)``;
* ``target``: ``None`` (each sample's top-1 class), one class index for the whole batch, or one
  per sample (a sequence or a 1-D tensor);
* ``layer``: a dotted module name (``"bn2"``, ``"layer4"``, ``"features.29"``) or the module;
* ``reshape`` (Grad-CAM and its variants): ``None``, or for a layer whose output is not a map
  ``(N, K, h, w)``, like a transformer's tokens, a function that makes it one (:mod:`.tokens`).

and returns raw maps ``(N, h, w)`` at the layer's resolution. Post-processing is separate and
named: :func:`upsample` to the input size, :func:`xaiutils.viz.normalize` to [0, 1].
Scores are the target's **logit** (never the softmax). The model comes back exactly as it went
in: hooks, ``training`` flags and ``requires_grad`` (see :func:`xaiutils.hooks.preserved_state`).

A Grad-CAM variant is one function from a :class:`LayerPass` (activations ``A`` and gradients
``G`` of the target logit) to channel weights ``(N, K)``; :func:`weighted_cam` does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from xaiutils.hooks import Capture, preserved_state
from xaiutils.methods.tokens import Reshape, check_reshape, feature_map
from xaiutils.models import layer_names
from xaiutils.validation import (
    Layer,
    Target,
    check_batch,
    check_layer,
    check_logits,
    check_model,
    check_target,
    positive_int,
    resolve_targets,
)

__all__ = [
    "LayerPass",
    "cam",
    "cam_head",
    "combine",
    "grad_cam",
    "layer_pass",
    "upsample",
    "weighted_cam",
]


@dataclass(frozen=True)
class LayerPass:
    """What one forward pass (and the backward from the target logits) saw at a layer.

    ``activations`` ``A`` and ``gradients`` ``G = d y^c / d A`` are ``(N, K, h, w)`` (after
    ``reshape``, if :func:`layer_pass` was given one);
    ``logits`` ``(N, classes)``; ``targets`` ``(N,)``. All detached.
    """

    activations: torch.Tensor
    gradients: torch.Tensor | None
    logits: torch.Tensor
    targets: torch.Tensor


def layer_pass(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, gradients: bool = True,
    reshape: Reshape | None = None,
) -> LayerPass:  # fmt: skip
    """Forward ``x``, keep the layer's output, and back-propagate the target logits to it.

    The backward stops at the layer: no gradient is computed for the weights or the input
    (the parameters are frozen for the call, and the layer's output is made a leaf). Nothing
    below the layer is recorded either: the forward starts under ``torch.no_grad()`` and the
    hook switches recording on at the layer (``Capture(..., record_from_here=True)``). So at a
    deep layer the whole costs little more than a plain forward. Samples are independent in
    eval mode, so one backward of the *sum* of the target logits gives every sample's gradient.

    ``reshape``: a function from the layer's raw output to a map ``(N, K, h, w)`` (a ViT's
    tokens: :func:`~.tokens.vit_reshape`), applied to the activation and to the gradient taken
    with respect to the raw output, as pytorch-grad-cam's ``reshape_transform``.
    """
    check_model(model)
    check_batch(x, model=model)
    module = check_layer(model, layer)
    check_target(target, len(x))
    check_reshape(reshape)
    with (
        torch.inference_mode(False),  # called under inference_mode: autograd is still needed
        preserved_state(model),
        Capture(model, module, gradient=gradients, record_from_here=gradients) as cap,
        torch.no_grad(),
    ):
        logits = check_logits(model(x.clone() if x.is_inference() else x), len(x))
        targets = resolve_targets(logits, target)
        if not cap.activations:
            raise ValueError(
                f"layer {layer!r} did not run in the forward pass: choose a layer on the path "
                "from the input to the logits (see xu.layer_names(model))"
            )
        activation = cap.activation
        maps = feature_map(activation.detach(), reshape, layer)
        grads = None
        if gradients:
            score = logits.gather(1, targets[:, None]).sum()
            if score.requires_grad:
                (grads,) = torch.autograd.grad(score, activation, allow_unused=True)
            if grads is None:
                raise ValueError(
                    f"the logits do not depend on layer {layer!r}'s output (no gradient reaches "
                    "it): choose a layer on the path from the input to the logits"
                )
            grads = feature_map(grads, reshape, layer)
    return LayerPass(maps, grads, logits.detach(), targets)


def combine(weights: torch.Tensor, activations: torch.Tensor, relu: bool) -> torch.Tensor:
    """``sum_k weights[n, k] * A[n, k]``, then ReLU if asked: maps ``(N, h, w)``."""
    maps = (weights[:, :, None, None] * activations).sum(dim=1)
    return maps.clamp_min(0) if relu else maps


ChannelWeights = Callable[[LayerPass], torch.Tensor]


def weighted_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: Layer,
    channel_weights: ChannelWeights,
    *,
    relu: bool = True,
    reshape: Reshape | None = None,
) -> torch.Tensor:
    """The shared mechanism: ``ReLU(sum_k w_k^c A^k)`` with weights from ``channel_weights``."""
    p = layer_pass(model, x, target, layer, reshape=reshape)
    return combine(channel_weights(p), p.activations, relu)


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: Layer,
    *,
    relu: bool = True,
    counterfactual: bool = False,
    reshape: Reshape | None = None,
) -> torch.Tensor:
    r"""Grad-CAM (Selvaraju et al., ICCV 2017). Lesson 06.

    .. math::
        \alpha_k^c = \frac{1}{Z} \sum_{i,j} \frac{\partial y^c}{\partial A^k_{ij}}, \qquad
        L^c = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big)

    ``y^c`` is the logit of class ``c``; ``A^k`` channel ``k`` of ``layer``'s output.
    ``counterfactual=True`` negates the gradients: the regions that argue *against* ``c``.
    ``relu=False`` keeps the negative part (captum's ``relu_attributions=False``).
    ``reshape``: for a transformer's tokens (:func:`layer_pass`). Returns ``(N, h, w)`` at the
    layer's resolution, not normalised.
    """
    sign = -1.0 if counterfactual else 1.0

    def weights(p: LayerPass) -> torch.Tensor:
        return sign * p.gradients.mean(dim=(2, 3))

    return weighted_cam(model, x, target, layer, weights, relu=relu, reshape=reshape)


def cam_head(
    model: nn.Module, x: torch.Tensor, layer: Layer | None = None
) -> tuple[str, nn.Linear]:
    """Find (and verify) the feature layer and the linear classifier that CAM needs.

    The classifier is the model's last ``nn.Linear``. The feature layer is ``layer`` if given,
    else the last module whose 4-D output (larger than 1 x 1), averaged over space, *is* the
    classifier's input (checked numerically on ``x``). A network whose head is anything else
    gets an error that says why and points to Grad-CAM; an input so small that the feature map
    is 1 x 1 gets an error that says so; a given ``layer`` that is not the one gets the name of
    the one that is.
    """
    check_model(model)
    check_batch(x, model=model)
    module = check_layer(model, layer) if layer is not None else None
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier: CAM needs one")
    fc_name, fc = linears[-1]
    names = {m: n for n, m in model.named_modules()}
    pooled: list[tuple[str, torch.Tensor, bool]] = []  # (name, spatial mean, larger than 1 x 1)
    fc_input: list[torch.Tensor] = []

    def record(module: nn.Module, inputs: tuple, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.ndim == 4:
            if output.shape[1] == fc.in_features:
                pooled.append((names[module], output.mean(dim=(2, 3)), output[0, 0].numel() > 1))

    with torch.inference_mode(False), preserved_state(model), ExitStack() as stack:
        stack.enter_context(torch.no_grad())
        for m in [module] if module is not None else list(model.modules()):
            stack.callback(m.register_forward_hook(record).remove)
        stack.callback(fc.register_forward_pre_hook(lambda m, i: fc_input.append(i[0])).remove)
        check_logits(model(x[:1].clone()), 1)
    matches = [
        (name, spatial)
        for name, mean, spatial in reversed(pooled)
        if fc_input and torch.allclose(mean, fc_input[-1].flatten(1), rtol=1e-4, atol=1e-5)
    ]
    for name, spatial in matches:
        if spatial:  # a pooled (N, K, 1, 1) output is the pooling itself, not a feature map
            return name, fc
    if matches and layer is not None:
        try:
            right = f": the feature map before the pooling is {cam_head(model, x)[0]!r}"
        except ValueError:
            right = ""
        if right:
            raise ValueError(
                f"layer {layer!r} gives a 1 x 1 output (the pooling itself?), so CAM would be a "
                f"single cell. Give the layer whose output the pooling averages{right}"
            )
    if matches:
        raise ValueError(
            f"x is {x.shape[-2]} x {x.shape[-1]} pixels: at that size the feature map that feeds "
            f"the classifier is 1 x 1, so CAM would be a single cell. Give a larger input (the "
            f"course's models expect 224 x 224)"
        )
    if layer is not None:
        try:
            right = f" The layer that does is {cam_head(model, x)[0]!r}, found when layer=None."
        except ValueError:
            right = " No layer of this model does: use grad_cam."
        raise ValueError(
            f"layer {layer!r} does not feed the classifier {fc_name!r} through global average "
            f"pooling (its output, averaged over space, is not the classifier's input), so CAM "
            f"does not apply to it.{right}"
        )
    raise ValueError(
        f"CAM needs a network that ends in global average pooling and one linear layer "
        f"(logit_c = sum_k w_ck * mean(A_k) + b_c), and no layer of {type(model).__name__} "
        f"feeds its classifier {fc_name!r} that way: its head is more than a GAP and one "
        f"linear layer (VGG16, for one, ends in three fully connected layers). Use grad_cam, "
        f"which works on any convolutional layer of any classifier. "
        f"Last layers: {', '.join(layer_names(model)[-4:])}"
    )


def cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: Layer | None = None,
    *,
    relu: bool = False,
) -> torch.Tensor:
    r"""Class activation map (Zhou et al., CVPR 2016). Lesson 05.

    For a network ending in global average pooling and a linear layer,
    ``y^c = sum_k w_k^c * mean_{ij} f_k(i, j) + b_c``, and the class activation map is

    .. math::  M_c(i, j) = \sum_k w_k^c f_k(i, j)

    so ``mean_{ij} M_c = y^c - b_c``. ``layer`` defaults to the feature map that feeds the
    pooling (found and verified by :func:`cam_head`). No ReLU by default, as in the paper.
    Returns ``(N, h, w)`` at the feature map's resolution.
    """
    layer_name, fc = cam_head(model, x, layer)  # checks model, x and layer first
    p = layer_pass(model, x, target, layer_name, gradients=False)
    return combine(fc.weight.detach()[p.targets], p.activations, relu)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize maps ``(N, h, w)`` to ``size = (H, W)``: bilinear, ``align_corners=False``."""
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"maps must be a tensor (N, h, w), got {type(maps).__name__}")
    if maps.ndim != 3:
        raise ValueError(f"maps must be (N, h, w), got shape {tuple(maps.shape)}")
    h, w = (positive_int(v, "size") for v in size)
    return F.interpolate(maps[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
