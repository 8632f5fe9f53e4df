"""Attributions that add up: gradient x input, Integrated Gradients, GradientSHAP. Lesson 04.

Each takes ``(model, x, target)`` like every method and returns one signed map per sample,
``(N, C, H, W)`` in ``x``'s dtype, in units of the target's **logit**: Integrated Gradients'
maps add up to ``y(x) - y(baseline)`` (completeness; ``return_delta=True`` measures the gap).
The path methods send their points through the model ``batch_size`` at a time and add each
sample's terms in one fixed order, so ``batch_size`` changes the speed, not the maps. Random
draws come from private generators seeded with ``seed``, the same for every sample (a map is
the same alone or in a batch; the global random state is left alone). The model comes back
exactly as it went in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.methods.gradients import input_gradient
from xaiutils.models import Preprocessing, preprocessing
from xaiutils.progress import progress as bar
from xaiutils.progress import wanted
from xaiutils.validation import (
    Target,
    check_batch,
    check_logits,
    check_model,
    check_target,
    in_range,
    positive_int,
    targets_or_top1,
)

__all__ = [
    "BASELINES",
    "RULES",
    "gradient_shap",
    "gradient_x_input",
    "integrated_gradients",
    "quadrature",
]

IGRule = Literal[
    "gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"
]
RULES: tuple[str, ...] = IGRule.__args__  # type: ignore[attr-defined]
BASELINES: tuple[str, ...] = ("zero", "black", "blur", "noise")


def gradient_x_input(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    r"""Gradient x input (Shrikumar et al. 2016; captum's ``InputXGradient``). Lesson 04.

    .. math::  A^c_i = x_i \, \frac{\partial y^c}{\partial x_i}

    ``y^c`` the target's logit; for a linear model without bias the map adds up to ``y^c``.
    Returns ``(N, C, H, W)``.
    """
    grad = input_gradient(model, x, target)  # checks model, x and target first
    return x.detach() * grad


def quadrature(rule: IGRule, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions ``alpha_k`` in [0, 1] and weights ``w_k`` (float64) of ``rule`` with ``steps``
    points: captum's, its Riemann positions to the bit (``torch.linspace`` in float32), the
    trapezoid's weights fixed to add up to 1 (see :func:`integrated_gradients`). Lesson 04."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(map(repr, RULES))}, got {rule!r}")
    steps = positive_int(steps, "steps")
    if rule != "gausslegendre" and steps < 2:
        raise ValueError(f"steps must be >= 2 for rule={rule!r} (as in captum), got {steps}")
    if rule == "gausslegendre":  # Gauss-Legendre nodes and weights, from [-1, 1] to [0, 1]
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return torch.from_numpy(0.5 * (1 + nodes)), torch.from_numpy(0.5 * weights)
    n = steps
    start, end = {
        "riemann_left": (0.0, 1 - 1 / n),
        "riemann_right": (1 / n, 1.0),
        "riemann_middle": (1 / (2 * n), 1 - 1 / (2 * n)),
        "riemann_trapezoid": (0.0, 1.0),
    }[rule]  # type: ignore[index]
    weights = torch.full((n,), 1 / n, dtype=torch.float64)
    if rule == "riemann_trapezoid":  # captum's weights are 1/K: they add up to (K-1)/K only
        weights = torch.full((n,), 1 / (n - 1), dtype=torch.float64)
        weights[[0, -1]] /= 2
    return torch.linspace(start, end, n).double(), weights


def _check_baseline(
    baseline: object, x: torch.Tensor, name: str, pre: object, kinds: tuple[str, ...]
) -> Preprocessing:
    """``baseline`` is one of ``kinds`` or a floating, finite tensor ``(B, C, H, W)``: ``B`` 1 or
    ``N`` (IG's), any (GradientSHAP's distribution, ``kinds == ("noise",)``). Returns ``pre``."""
    if pre is not None and not isinstance(pre, Preprocessing):
        raise TypeError(f"pre must be a Preprocessing (xu.preprocessing(...)), got {pre!r}")
    pre = preprocessing() if pre is None else pre
    options = f"one of {', '.join(map(repr, kinds))}" if len(kinds) > 1 else repr(kinds[0])
    options, sample = f"{options} or a tensor", tuple(x.shape[1:])
    if isinstance(baseline, torch.Tensor):
        b = baseline.shape
        if len(b) != 4 or b[1:] != sample or (len(kinds) > 1 and b[0] not in (1, len(x))):
            first = "B" if len(kinds) == 1 else f"1 or {len(x)}"
            raise ValueError(
                f"{name} has shape {tuple(b)}; it must be ({first}, {', '.join(map(str, sample))})"
            )
        check_batch(baseline, name)  # floating, finite
    elif not isinstance(baseline, str):
        raise TypeError(f"{name} must be {options}, got {type(baseline).__name__}")
    elif baseline not in kinds:
        raise ValueError(f"{name} must be {options}, got {baseline!r}")
    elif baseline in ("black", "noise") and x.shape[1] != len(pre.mean):
        raise ValueError(
            f"{name}={baseline!r} is an image in pixel space, standardised with pre "
            f"({len(pre.mean)} channels); x has {x.shape[1]}: give {name} as a tensor"
        )
    elif baseline == "blur" and min(x.shape[-2:]) <= 5:
        raise ValueError(f'{name}="blur" (an 11 x 11 kernel) needs x of 6 x 6 pixels or more')
    return pre


def _baseline(
    kind: str | torch.Tensor,
    x: torch.Tensor,
    pre: Preprocessing,
    generator: torch.Generator,
    count: int = 1,
) -> torch.Tensor:
    """The baseline ``kind`` for ``x``, in its dtype: ``(1, C, H, W)``; ``(N, C, H, W)`` for
    ``"blur"``; ``(count, C, H, W)`` for ``"noise"``; a tensor as it is."""
    if isinstance(kind, torch.Tensor):
        return kind.detach().to(device=x.device, dtype=x.dtype)
    if kind == "zero":
        return torch.zeros_like(x[:1])
    if kind == "blur":
        from xaiutils.evaluation import blur

        return blur(x)
    shape = (count, *x.shape[1:])  # pixels in [0, 1], standardised: black, or uniform noise
    pixels = torch.zeros(shape) if kind == "black" else torch.rand(shape, generator=generator)
    return pre.standardize(pixels).to(device=x.device, dtype=x.dtype)


def _accumulate(
    model: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    count: int,
    point: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    term: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    batch_size: int,
    desc: str,
    show: bool,
) -> torch.Tensor:
    r""":math:`\sum_s \mathrm{term}(i, s, \nabla_x y^c|_{\mathrm{point}(i, s)})` per sample ``i``,
    ``s < count``: the points go through ``batch_size`` at a time; each sample's terms are added
    one by one in the order of ``s`` (so ``batch_size`` changes nothing), in float32 at least."""
    n = len(x)
    total = torch.zeros(x.shape, dtype=torch.promote_types(x.dtype, torch.float32), device=x.device)
    batches = range(0, n * count, batch_size)
    for start in bar(batches, total=len(batches), desc=desc, enabled=show):
        k = torch.arange(start, min(start + batch_size, n * count), device=x.device)
        i, s = k // count, k % count
        terms = term(i, s, input_gradient(model, point(i, s), targets[i])).to(total.dtype)
        for row, sample in enumerate(i.tolist()):
            total[sample] += terms[row]
    return total


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    *,
    baseline: str | torch.Tensor = "zero",
    steps: int = 32,
    rule: IGRule = "gausslegendre",
    batch_size: int = 16,
    seed: int = 0,
    pre: Preprocessing | None = None,
    return_delta: bool = False,
    progress: bool | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017). Lesson 04.

    .. math::
        \mathrm{IG}^c_i(x) = (x_i - b_i) \int_0^1
            \frac{\partial y^c}{\partial x_i}\Big|_{b + \alpha (x - b)} d\alpha
        \;\approx\; (x_i - b_i) \sum_{k=1}^{K} w_k
            \frac{\partial y^c}{\partial x_i}\Big|_{b + \alpha_k (x - b)}

    Completeness: :math:`\sum_i \mathrm{IG}^c_i = y^c(x) - y^c(b)` for the exact integral.

    Parameters
    ----------
    model, x, target
        As for every method; ``target=None``: each sample's top-1 at ``x``.
    baseline
        ``b``: ``"zero"``, 0 in the model's input space (the standardisation's mean:
        mid-grey for the course's EfficientNet); ``"black"``, pixels 0 standardised with
        ``pre``; ``"blur"``, :func:`xaiutils.evaluation.blur` of each sample; ``"noise"``, one
        image of uniform pixels in [0, 1] standardised with ``pre``, drawn with ``seed``, the
        same for every sample; or a tensor of ``x``'s shape, or ``(1, C, H, W)`` for all.
    steps
        ``K``, the points on the path (``>= 2`` for the Riemann rules, as in captum).
    rule
        captum's positions and weights: ``"gausslegendre"`` (Gauss-Legendre nodes and weights
        on [0, 1], captum's default); ``"riemann_left"`` (:math:`\alpha_k = (k-1)/K`),
        ``"riemann_right"`` (:math:`k/K`), ``"riemann_middle"`` (:math:`(k - 1/2)/K`), with
        :math:`w_k = 1/K`; ``"riemann_trapezoid"`` (:math:`\alpha_k = (k-1)/(K-1)`,
        :math:`w_k = 1/(K-1)` halved at both ends). Every rule's weights add up to 1, so IG
        is exact on a linear model. captum's trapezoid weights are :math:`1/K` (halved at
        the ends) and add up to :math:`(K-1)/K`: its trapezoid maps are ours times that.
    batch_size
        Points per pass through the model; the maps do not depend on it (16: on a 2-core CPU
        8 or 16 run 1.5 to 1.9x faster than 32, benchmarks/bench_attributions.py).
    seed, pre
        For ``"noise"``; the preprocessing that defines ``"black"`` and ``"noise"`` (default
        ``xu.preprocessing()``, the course's EfficientNet: black is -1 in every channel; for a
        torchvision network pass ``xu.preprocessing("resnet18")``).
    return_delta
        Also return ``delta`` ``(N,)``: :math:`\sum_i \mathrm{IG}^c_i - (y^c(x) - y^c(b))`,
        the quadrature's error (captum's ``return_convergence_delta``; one more forward).
    progress
        A bar over the batches (``None``: when a person is watching).

    Returns
    -------
    ``(N, C, H, W)`` in ``x``'s dtype (summed in float32 at least), or ``(maps, delta)``.
    """
    check_model(model)
    check_batch(x, model=model)
    check_target(target, len(x))
    alphas, weights = quadrature(rule, steps)  # checks rule and steps
    steps = len(alphas)
    batch_size = positive_int(batch_size, "batch_size")
    seed = positive_int(seed, "seed", minimum=0)
    if not isinstance(return_delta, bool):
        raise TypeError(f"return_delta must be True or False, got {return_delta!r}")
    pre = _check_baseline(baseline, x, "baseline", pre, BASELINES)
    show = wanted(progress)
    x = x.detach()
    with preserved_state(model):
        targets = targets_or_top1(model, x, target)
    b = _baseline(baseline, x, pre, torch.Generator().manual_seed(seed)).expand_as(x)
    alphas = alphas.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)
    weights = weights.to(x.device, torch.promote_types(x.dtype, torch.float32)).view(-1, 1, 1, 1)
    total = _accumulate(
        model, x, targets, steps,
        lambda i, s: b[i] + alphas[s] * (x[i] - b[i]),  # captum's points, the same arithmetic
        lambda i, s, grad: grad.to(weights.dtype) * weights[s],  # in float32 at least
        batch_size=batch_size, desc="Integrated Gradients", show=show,
    )  # fmt: skip
    maps = (total * (x - b).to(total.dtype)).to(x.dtype)
    if not return_delta:
        return maps
    with preserved_state(model), torch.no_grad():
        logits = check_logits(model(torch.cat([x, b])), 2 * len(x))
    scores = logits.gather(1, targets.repeat(2)[:, None])[:, 0].to(total.dtype)
    delta = maps.to(total.dtype).flatten(1).sum(1) - (scores[: len(x)] - scores[len(x) :])
    return maps, delta.to(x.dtype)


def gradient_shap(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    *,
    baselines: Literal["noise"] | torch.Tensor = "noise",
    samples: int = 16,
    stdevs: float = 0.0,
    batch_size: int = 16,
    seed: int = 0,
    pre: Preprocessing | None = None,
    progress: bool | None = None,
) -> torch.Tensor:
    r"""GradientSHAP (Lundberg & Lee, NeurIPS 2017; captum's ``GradientShap``). Lesson 04.

    Integrated Gradients in expectation over baselines: each of ``S = samples`` draws takes a
    baseline ``b_s`` from ``baselines``, a point ``alpha_s ~ U(0, 1)`` on the path and, if
    ``stdevs > 0``, Gaussian noise :math:`\epsilon_s \sim \mathcal{N}(0, \mathrm{stdevs}^2)`
    on the input:

    .. math::
        \phi^c_i(x) = \frac{1}{S} \sum_{s=1}^{S} (\tilde x_{s,i} - b_{s,i})
            \frac{\partial y^c}{\partial x_i}\Big|_{\alpha_s \tilde x_s + (1 - \alpha_s) b_s},
        \qquad \tilde x_s = x + \epsilon_s

    whose expectation is IG's expectation over the baselines (SHAP values if the features
    are independent and the model linear).

    Parameters
    ----------
    baselines
        The baselines' distribution: a tensor ``(B, C, H, W)``, or ``"noise"``: ``samples``
        images of uniform pixels in [0, 1] standardised with ``pre`` (default
        ``xu.preprocessing()``).
    samples, batch_size, stdevs
        ``S``; points per pass (the maps do not depend on it); the noise's standard
        deviation in the model's input space (absolute, as captum's).
    seed
        The draws, the same for every sample: ``numpy.random.RandomState(seed)`` draws the
        baselines' indices (``choice(B, S)``), then the ``alpha_s`` (``uniform(0, 1, S)``);
        ``torch.Generator().manual_seed(seed)`` the ``"noise"`` images (``rand``), then the
        noise (``randn * stdevs``). captum draws the same from the global generators in the
        same order: for one sample, ``xu.set_seed(seed)`` before its call gives our draws.

    Returns
    -------
    ``(N, C, H, W)`` in ``x``'s dtype; ``target=None``: each sample's top-1 at ``x``.
    """
    check_model(model)
    check_batch(x, model=model)
    check_target(target, len(x))
    samples, batch_size = positive_int(samples, "samples"), positive_int(batch_size, "batch_size")
    stdevs, seed = in_range(stdevs, "stdevs", 0), positive_int(seed, "seed", minimum=0)
    if seed >= 2**32:
        raise ValueError(f"seed must be < 2**32 (numpy's RandomState), got {seed}")
    pre = _check_baseline(baselines, x, "baselines", pre, ("noise",))
    show = wanted(progress)
    x = x.detach()
    with preserved_state(model):
        targets = targets_or_top1(model, x, target)
    rs, generator = np.random.RandomState(seed), torch.Generator().manual_seed(seed)
    dist = _baseline(baselines, x, pre, generator, samples)  # "noise": S images first
    chosen = dist[torch.from_numpy(rs.choice(len(dist), samples)).to(x.device)]
    alphas = torch.tensor(rs.uniform(0.0, 1.0, samples), dtype=x.dtype, device=x.device)
    alphas = alphas.view(-1, 1, 1, 1)
    noise = torch.zeros_like(chosen)
    if stdevs > 0:
        noise = (torch.randn(chosen.shape, generator=generator) * stdevs).to(noise)
    total = _accumulate(
        model, x, targets, samples,
        lambda i, s: alphas[s] * (x[i] + noise[s]) + (1.0 - alphas[s]) * chosen[s],
        lambda i, s, grad: (x[i] + noise[s] - chosen[s]) * grad,
        batch_size=batch_size, desc="GradientSHAP", show=show,
    )  # fmt: skip
    return (total / samples).to(x.dtype)
