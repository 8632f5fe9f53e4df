"""Ablation-CAM: the weight of a channel is how much the class's score drops without it.
Lesson 08, with the other variants of :mod:`.variants`.

Ablation-CAM needs no gradient: it sets each channel of the layer to zero in turn and runs only
the part of the network *above* the layer again (the part below does not change), a batch of
ablated copies at a time.
"""

from __future__ import annotations

import torch
from torch import nn

from xaiutils.hooks import preserved_state
from xaiutils.methods.cam import combine, layer_pass
from xaiutils.methods.variants import PGC, Convention, check_convention, check_scores
from xaiutils.progress import progress as bar
from xaiutils.progress import wanted
from xaiutils.validation import Layer, Target, check_layer, check_model, positive_int

__all__ = ["ablation_cam"]


def _top_forward(
    model: nn.Module, layer: nn.Module, x1: torch.Tensor, replacement: torch.Tensor
) -> torch.Tensor:
    """Logits when ``layer``'s output is replaced by the batch ``replacement`` ``(B, K, h, w)``.

    The network below the layer runs once, on the one sample ``x1``; the part above on the
    ``B`` rows (a tensor from below that joins later, a skip, broadcasts from 1 to ``B``).
    """
    calls = []
    handle = layer.register_forward_hook(lambda m, i, o: calls.append(1) or replacement)
    try:
        logits = model(x1)
    finally:
        handle.remove()
    if len(calls) != 1 or logits.shape[0] != len(replacement):
        raise ValueError(
            "layer must run once per forward and its batch reach the output: choose a block "
            "or a stage, not a module shared by several places (like ResNet's relu)"
        )
    return logits


def _pgc_ablation_values(minimum: torch.Tensor, k: int, batch: int) -> torch.Tensor:
    """pytorch-grad-cam's value for each ablated channel, in its batches of ``batch``."""
    if minimum == 0:
        return torch.zeros(k)
    values = [minimum - 1e7]
    for _ in range(batch - 1):  # the same float32 steps as its loop over the rows
        values.append(values[-1] - 1e7)
    return torch.stack(values)[torch.arange(k) % batch]


def ablation_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: Layer, *, relu: bool = True,
    batch_size: int | None = None, convention: Convention = "paper", reshape: None = None,
    progress: bool | None = None,
) -> torch.Tensor:  # fmt: skip
    r"""Ablation-CAM (Desai & Ramaswamy, WACV 2020). Lesson 08.

    .. math::
        w^c_k = \frac{y^c - y^c_k}{y^c},\qquad L^c = \mathrm{ReLU}\Big(\sum_k w^c_k A^k\Big)

    ``y^c_k``: the logit with channel ``k`` of the layer set to zero, so the weight is the drop
    of the score without the channel: no gradient. Zero means "absent" only after a ReLU.
    (For a negative logit the division flips every weight: the paper assumes ``y^c > 0``;
    where ``y^c = 0`` exactly, the weight is the drop ``y^c - y^c_k`` itself, not NaN.)

    Cost: one forward, then per channel one pass of the network *above* the layer only (the
    channels are ablated at the layer; at ``bn2`` that is pooling and the classifier), in
    batches of ``batch_size`` copies (default: as many as fit in 128 MB); the part below runs
    once per batch, on one sample.

    ``convention="pytorch-grad-cam"`` reproduces ablation_layer.py: zero only if the layer's
    minimum is 0; otherwise (a signed layer, like the EfficientNet's linear bottlenecks)
    ``torch.min(output) - 1e7``, the minimum taken over a batch it has already modified, so row
    ``j`` of each batch gets ``min - (j + 1) 1e7``. Pass its ``batch_size`` (32 by default,
    also the default here for this convention). It runs the whole network for each ablation.
    ``progress``: a bar over the batches (``None``: when a person watches; see
    :mod:`xaiutils.progress`).

    No ``reshape``: the ablated map would have to go back into the layer's own layout (tokens),
    which needs the inverse of ``reshape`` (pytorch-grad-cam needs its ``AblationLayerVit``).
    """
    check_convention(convention, PGC)
    if reshape is not None:
        raise ValueError(
            "ablation_cam takes no reshape: it must write the ablated map back into the layer's "
            "own output (the tokens), and a reshape function has no inverse to do it. On a "
            "transformer, use score_cam, which masks the input instead"
        )
    check_model(model)
    module = check_layer(model, layer)
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    show = wanted(progress)
    p = layer_pass(model, x, target, layer, gradients=False)
    a, n, k = p.activations, *p.activations.shape[:2]
    if convention == PGC:
        batch_size = batch_size or 32
    batch_size = batch_size or max(1, min(k, 2**25 // a[0].numel()))
    # Logits and scores in float32 at least, whatever the model computes in.
    dtype = torch.promote_types(x.dtype, torch.float32)
    y = p.logits.gather(1, p.targets[:, None])[:, 0].to(dtype)
    scores = torch.full((n, k), torch.nan, dtype=dtype)
    fills = [  # the value an ablated channel gets, per sample and channel
        _pgc_ablation_values(a[i].min(), k, batch_size).to(a.dtype)
        if convention == PGC
        else torch.zeros(k, dtype=a.dtype)
        for i in range(n)
    ]
    batches = [(i, start) for i in range(n) for start in range(0, k, batch_size)]
    with preserved_state(model), torch.inference_mode():
        for i, start in bar(batches, total=len(batches), desc="Ablation-CAM", enabled=show):
            channels = torch.arange(start, min(start + batch_size, k))
            batch = a[i].expand(len(channels), -1, -1, -1).clone()
            batch[torch.arange(len(channels)), channels] = fills[i][channels, None, None]
            logits = _top_forward(model, module, x[i : i + 1], batch)
            scores[i, channels] = logits[:, p.targets[i]].to(dtype)
    check_scores(scores, "Ablation-CAM")
    drop = y[:, None] - scores
    # Where the logit is exactly 0 the paper's division is undefined: keep the drop itself
    # (same map up to a positive scale, instead of NaN).
    weights = torch.where(y[:, None] != 0, drop / torch.where(y == 0, 1, y)[:, None], drop)
    return combine(weights.to(a.dtype), a, relu)
