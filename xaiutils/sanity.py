"""The sanity check: does a map change when the model's weights are randomised? Lesson 09.

Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018: randomise the weights stage by
stage from the top (cascading) and compare each method's maps with the trained model's
(:func:`xaiutils.metrics.map_similarity`: Spearman rank correlation and SSIM). A map that
hardly changes does not depend on what the model learned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.metrics import map_similarity
from xaiutils.models import get_layer
from xaiutils.validation import Target, check_batch, check_model, resolve_targets

__all__ = [
    "RandomLogit",
    "SanityCheck",
    "cascading_randomization",
    "default_stages",
    "random_logit",
    "sanity_check",
]


def default_stages(model: nn.Module) -> list[str]:
    """The model's weighted stages from the output down: the order of the cascade.

    The top-level children that hold parameters, with a ``Sequential``/``ModuleList`` child
    split into its own children (EfficientNet's ``blocks.0``..``blocks.6``, ResNet's
    ``layer1.0``...), listed last layer first. For the course's EfficientNet-Lite0:
    ``classifier, bn2, conv_head, blocks.6, ..., blocks.0, bn1, conv_stem``.
    """

    def weighted(module: nn.Module) -> bool:
        return next(module.parameters(), None) is not None

    stages = []
    for name, child in model.named_children():
        if not weighted(child):
            continue
        if isinstance(child, nn.Sequential | nn.ModuleList):
            stages += [f"{name}.{sub}" for sub, m in child.named_children() if weighted(m)]
        else:
            stages.append(name)
    return stages[::-1]


def cascading_randomization(
    model: nn.Module,
    stages: Sequence[str] | None = None,
    *,
    seed: int = 0,
    how: Literal["gaussian", "reset"] = "gaussian",
) -> Iterator[tuple[str, nn.Module]]:
    """Randomise a **copy** of the model stage by stage, from the top down. Lesson 09.

    Yields ``(stage, model)`` after each stage's weights are re-drawn, on top of every stage
    before it (Adebayo et al.'s *cascading* randomisation). The same copy is yielded each
    time, randomised a stage deeper: use it before asking for the next. The caller's model is
    never touched (``copy.deepcopy`` first).

    Each parameter tensor is replaced by Gaussian draws with the tensor's own mean and
    standard deviation: the learned structure is gone, the scale of the activations is about
    the same (a re-initialisation with a framework's default scale would instead change the
    scale, and the batch norm's running statistics, kept, would no longer match it). Buffers
    (running means and variances) stay.

    ``how="reset"`` is Quantus's randomisation instead (``MPRT``, through
    ``PyTorchModel.get_random_layer_generator``): each module of the stage that has
    ``reset_parameters`` (convolutions, batch norms, linear layers), last one first, gets its
    framework default initialisation after ``torch.manual_seed(seed + 1)``; a batch norm's
    running statistics are reset too. Give one module per stage to follow Quantus layer by
    layer. The global random state is restored afterwards.
    """
    if how not in ("gaussian", "reset"):
        raise ValueError(f'how must be "gaussian" or "reset", got {how!r}')
    stages = default_stages(model) if stages is None else list(stages)
    generator = torch.Generator().manual_seed(seed)
    clone = copy.deepcopy(model).eval()
    for stage in stages:
        module = get_layer(clone, stage)
        if how == "reset":
            resettable = [m for m in module.modules() if hasattr(m, "reset_parameters")]
            with torch.random.fork_rng(devices=[]):
                for m in resettable[::-1]:
                    torch.manual_seed(seed + 1)
                    m.reset_parameters()
            yield stage, clone
            continue
        with torch.no_grad():
            for p in module.parameters():
                std = p.std().item() if p.numel() > 1 else 0.0
                noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
                p.copy_(p.mean() + std * noise)
        yield stage, clone


@dataclass(frozen=True)
class SanityCheck:
    """How much each method's map moved as the weights were randomised. Lesson 09.

    ``stages``: ``("original", top stage, ...)``; ``maps[method]`` ``(S, N, H, W)``, one per
    stage (the first on the trained model); ``spearman[method]`` and ``ssim[method]``
    ``(S, N)``: each map against the original map of the same sample (1 at ``"original"``).
    """

    stages: tuple[str, ...]
    maps: dict[str, torch.Tensor]
    spearman: dict[str, np.ndarray]
    ssim: dict[str, np.ndarray]


MapFunction = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def sanity_check(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    methods: Mapping[str, MapFunction],
    stages: Sequence[str] | None = None,
    *,
    seed: int = 0,
    how: Literal["gaussian", "reset"] = "gaussian",
) -> SanityCheck:
    """Adebayo et al.'s model-parameter randomisation test, cascading from the top. Lesson 09.

    ``methods`` maps a name to ``f(model, x, targets) -> maps (N, H, W)`` (each method with
    its own post-processing, e.g. ``lambda m, x, t: upsample(grad_cam(m, x, t, "bn2"), ...)``).
    The targets are fixed once, on the trained model (``None``: its top-1), so every stage
    explains the same class. Randomisation happens on a copy (:func:`cascading_randomization`,
    which ``how`` goes to): ``model`` is left untouched.
    """
    check_model(model)
    check_batch(x, model=model)
    with preserved_state(model), torch.no_grad():
        targets = resolve_targets(model(x), target)
    maps = {name: [f(model, x, targets).detach().float()] for name, f in methods.items()}
    names = ["original"]
    for stage, randomized in cascading_randomization(model, stages, seed=seed, how=how):
        names.append(stage)
        for name, f in methods.items():
            maps[name].append(f(randomized, x, targets).detach().float())
    stacked = {name: torch.stack(m) for name, m in maps.items()}
    spearman, ssim = {}, {}
    for name, m in stacked.items():
        pairs = [
            [map_similarity(m[0, i], m[s, i]) for i in range(m.shape[1])] for s in range(len(m))
        ]
        values = np.array(pairs)  # (S, N, 2)
        spearman[name], ssim[name] = values[..., 0], values[..., 1]
    return SanityCheck(tuple(names), stacked, spearman, ssim)


@dataclass(frozen=True)
class RandomLogit:
    """Each map for its class against the same method's map for another class. Lesson 09.

    ``others`` ``(N,)``: the other class of each sample; ``spearman``, ``ssim`` ``(N,)``: the
    similarity of the two maps (:func:`xaiutils.metrics.map_similarity`). A map that explains
    *its* class changes with the class: low values pass.
    """

    targets: np.ndarray
    others: np.ndarray
    spearman: np.ndarray
    ssim: np.ndarray


def random_logit(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    method: MapFunction,
    others: Sequence[int] | torch.Tensor | None = None,
    *,
    seed: int = 0,
) -> RandomLogit:
    """Sixt, Granz & Landgraf's random-logit test ("When explanations lie", ICML 2020). Lesson 09.

    Explain each sample for its class and for another one, drawn uniformly from the other
    classes (seeded; or given as ``others``), and compare the two maps. ``method`` is
    ``f(model, x, targets) -> maps (N, H, W)`` as in :func:`sanity_check`; it is called
    once, on ``x`` twice over (the targets, then the other classes), so methods that share
    forward passes between samples of one image (RISE, LIME) pay for them once. Quantus's
    ``RandomLogit`` is the same test (a test compares them).
    """
    check_model(model)
    check_batch(x, model=model)
    n = x.shape[0]
    with preserved_state(model), torch.no_grad():
        logits = model(x)
    targets = resolve_targets(logits, target)
    classes = logits.shape[1]
    if others is None:
        rng = np.random.default_rng(seed)
        draw = rng.integers(0, classes - 1, size=n)  # one of the classes - 1 others
        others_t = torch.as_tensor(draw + (draw >= targets.cpu().numpy()), dtype=torch.long)
    else:
        others_t = resolve_targets(logits, others)
    if bool((others_t == targets.cpu()).any()):
        raise ValueError("others must differ from each sample's target class")
    maps = method(model, torch.cat([x, x]), torch.cat([targets.cpu(), others_t])).detach().float()
    pairs = np.array([map_similarity(maps[i], maps[n + i]) for i in range(n)])
    return RandomLogit(targets.cpu().numpy(), others_t.numpy(), pairs[:, 0], pairs[:, 1])
