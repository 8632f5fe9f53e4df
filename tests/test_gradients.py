"""Gradient saliency (lesson 03): by hand on tiny models, against captum and torchray."""

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop, GuidedGradCam, Saliency
from torch import nn
from torchray.attribution.deconvnet import deconvnet as tr_deconvnet
from torchray.attribution.gradient import gradient as tr_gradient
from torchray.attribution.guided_backprop import guided_backprop as tr_guided_backprop

import xaiutils as xu
from xaiutils.methods.gradients import (
    deconvnet,
    gradient_colour,
    gradient_grayscale,
    guided_backprop,
    guided_grad_cam,
    modified_rectifiers,
    smoothgrad,
    vanilla_gradient,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require:UserWarning"),
]
ATOL = 1e-5  # float32 on the same CPU ops; differences come only from summation order
GRAD_CAM_LAYER = {"resnet18": "layer4", "vgg16": "features.29"}


def _x(n: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to ATOL relative to the larger map's scale (random nets have tiny gradients)."""
    return (a - b).abs().max().item() <= ATOL * max(b.abs().max().item(), 1e-12)


def _raw_grad(x: torch.Tensor) -> torch.Tensor:  # torchray's hook: keep the signed gradient
    return x.grad.clone()


def _state(model: nn.Module) -> list:
    """Everything a method could leave changed: modules, flags, forwards, hooks, mode, grads."""
    return [
        [(n, m, m.training, getattr(m, "inplace", None), "forward" in m.__dict__)
         for n, m in model.named_modules()],
        [(p, p.requires_grad, p.grad is None) for p in model.parameters()],
        xu.count_hooks(model),
    ]  # fmt: skip


def _tiny_cnn() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10),
        ).eval()  # fmt: skip


# --- tiny models, answers by hand --------------------------------------------------------------


class TinyRelu6(nn.Module):
    """y = sum(w * relu6(x)) with w = (1, -1, 1): the gradient rules can be read off per input."""

    def __init__(self, inplace: bool = True) -> None:
        super().__init__()
        self.act = nn.ReLU6(inplace=inplace)
        self.w = nn.Parameter(torch.tensor([1.0, -1.0, 1.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(x.flatten(1) * 1.0)  # `* 1.0`: the in-place op must not touch the leaf
        return torch.stack([(h * self.w).sum(1), -(h * self.w).sum(1)], dim=1)


def test_relu6_rules_by_hand():
    # inputs: below 0, between 0 and 6, above 6, in each of the three positions, two samples
    x = torch.tensor([[-1.0, 2.0, 7.0], [3.0, 8.0, -2.0]]).view(2, 3, 1, 1)
    model = TinyRelu6().eval()
    w = torch.tensor([1.0, -1.0, 1.0])
    inside = ((x > 0) & (x < 6)).float().view(2, 3)
    # plain: w where 0 < x < 6; guided: max(w, 0) there; deconvnet: max(w, 0) everywhere
    assert torch.equal(vanilla_gradient(model, x, 0).view(2, 3), w * inside)
    assert torch.equal(guided_backprop(model, x, 0).view(2, 3), w.clamp_min(0) * inside)
    assert torch.equal(deconvnet(model, x, 0).view(2, 3), w.clamp_min(0).expand(2, 3))
    # class 1 sends -w down: the positive part is now where w < 0
    assert torch.equal(guided_backprop(model, x, 1).view(2, 3), (-w).clamp_min(0) * inside)
    assert torch.equal(deconvnet(model, x, [1, 0]).view(2, 3), torch.stack([-w, w]).clamp_min(0))


def test_forward_unchanged_and_rectifiers_restored_even_on_error():
    model = TinyRelu6(inplace=True).eval()
    x = torch.tensor([[-1.0, 2.0, 7.0]]).view(1, 3, 1, 1)
    act, before, out = model.act, _state(model), model(x)
    for rule in ("guided", "deconvnet"):
        with modified_rectifiers(model, rule):
            assert torch.equal(model(x), out)
        with pytest.raises(RuntimeError, match="inside"), modified_rectifiers(model, rule):
            raise RuntimeError("an error inside the block")
        assert model.act is act and model.act.inplace and _state(model) == before
        assert type(model.act).forward is nn.ReLU6.forward and "forward" not in act.__dict__
    assert torch.equal(model(x), out)


def test_bad_inputs_get_clear_errors(resnet18):
    no_rectifier = nn.Sequential(nn.Flatten(), nn.Linear(12, 2), nn.Tanh())
    with pytest.raises(ValueError, match="no nn.ReLU or nn.ReLU6 module"):
        guided_backprop(no_rectifier, _x(1, 2), 0)
    with pytest.raises(ValueError, match="rule must be"):
        with modified_rectifiers(resnet18, "lrp"):  # type: ignore[arg-type]
            pass
    for method in (vanilla_gradient, guided_backprop, deconvnet, smoothgrad):
        with pytest.raises(ValueError, match="unsqueeze"):
            method(resnet18, _x(1, 32)[0], 0)
        with pytest.raises(ValueError, match="out of range"):
            method(resnet18, _x(1, 32), 1000)
        with pytest.raises(ValueError, match="2 samples but 3 targets"):
            method(resnet18, _x(2, 32), [1, 2, 3])
    with pytest.raises(ValueError, match="out of range"):
        guided_grad_cam(resnet18, _x(1, 32), 1000, "layer4")


def test_every_method_leaves_the_model_as_it_was(resnet18):
    resnet18.zero_grad(set_to_none=True)
    resnet18.layer2.train()  # a mixed mode must come back mixed
    try:
        before, relu = _state(resnet18), resnet18.relu
        x = _x(2, 32)
        for method in (vanilla_gradient, guided_backprop, deconvnet):
            method(resnet18, x, [1, 2])
            assert _state(resnet18) == before and resnet18.relu is relu
        smoothgrad(resnet18, x, 3, samples=2)
        guided_grad_cam(resnet18, x, None, "layer4")
        assert _state(resnet18) == before and resnet18.layer2.training
    finally:
        resnet18.eval()


def test_displays():
    g = torch.tensor([[-2.0, 0.0], [1.0, 2.0]]).expand(1, 3, 2, 2).clone()
    g[0, 1] *= -1  # channel 1: reversed sign
    colour = gradient_colour(g)
    assert colour.shape == (1, 2, 2, 3) and colour.min() == 0 and colour.max() == 1
    assert colour[0, 0, 1].tolist() == [0.5, 0.5, 0.5]  # zero gradient: mid grey in every channel
    gray = gradient_grayscale(g)
    assert gray.shape == (1, 2, 2) and torch.equal(gray[0], torch.tensor([[1.0, 0.0], [0.5, 1.0]]))
    # one outlier squeezes a min-max display; clipping at the 99th percentile undoes that
    ramp = torch.linspace(0, 1, 300).view(1, 3, 10, 10)
    ramp[0, 0, 0, 0] = -1000.0
    assert (
        gradient_grayscale(ramp)[0, 5, 5] < 0.01 < gradient_grayscale(ramp, percentile=99)[0, 5, 5]
    )
    assert gradient_colour(ramp)[0, 5, 5].max() > 0.99  # everything else near the top
    assert gradient_colour(ramp, percentile=99)[0, 5, 5].max() < 0.99


# --- real architectures against captum and torchray --------------------------------------------


def test_vanilla_gradient_against_captum_and_torchray(resnet18):
    x, t = _x(2, 32), [3, 500]
    ours = vanilla_gradient(resnet18, x, t)
    assert _close(ours, Saliency(resnet18).attribute(x.clone(), target=t, abs=False))
    xr, tt = x.clone().requires_grad_(), torch.tensor(t)
    assert _close(ours, tr_gradient(resnet18, xr, tt, gradient_to_saliency=_raw_grad))
    # torchray's own display: the max over channels of |gradient|, shape (N, 1, H, W)
    default = tr_gradient(resnet18, x.clone().requires_grad_(), tt)
    assert default.shape == (2, 1, 32, 32)
    assert _close(ours.abs().amax(dim=1, keepdim=True), default)


@pytest.mark.parametrize("arch", ["resnet18", "vgg16"])
def test_guided_backprop_and_deconvnet_against_captum_and_torchray(arch, request):
    model, x, t = request.getfixturevalue(arch), _x(2, 32), [3, 500]
    tt, results = torch.tensor(t), []
    for ours, captum, torchray in [
        (guided_backprop, GuidedBackprop, tr_guided_backprop),
        (deconvnet, Deconvolution, tr_deconvnet),
    ]:
        results.append(g := ours(model, x, t))
        assert _close(g, captum(model).attribute(x.clone(), target=t)), ours.__name__
        xr = x.clone().requires_grad_()
        assert _close(g, torchray(model, xr, tt, gradient_to_saliency=_raw_grad)), ours.__name__
    assert not _close(*results)  # the two rules give different maps


@pytest.mark.parametrize("arch", ["resnet18", "vgg16"])
def test_guided_grad_cam_against_captum(arch, request):
    model, x, layer = request.getfixturevalue(arch), _x(2, 64), GRAD_CAM_LAYER[arch]
    ours = guided_grad_cam(model, x, [7, 42], layer)
    captum = GuidedGradCam(model, xu.get_layer(model, layer))
    # captum upsamples with F.interpolate(mode=interpolate_mode), align_corners False: as ours
    assert ours.shape == x.shape
    assert _close(ours, captum.attribute(x.clone(), target=[7, 42], interpolate_mode="bilinear"))
    if arch == "resnet18":  # captum's default, nearest, is a different picture
        assert not _close(ours, captum.attribute(x.clone(), target=[7, 42]))


def test_relu6_is_covered_on_the_offline_model_and_captum_is_not(effnet):
    x = _x(1, 64)
    with torch.no_grad():
        logits = effnet(x)
    plain = vanilla_gradient(effnet, x, 285)
    ours = guided_backprop(effnet, x, 285)
    captum = GuidedBackprop(effnet).attribute(x.clone(), target=285)
    assert not any(isinstance(m, nn.ReLU) for m in effnet.modules())
    with torch.no_grad(), modified_rectifiers(effnet, "guided"):  # in-place ReLU6, out of place
        assert torch.equal(effnet(x), logits)
    assert torch.equal(captum, plain)  # captum patches only nn.ReLU: nothing to patch here
    assert (ours - plain).abs().max() > 0.1 * plain.abs().max()  # ours covers nn.ReLU6


# --- SmoothGrad ---------------------------------------------------------------------------------


def test_smoothgrad():
    model = _tiny_cnn()  # SmoothGrad's bookkeeping needs no depth
    x, t = _x(2, 16), [5, 9]
    a = smoothgrad(model, x, t, samples=4, batch_size=3, seed=1)
    state = torch.random.get_rng_state()
    assert torch.equal(a, smoothgrad(model, x, t, samples=4, batch_size=3, seed=1))
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched
    assert _close(smoothgrad(model, x, t, samples=4, batch_size=8, seed=1), a)
    assert _close(smoothgrad(model, x, t, samples=4, batch_size=1, seed=1), a)
    assert not _close(smoothgrad(model, x, t, samples=4, batch_size=3, seed=2), a)
    no_noise = smoothgrad(model, x, t, samples=1, sigma=0.0)
    assert _close(no_noise, vanilla_gradient(model, x, t))
    top1 = smoothgrad(model, x, None, samples=1, sigma=0.0)  # None: each clean top-1
    assert _close(top1, vanilla_gradient(model, x, None))
