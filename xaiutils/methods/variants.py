"""Grad-CAM's variants, each a few lines over the shared mechanism of :mod:`.cam`. Lesson 08.

Every function is ``method(model, x, target, layer)`` like :func:`~.cam.grad_cam` and returns
raw maps ``(N, h, w)`` at the layer's resolution (``upsample`` and ``normalize`` stay separate,
named steps); the model comes back exactly as it went in. Where pytorch-grad-cam or torch-cam
compute a variant otherwise than its paper, ``convention="pytorch-grad-cam"`` or
``"torch-cam"`` reproduces the library exactly (the docstring names its source line);
``"paper"`` is the default. Each takes ``reshape=`` for a transformer's tokens (as
:func:`~.cam.layer_pass`; see :mod:`.tokens`). Ablation-CAM, the seventh variant of lesson 08,
is in :mod:`.ablation`.

Cost: the gradient variants make one forward and one backward pass, which stops at the layer;
Eigen-CAM one forward. Score-CAM and Ablation-CAM make one more pass per channel of the layer
(``K``: 1280 at the EfficientNet's ``bn2``), in batches of ``batch_size``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.methods.cam import LayerPass, combine, layer_pass, weighted_cam
from xaiutils.methods.tokens import Reshape
from xaiutils.progress import progress as bar
from xaiutils.progress import wanted
from xaiutils.validation import Layer, Target, positive_int

__all__ = ["eigen_cam", "grad_cam_pp", "hires_cam", "layer_cam", "score_cam", "xgrad_cam"]

Convention = Literal["paper", "pytorch-grad-cam", "torch-cam"]
PGC, TC = "pytorch-grad-cam", "torch-cam"
# Score-CAM's masked images go through the network as channels-last batches: oneDNN's CPU
# convolutions run them about twice as fast for the EfficientNet (benchmarks/bench_variants.py).
CHANNELS_LAST = torch.channels_last


def check_convention(convention: str, *allowed: str) -> None:
    if convention not in ("paper", *allowed):
        choices = ", ".join(repr(c) for c in ("paper", *allowed))
        raise ValueError(f"convention must be one of {choices}, not {convention!r}")


def check_scores(scores: torch.Tensor, method: str) -> None:
    """The masked or ablated inputs' logits are all finite (else every weight is NaN)."""
    if not bool(torch.isfinite(scores).all()):
        raise ValueError(
            f"{method}: the model gave a non-finite logit for some masked or ablated input, so "
            "the channel weights would be NaN. Check the model's weights"
        )


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` where ``den != 0``, else 0 (no NaN, no inf)."""
    return torch.where(den != 0, num / torch.where(den != 0, den, 1), 0)


def grad_cam_pp(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, relu: bool = True,
    convention: Convention = "paper", reshape: Reshape | None = None,
) -> torch.Tensor:  # fmt: skip
    r"""Grad-CAM++ (Chattopadhay et al., WACV 2018), eq. 19. Lesson 08.

    .. math::
        \alpha^k_{ij} = \frac{g_{ij}^2}{2 g_{ij}^2 + \sum_{ab} A^k_{ab}\, g_{ij}^3},\quad
        w^c_k = \sum_{ij} \alpha^k_{ij}\,\mathrm{ReLU}(g_{ij}),\quad
        L^c = \mathrm{ReLU}\Big(\sum_k w^c_k A^k\Big)

    with ``g = dy^c/dA^k``. The paper differentiates ``exp(y^c)``: above a piecewise linear
    layer its second and third derivatives are ``g^2`` and ``g^3`` times ``exp(y^c)``, which
    cancels in alpha; the factor left on ``w`` only scales the map (and overflows float32 for
    logits above 88), so it is dropped. Alpha divides by the channel's total activation: a
    small second instance of a class counts more than in Grad-CAM.

    ``convention``: ``"paper"`` sets alpha to 0 where its denominator is 0.
    ``"pytorch-grad-cam"`` adds ``eps = 1e-6`` to the denominator (grad_cam_plusplus.py,
    ``aij = grads_power_2 / (2 * grads_power_2 + sum_activations * grads_power_3 + eps)``):
    as large as ``2 g^2`` for gradients near 1e-3, as at the EfficientNet's ``bn2``.
    ``"torch-cam"`` has ``alpha = g^2``: gradient.py's ``alpha[idx][mask].div_(d[mask] + eps)``
    divides a copy made by the boolean index, so ``w = sum_ij ReLU(g)^3``.
    """
    check_convention(convention, PGC, TC)

    def weights(p: LayerPass) -> torch.Tensor:
        g, a = p.gradients, p.activations
        alpha = g * g
        if convention != TC:
            den = 2 * alpha + a.sum(dim=(2, 3), keepdim=True) * alpha * g
            if convention == PGC:
                alpha = torch.where(g != 0, alpha / (den + 1e-6), 0)
            else:
                alpha = _safe_div(alpha, den)
        return (alpha * g.clamp_min(0)).sum(dim=(2, 3))

    return weighted_cam(model, x, target, layer, weights, relu=relu, reshape=reshape)


def xgrad_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, relu: bool = True,
    convention: Convention = "paper", reshape: Reshape | None = None,
) -> torch.Tensor:  # fmt: skip
    r"""XGrad-CAM (Fu et al., BMVC 2020, "Axiom-based Grad-CAM"). Lesson 08.

    .. math::
        w^c_k = \sum_{ij} \frac{A^k_{ij}}{\sum_{ab} A^k_{ab}}\,
        \frac{\partial y^c}{\partial A^k_{ij}},\qquad
        L^c = \mathrm{ReLU}\Big(\sum_k w^c_k A^k\Big)

    The gradient averaged with the activations as weights, not uniformly: for a ReLU network
    the map then satisfies the sensitivity and conservation axioms. It assumes ``A >= 0`` (on
    a signed layer ``sum A`` can be near 0); an all-zero channel gets weight 0. pytorch-grad-cam
    divides each term by ``sum A + 1e-7`` (xgrad_cam.py), torch-cam the sum by
    ``sum A + 1e-8`` (gradient.py): on a ReLU layer both equal this to float32 round-off. Not
    on a signed one, like a transformer's LayerNorm output, whose 49 values of about 1 can sum
    to 3e-3: ``convention="pytorch-grad-cam"`` adds its ``1e-7``.
    """
    check_convention(convention, PGC)

    def weights(p: LayerPass) -> torch.Tensor:
        a, eps = p.activations, 1e-7 if convention == PGC else 0.0
        num, den = (p.gradients * a).sum(dim=(2, 3)), a.sum(dim=(2, 3))
        return num / (den + eps) if eps else _safe_div(num, den)

    return weighted_cam(model, x, target, layer, weights, relu=relu, reshape=reshape)


def hires_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, relu: bool = True,
    reshape: Reshape | None = None,
) -> torch.Tensor:  # fmt: skip
    r"""HiResCAM (Draelos & Carin, 2020). Lesson 08.

    .. math::  L^c = \mathrm{ReLU}\Big(\sum_k \frac{\partial y^c}{\partial A^k} \odot A^k\Big)

    Grad-CAM without the spatial average: each cell keeps its own gradient, so the map shows
    only where the model looked. On a GAP + linear head, at the pooled layer, it is CAM
    divided by ``h * w``, and (without the ReLU) its cells sum to the logit minus the bias.
    The same in pytorch-grad-cam (hirescam.py).
    """
    p = layer_pass(model, x, target, layer, reshape=reshape)
    maps = (p.gradients * p.activations).sum(dim=1)
    return maps.clamp_min(0) if relu else maps


def layer_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, relu: bool = True,
    reshape: Reshape | None = None,
) -> torch.Tensor:  # fmt: skip
    r"""Layer-CAM (Jiang et al., IEEE TIP 2021). Lesson 08.

    .. math::  L^c = \mathrm{ReLU}\Big(\sum_k \mathrm{ReLU}\Big(
        \frac{\partial y^c}{\partial A^k}\Big) \odot A^k\Big)

    A weight per cell, from the positive gradients only: sharp maps at shallow layers, where
    Grad-CAM's average cancels most of the gradient. (The paper's ``tanh(2 L)`` scaling serves
    to fuse layers; torch-cam applies it in ``fuse_cams`` only.) The same in pytorch-grad-cam
    (layer_cam.py) and torch-cam (gradient.py).
    """
    p = layer_pass(model, x, target, layer, reshape=reshape)
    maps = (p.gradients.clamp_min(0) * p.activations).sum(dim=1)
    return maps.clamp_min(0) if relu else maps


def eigen_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, relu: bool = False,
    convention: Convention = "paper", reshape: Reshape | None = None,
) -> torch.Tensor:  # fmt: skip
    r"""Eigen-CAM (Muhammad & Yeasin, IJCNN 2020). Lesson 08.

    The activations as a matrix ``O`` (``h*w`` rows, ``K`` columns), ``O = U S V^T``,
    projected on the first right singular vector: :math:`L = O\, V_1`, reshaped to ``h x w``.
    No gradient and no class (``target`` is ignored). A singular vector's sign is arbitrary:
    ``"paper"`` takes the one that makes the map's sum positive (for ``A >= 0`` the map is
    then ``>= 0``). No ReLU in the paper.

    ``convention="pytorch-grad-cam"`` centres each channel over the cells first
    (svd_on_activations.py: ``reshaped_activations - reshaped_activations.mean(axis=0)``), so
    about half the map is negative, and keeps the sign that NumPy's LAPACK returns (the same
    ``np.linalg.svd(..., full_matrices=True)`` call here): its base class's ReLU
    (``relu=True``) may then keep the background rather than the object.
    """
    check_convention(convention, PGC)
    a = layer_pass(model, x, target, layer, gradients=False, reshape=reshape).activations
    # The SVD in float32 at least (LAPACK has no half precision); the map in A's dtype.
    o = a.flatten(2).transpose(1, 2).to(torch.promote_types(a.dtype, torch.float32))  # (N, hw, K)
    if convention == PGC:
        o = o - o.mean(dim=1, keepdim=True)
        svd = [np.linalg.svd(m.numpy(), full_matrices=True)[2][0] for m in o]
        v1 = torch.from_numpy(np.stack(svd)).to(o.dtype)
    else:
        v1 = torch.linalg.svd(o, full_matrices=False).Vh[:, 0]  # (N, K)
    maps = (o @ v1[:, :, None])[..., 0]
    if convention == "paper":
        maps = maps * torch.where(maps.sum(dim=1, keepdim=True) < 0, -1.0, 1.0)
    maps = maps.reshape(a.shape[0], *a.shape[2:]).to(a.dtype)
    return maps.clamp_min(0) if relu else maps


def _score_masks(a: torch.Tensor, size: tuple[int, int], convention: str) -> torch.Tensor:
    """Score-CAM's masks ``(B, 1, H, W)`` in [0, 1] from activation maps ``(B, 1, h, w)``."""

    def minmax(m: torch.Tensor, eps: float) -> torch.Tensor:
        low = m.amin(dim=(2, 3), keepdim=True)
        span = m.amax(dim=(2, 3), keepdim=True) - low
        return (m - low) / (span + eps) if eps else _safe_div(m - low, span)

    if convention == TC:  # activation.py: _normalize at the layer's size, then upsample
        return F.interpolate(minmax(a, 1e-8), size, mode="bilinear", align_corners=False)
    corners = convention == PGC  # score_cam.py: nn.UpsamplingBilinear2d, align_corners=True
    up = F.interpolate(a, size, mode="bilinear", align_corners=corners)
    return minmax(up, 1e-8 if corners else 0.0)


def score_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, relu: bool = True,
    batch_size: int = 32, convention: Convention = "paper", reshape: Reshape | None = None,
    progress: bool | None = None,
) -> torch.Tensor:  # fmt: skip
    r"""Score-CAM (Wang et al., CVPR workshops 2020), Algorithm 1. Lesson 08.

    .. math::
        H^k = s(\mathrm{Up}(A^k)),\quad
        w^c = \mathrm{softmax}_k\big(y^c(X \odot H^k) - y^c(X_b)\big),\quad
        L^c = \mathrm{ReLU}\Big(\sum_k w^c_k A^k\Big)

    ``Up``: bilinear to the input's size; ``s``: min-max to [0, 1]; ``y^c`` the logit. Each
    channel, as a mask on the input, is weighted by the score of what it keeps: no gradient.
    The baseline ``X_b`` scores the same for every ``k`` and cancels in the softmax.

    Cost: one forward, then one per channel (``K`` per sample), ``batch_size`` masked images at
    a time across the whole batch. A constant channel (all zero after a ReLU, often half of
    them) gives an all-zero mask in every convention: those share one forward of a zero image.

    ``convention``: ``"paper"`` upsamples (``align_corners=False``), then normalises.
    ``"pytorch-grad-cam"`` upsamples with ``nn.UpsamplingBilinear2d`` (``align_corners=True``),
    then divides by ``max - min + 1e-8`` (score_cam.py). ``"torch-cam"`` normalises at the
    layer's size (``+ 1e-8``), then upsamples (activation.py, ``_get_weights`` and
    ``_masked_input_chunk``), so a mask's maximum falls below 1.

    ``progress``: a bar over the batches (``None``: when a person watches; see
    :mod:`xaiutils.progress`).
    """
    check_convention(convention, PGC, TC)
    batch_size = positive_int(batch_size, "batch_size")
    show = wanted(progress)
    p = layer_pass(model, x, target, layer, gradients=False, reshape=reshape)
    n, k = p.activations.shape[:2]
    flat = p.activations.flatten(0, 1)[:, None]  # (N*K, 1, h, w)
    sample = torch.arange(n).repeat_interleave(k)
    constant = flat.amax(dim=(1, 2, 3)) == flat.amin(dim=(1, 2, 3))
    varying = (~constant).nonzero()[:, 0]
    # Scores in float32 at least, whatever the model computes in (half, bfloat16, autocast).
    scores = torch.full((n * k,), torch.nan, dtype=torch.promote_types(x.dtype, torch.float32))
    with preserved_state(model), torch.inference_mode():
        batches = range(0, len(varying), batch_size)
        for start in bar(batches, total=len(batches), desc="Score-CAM", enabled=show):
            rows = varying[start : start + batch_size]
            masks = _score_masks(flat[rows], tuple(x.shape[-2:]), convention)
            logits = model((masks * x[sample[rows]]).contiguous(memory_format=CHANNELS_LAST))
            scores[rows] = logits.gather(1, p.targets[sample[rows], None])[:, 0].to(scores)
        if constant.any():
            zero = model(torch.zeros_like(x[:1]))[0]
            scores[constant] = zero[p.targets[sample[constant]]].to(scores)
    check_scores(scores, "Score-CAM")
    weights = scores.view(n, k).softmax(dim=1)
    return combine(weights.to(p.activations.dtype), p.activations, relu)
