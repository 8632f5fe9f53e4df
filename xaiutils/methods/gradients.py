"""Gradient saliency: vanilla gradient, guided backprop, deconvnet, SmoothGrad, guided Grad-CAM.

Introduced in lesson 03 (``03_gradients_and_guided_backprop``); lesson 02 reuses
:func:`modified_rectifiers` for its deconvnet projection.

Every method takes ``(model, x, target)`` like the CAM family (:mod:`xaiutils.methods.cam`):
a batch ``x`` ``(N, C, H, W)``, ``target`` ``None`` (each sample's top-1), one class, or one per
sample. It returns the gradient of the target's **logit** (never the softmax) with respect to
the input, ``(N, C, H, W)``, raw: :func:`gradient_colour` and :func:`gradient_grayscale` are the
two named ways to display it. The model comes back exactly as it went in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Literal

import torch
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.methods.cam import grad_cam, upsample
from xaiutils.progress import progress as bar
from xaiutils.progress import wanted
from xaiutils.validation import (
    Layer,
    Target,
    check_batch,
    check_layer,
    check_logits,
    check_model,
    check_target,
    in_range,
    positive_int,
    resolve_targets,
    targets_or_top1,
)
from xaiutils.viz import normalize

__all__ = [
    "RECTIFIERS",
    "deconvnet",
    "gradient_colour",
    "gradient_grayscale",
    "guided_backprop",
    "guided_grad_cam",
    "input_gradient",
    "modified_rectifiers",
    "smoothgrad",
    "vanilla_gradient",
]

Rule = Literal["guided", "deconvnet"]
RECTIFIERS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)


class _Rectifier(torch.autograd.Function):
    """``clamp(x, 0, upper)`` forward (out of place); the backward rule of guided/deconvnet."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, upper: float | None, rule: str) -> torch.Tensor:
        ctx.rule = rule
        if rule == "guided":
            mask = x > 0 if upper is None else (x > 0) & (x < upper)
            ctx.save_for_backward(mask)
        return x.clamp(min=0) if upper is None else x.clamp(min=0, max=upper)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        grad = grad_out.clamp_min(0)
        if ctx.rule == "guided":
            (mask,) = ctx.saved_tensors
            grad = grad * mask
        return grad, None, None


def _rectify(x: torch.Tensor, *, upper: float | None, rule: Rule) -> torch.Tensor:
    return _Rectifier.apply(x, upper, rule)


@contextmanager
def modified_rectifiers(model: nn.Module, rule: Rule) -> Iterator[nn.Module]:
    r"""Inside the block, every ``nn.ReLU`` and ``nn.ReLU6`` of ``model`` back-propagates with
    ``rule``; restored on exit (also on error). Lessons 02 and 03.

    With ``x`` the rectifier's forward input and ``g`` the gradient arriving from above:

    * ``"guided"`` (guided backprop, Springenberg et al. 2015):
      :math:`g_{in} = \max(g, 0) \cdot [x > 0]` for ReLU, and
      :math:`g_{in} = \max(g, 0) \cdot [0 < x < 6]` for ReLU6 (the same rule in its 0..6 range,
      zero above 6, where ReLU6 is flat);
    * ``"deconvnet"`` (Zeiler & Fergus 2014): :math:`g_{in} = \max(g, 0)`, the forward mask
      ignored.

    How: each rectifier module's ``forward`` is shadowed, for the block only, by one that calls a
    custom ``autograd.Function``. Its forward computes the same values *out of place*
    (``clamp``), so ``inplace=True`` modules (torchvision's ResNet/VGG, the EfficientNet's ReLU6
    inside timm's ``BatchNormAct2d``) work; no hook is registered. On exit the shadowing
    attribute is removed: the same module objects, ``inplace`` flags and outputs as before.

    Not covered: rectifiers called as functions inside some ``forward`` (``F.relu``,
    ``torch.relu``, ``x.clamp``, ``F.hardtanh``), ``nn.Hardtanh``, ``nn.SiLU`` and any other
    activation. They keep their ordinary gradient, silently. A model with no ``nn.ReLU`` or
    ``nn.ReLU6`` module at all raises ``ValueError`` rather than give back a plain gradient.
    """
    if rule not in ("guided", "deconvnet"):
        raise ValueError(f"rule must be 'guided' or 'deconvnet', got {rule!r}")
    modules = [m for m in model.modules() if isinstance(m, RECTIFIERS)]  # each module once
    if not modules:
        raise ValueError(
            f"{type(model).__name__} has no nn.ReLU or nn.ReLU6 module: the {rule} rule would "
            "change nothing and you would get the plain gradient. Rectifiers called as "
            "functions (F.relu, torch.relu, x.clamp) are not covered; use nn.ReLU modules."
        )
    patched: list[tuple[nn.Module, object]] = []
    try:
        for m in modules:
            patched.append((m, m.__dict__.get("forward")))  # None, unless someone shadowed it
            upper = 6.0 if isinstance(m, nn.ReLU6) else None
            m.forward = partial(_rectify, upper=upper, rule=rule)
        yield model
    finally:
        for m, previous in reversed(patched):
            if previous is None:
                m.__dict__.pop("forward", None)
            else:
                m.forward = previous


def input_gradient(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """``d y^c / d x`` for each sample's target logit ``y^c``, under whatever rules are active.

    The shared step of every method here (lesson 03): the input is detached, cloned and made to
    require a gradient; the parameters are frozen for the call, so no ``.grad`` is left on them.
    Samples are independent in eval mode, so one backward of the *sum* of the target logits
    gives every sample's gradient. Returns ``(N, C, H, W)``.
    """
    check_model(model)
    check_batch(x, model=model)
    check_target(target, len(x))
    with torch.inference_mode(False), preserved_state(model), torch.enable_grad():
        x = x.detach().clone().requires_grad_()
        logits = check_logits(model(x), len(x))
        targets = resolve_targets(logits, target)
        score = logits.gather(1, targets[:, None]).sum()
        if not score.requires_grad:
            raise ValueError("the model's logits do not depend on x: there is no gradient")
        (grad,) = torch.autograd.grad(score, x)
    return grad


def vanilla_gradient(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    r"""Vanilla gradient saliency (Simonyan, Vedaldi & Zisserman, ICLR 2014). Lesson 03.

    .. math::  M^c = \frac{\partial y^c}{\partial x}

    with ``y^c`` the **logit** of class ``c`` (not the softmax probability, whose gradient
    :math:`p_c (\partial y_c/\partial x - \sum_j p_j \partial y_j/\partial x)` mixes in every
    other class). Returns the raw, signed gradient ``(N, C, H, W)``; display it with
    :func:`gradient_colour` or :func:`gradient_grayscale`.
    """
    return input_gradient(model, x, target)


def _clip_percentile(values: torch.Tensor, percentile: float | None, *, low: bool) -> torch.Tensor:
    """Clip each sample of ``values`` at its ``percentile`` (and at ``100 - percentile`` too if
    ``low``): a handful of extreme pixels then no longer squeeze the rest into one grey."""
    if percentile is None:
        return values
    if not 50 < percentile <= 100:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    flat = values.flatten(1)
    q = percentile / 100
    hi = flat.quantile(q, dim=1).view(-1, *[1] * (values.ndim - 1))
    lo = flat.quantile(1 - q, dim=1).view_as(hi) if low else None
    return values.clamp(min=lo, max=hi)


def gradient_colour(grad: torch.Tensor, *, percentile: float | None = None) -> torch.Tensor:
    r"""The colour display of a gradient (lesson 03): per-sample min-max of the raw gradient.

    .. math::  \frac{g - \min g}{\max g - \min g}

    min and max over all channels and pixels of one sample, so the three channels keep their
    relative scale (a zero gradient is the same grey in each). ``percentile`` (say 99) first
    clips each sample to its ``[100 - percentile, percentile]`` percentiles. Takes
    ``(N, 3, H, W)``, returns ``(N, H, W, 3)`` in [0, 1], ready for ``imshow``.
    """
    if grad.ndim != 4:
        raise ValueError(f"expected a gradient batch (N, C, H, W), got {tuple(grad.shape)}")
    n, c, h, w = grad.shape
    g = _clip_percentile(grad.detach(), percentile, low=True)
    # normalize() works over the last two axes: view each sample as one (C*H, W) map.
    return normalize(g.reshape(n, c * h, w)).reshape(n, c, h, w).permute(0, 2, 3, 1)


def gradient_grayscale(grad: torch.Tensor, *, percentile: float | None = None) -> torch.Tensor:
    r"""The grayscale display of a gradient (lesson 03): the sum of absolute values over
    channels, then min-max per sample.

    .. math::  M(i, j) = \mathrm{normalize}\Big(\sum_{k} |g_k(i, j)|\Big)

    ``percentile`` (say 99, as Smilkov et al. 2017 do) first clips the sum at that percentile of
    each sample. Takes ``(N, C, H, W)``, returns ``(N, H, W)`` in [0, 1].
    """
    if grad.ndim != 4:
        raise ValueError(f"expected a gradient batch (N, C, H, W), got {tuple(grad.shape)}")
    return normalize(_clip_percentile(grad.detach().abs().sum(dim=1), percentile, low=False))


def guided_backprop(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    r"""Guided backpropagation (Springenberg et al., ICLR workshop 2015). Lesson 03.

    The input gradient of the target logit with every rectifier's backward replaced by
    :math:`g_{in} = \max(g_{out}, 0) \cdot [x > 0]` (ReLU6: :math:`[0 < x < 6]`): only positive
    signals, only where the unit was active. See :func:`modified_rectifiers` for what is and is
    not covered. Returns ``(N, C, H, W)``.
    """
    with modified_rectifiers(model, "guided"):
        return input_gradient(model, x, target)


def deconvnet(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    r"""Deconvnet (Zeiler & Fergus, ECCV 2014) as a gradient rule. Lessons 02 and 03.

    The input gradient of the target logit with every rectifier's backward replaced by
    :math:`g_{in} = \max(g_{out}, 0)`: the forward mask ignored, as in the deconvnet's
    "unpool, rectify, transposed convolution" pass. With no mask, the input enters the backward
    only through max-pooling switches: on a network without max-pooling (the EfficientNet), the
    map depends on the class alone, the same for every photo. Returns ``(N, C, H, W)``.
    """
    with modified_rectifiers(model, "deconvnet"):
        return input_gradient(model, x, target)


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    *,
    samples: int = 25,
    sigma: float = 0.15,
    batch_size: int = 8,
    seed: int = 0,
    progress: bool | None = None,
    nt_type: Literal["smoothgrad", "smoothgrad_sq", "vargrad"] = "smoothgrad",
) -> torch.Tensor:
    r"""SmoothGrad (Smilkov et al. 2017): the mean gradient over noisy copies. Lesson 03;
    its squared and variance forms, SmoothGrad² and VarGrad (Adebayo et al. 2018), Lesson 04.

    .. math::
        \hat M^c(x) = \frac{1}{n} \sum_{s=1}^{n} g_s, \qquad
        g_s = \frac{\partial y^c}{\partial x}\Big|_{x + \epsilon_s}, \qquad
        \epsilon_s \sim \mathcal{N}\big(0, (\sigma (x_{max} - x_{min}))^2\big)

    ``nt_type`` (captum's ``NoiseTunnel`` names): ``"smoothgrad"`` the mean of the
    :math:`g_s` (above); ``"smoothgrad_sq"`` (SmoothGrad²) the mean of :math:`g_s^2`;
    ``"vargrad"`` (VarGrad) their variance :math:`\frac{1}{n}\sum_s g_s^2 -
    \big(\frac{1}{n}\sum_s g_s\big)^2`, computed as :math:`\frac{1}{n}\sum_s (g_s -
    \bar g)^2` (the same value, without the cancellation). Both are non-negative.

    ``sigma`` is the noise level as a fraction of each sample's value range (the paper finds
    10-20% works). The ``N * samples`` noisy copies go through ``batch_size`` at a time. The
    ``samples`` noise draws come from a private generator seeded with ``seed`` (the global random
    state is left untouched), the same draws for every sample, scaled to its range: so
    ``batch_size`` changes the speed, not the result, and a sample's map is the same alone or in
    a batch.
    ``target=None`` means each clean sample's top-1. ``progress``: a bar over the batches
    (``None``: when a person is watching, :mod:`xaiutils.progress`). Returns ``(N, C, H, W)``.
    """
    check_model(model)
    check_batch(x, model=model)
    if nt_type not in ("smoothgrad", "smoothgrad_sq", "vargrad"):
        raise ValueError(
            f"nt_type must be 'smoothgrad', 'smoothgrad_sq' or 'vargrad', got {nt_type!r}"
        )
    samples, batch_size = positive_int(samples, "samples"), positive_int(batch_size, "batch_size")
    sigma, seed = in_range(sigma, "sigma", 0), positive_int(seed, "seed", minimum=0)
    check_target(target, len(x))
    show = wanted(progress)
    x, n = x.detach(), x.shape[0]
    with preserved_state(model):  # None: each clean sample's top-1, one more forward pass
        targets = targets_or_top1(model, x, target)  # checked against the logits later
    # The same noise draws for every sample, from a private generator seeded with `seed`: a
    # sample's map does not depend on the rest of the batch. Drawn in float32, cast to x's dtype.
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((samples, *x.shape[1:]), generator=generator)
    noise = noise.to(device=x.device, dtype=x.dtype).expand(n, *noise.shape)
    scale = sigma * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    noisy = (x[:, None] + scale.view(n, 1, 1, 1, 1) * noise).flatten(0, 1)
    t = targets.repeat_interleave(samples)
    batches = range(0, n * samples, batch_size)
    grads = [
        input_gradient(model, noisy[i : i + batch_size], t[i : i + batch_size])
        for i in bar(batches, total=len(batches), desc="SmoothGrad", enabled=show)
    ]
    g = torch.cat(grads).view(n, samples, *x.shape[1:])
    if nt_type == "smoothgrad_sq":
        return (g * g).mean(dim=1)
    if nt_type == "vargrad":
        return g.var(dim=1, correction=0)
    return g.mean(dim=1)


def guided_grad_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer
) -> torch.Tensor:
    r"""Guided Grad-CAM (Selvaraju et al., ICCV 2017). Lesson 03 (Grad-CAM itself: lesson 06).

    .. math::  G^c = \mathrm{GuidedBackprop}^c(x) \odot \mathrm{upsample}(L^c_{\text{Grad-CAM}})

    Grad-CAM at ``layer`` (:func:`~xaiutils.methods.cam.grad_cam`, with its ReLU) is resized to
    the input with :func:`~xaiutils.methods.cam.upsample` (bilinear; captum's ``GuidedGradCam``
    defaults to nearest) and multiplies every channel of the guided gradient. Returns
    ``(N, C, H, W)``.
    """
    check_model(model)
    check_batch(x, model=model)
    check_layer(model, layer)
    check_target(target, len(x))
    with preserved_state(model):  # the same classes for both factors
        target = targets_or_top1(model, x, target)
    cam = upsample(grad_cam(model, x, target, layer), tuple(x.shape[-2:]))
    return guided_backprop(model, x, target) * cam[:, None]
