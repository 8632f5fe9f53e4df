"""TorchRay's RISE and captum's LIME, fed the very draws ours make. Lesson 04.

Both methods are random; to compare numbers, the library must see our masks or our samples.
:func:`torchray_rise` hands TorchRay our masks (``filter_masks``) and :func:`captum_lime` hands
captum our binary samples (a ``perturb_func``) and LIME's kernel on them. Each returns the
library's own output for the targets, otherwise untouched; the model comes back as it was
(:func:`xaiutils.libraries.restored`). Used by lesson 04's table and ``tests/test_blackbox.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from xaiutils.libraries import restored, targets_of
from xaiutils.methods.lime import _samples
from xaiutils.validation import Target

__all__ = ["SoftmaxAsSigmoid", "captum_lime", "torchray_rise"]


class SoftmaxAsSigmoid(nn.Module):
    """TorchRay's ``rise`` applies a sigmoid to the model's output; the paper (and we) use the
    softmax. This wrapper returns ``logit(softmax)``, whose sigmoid is the softmax."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_p = self.model(x).double().log_softmax(dim=1)
        return (log_p - torch.log(-torch.expm1(log_p))).float()


def torchray_rise(
    model: nn.Module, x: torch.Tensor, target: Target, masks: torch.Tensor, batch_size: int = 16
) -> torch.Tensor:
    """TorchRay's ``rise`` with our ``masks`` ``(M, H, W)`` (e.g. :func:`~xaiutils.methods.rise.
    rise_masks`): ``(N, H, W)``. TorchRay divides by ``M``, the paper and we by ``M * p``."""
    from torchray.attribution.rise import rise

    targets = targets_of(model, x, target)
    with restored(model), torch.no_grad():
        sal = rise(SoftmaxAsSigmoid(model), x, num_masks=len(masks), batch_size=batch_size,
                   filter_masks=masks[:, None].to(x))  # fmt: skip
    return sal[torch.arange(len(x)), torch.as_tensor(targets)]


def captum_lime(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    labels: torch.Tensor,
    samples: int,
    *,
    kernel_width: float = 0.25,
    alpha: float = 1.0,
    baseline: float = 0.0,
    seed: int = 0,
) -> torch.Tensor:
    """captum's ``Lime`` on one sample ``x`` ``(1, C, H, W)`` with superpixels ``labels``
    ``(H, W)``, fed our ``samples`` binary draws (``seed``) and LIME's cosine kernel measured
    between the binary vectors, as LIME does (captum's default measures it between the
    perturbed images): ``(H, W)``. captum fits its ridge in float32, we in float64."""
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import Lime
    from captum.attr._core.lime import get_exp_kernel_similarity_function

    (t,) = targets_of(model, x, target)
    kernel = get_exp_kernel_similarity_function("cosine", kernel_width)
    draws = _samples(samples, int(labels.max()) + 1, seed)

    def similarity(original, perturbed, interpretable, **kwargs):
        return kernel(torch.ones_like(interpretable), interpretable, None)

    def perturb(original, **kwargs):  # our samples, in our order
        yield from (z[None].long() for z in draws)

    explainer = Lime(lambda v: model(v).softmax(1), SkLearnRidge(alpha=alpha), similarity, perturb)
    with restored(model), torch.no_grad():
        attr = explainer.attribute(
            x, baselines=baseline, target=t, n_samples=samples,
            feature_mask=labels[None, None].to(x.device), perturbations_per_eval=12,
        )  # fmt: skip
    return attr[0, 0]
