"""Attributions that add up (lesson 04): by hand on tiny models, and against captum.

captum draws its random numbers from the global generators; ours come from private ones seeded
with ``seed``, the same draws for every sample. For one sample, seeding the global generators
the same way (``xu.set_seed(seed)``: torch's and NumPy's) makes captum draw the very
same noise, baselines and path points, in the same order: every comparison below is then exact
up to float32 rounding (the model's passes batch the points differently). ``ATOL``: 1e-5 of the
larger map's scale; the measured differences are below 1e-6.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import (
    GradientShap,
    InputXGradient,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
)
from torch import nn

import xaiutils as xu
import xaiutils.methods as xm
from xaiutils.evaluation import blur
from xaiutils.methods.attributions import (
    BASELINES,
    RULES,
    gradient_shap,
    gradient_x_input,
    integrated_gradients,
)
from xaiutils.methods.gradients import input_gradient, smoothgrad

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require:UserWarning")
ATOL = 1e-5
NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _x(n: int = 2, size: int = 8, seed: int = 0, c: int = 3) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = ATOL) -> bool:
    """Equal up to ``tol`` relative to the larger map's scale."""
    scale = max(a.abs().max().item(), b.abs().max().item(), 1e-12)
    return (a - b).abs().max().item() <= tol * scale


def _seeded(make):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return make().eval()


def _linear(size: int = 6) -> nn.Module:
    return _seeded(lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 4)))


def _tanh_mlp() -> nn.Module:  # smooth and non-linear: IG's quadrature error is visible
    return _seeded(lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(),
                                         nn.Linear(16, 3))).double()  # fmt: skip


def _tiny_cnn() -> nn.Module:
    return _seeded(lambda: nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10),
    ))  # fmt: skip


def _noise_image(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The documented ``"noise"`` baseline: uniform pixels, standardised (EfficientNet's)."""
    return xu.preprocessing().standardize(
        torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    )


def _baseline(kind: str, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """What each baseline kind is documented to be, for x's shape."""
    return {
        "zero": lambda: torch.zeros_like(x),
        "black": lambda: torch.full_like(x, -1.0),  # (0 - 0.5) / 0.5
        "blur": lambda: blur(x),
        "noise": lambda: _noise_image((1, *x.shape[1:]), seed).expand_as(x),
    }[kind]()


# --- by hand --------------------------------------------------------------------------------


def test_gradient_x_input_by_hand():
    model, x = _linear(), _x(2, 6)
    w = model[1].weight.view(4, 3, 6, 6)
    assert torch.equal(gradient_x_input(model, x, [1, 3]), x * w[[1, 3]])


@pytest.mark.parametrize("rule", RULES)
def test_integrated_gradients_is_exact_on_a_linear_model(rule):
    """For y = w . x + c the gradient is w everywhere: IG = (x - b) * w for every rule and any
    number of steps (every rule's weights add up to 1), and the delta is 0."""
    model, x, t = _linear(), _x(2, 6), [1, 3]
    w = model[1].weight.view(4, 3, 6, 6)[t]
    other = _x(1, 6, seed=5)  # a tensor baseline for every sample, and one per sample
    for baseline in [*BASELINES, other, torch.cat([other, -other])]:
        b = _baseline(baseline, x, seed=3) if isinstance(baseline, str) else baseline
        for steps in (2, 3, 8):
            maps, delta = integrated_gradients(
                model, x, t, baseline=baseline, steps=steps, rule=rule, seed=3, return_delta=True
            )
            assert maps.dtype == x.dtype and maps.shape == x.shape
            assert _close(maps, (x - b) * w, 1e-6), (rule, steps)
            assert delta.abs().max() < 1e-4, (rule, steps, delta)  # float32 sums of 108 terms
    maps = integrated_gradients(model, x, t, steps=1)  # Gauss-Legendre with 1 node: the midpoint
    assert _close(maps, x * w, 1e-6)


# Measured |delta| on the tanh MLP (float64) at 16 and 64 steps: the Riemann end rules shrink
# as 1/K (x4.0 from 16 to 64 steps), the midpoint and trapezoid rules as 1/K^2 (x16.1, x17.7),
# Gauss-Legendre is at rounding level from 16 nodes on (3e-14).
ORDER = {"riemann_left": 4, "riemann_right": 4, "riemann_middle": 16, "riemann_trapezoid": 16}


@pytest.mark.parametrize("rule", RULES)
def test_integrated_gradients_is_complete_as_steps_grow(rule):
    model, x, t = _tanh_mlp(), 2 * _x(2, 2, seed=1).double(), [0, 2]
    deltas = [
        integrated_gradients(model, x, t, steps=k, rule=rule, return_delta=True)[1].abs().max()
        for k in (4, 16, 64)
    ]
    assert deltas[0] > deltas[1] > deltas[2] or deltas[1] < 1e-12, deltas
    if rule == "gausslegendre":
        assert deltas[1] < 1e-10
    else:
        assert deltas[1] / deltas[2] > 0.9 * ORDER[rule], deltas
        assert deltas[2] < 6e-3


def test_delta_is_captums():
    """Our delta is captum's ``return_convergence_delta``; for the trapezoid, whose weights in
    captum add up to (K - 1) / K, captum's maps are ours times that factor."""
    model, x, t, b = _tanh_mlp(), 2 * _x(2, 2, seed=1).double(), [0, 2], _x(1, 2, seed=2).double()
    with torch.no_grad():
        gap = (model(x) - model(b))[[0, 1], t]
    for rule in RULES:
        for steps in (2, 5):
            maps, delta = integrated_gradients(
                model, x, t, baseline=b, steps=steps, rule=rule, return_delta=True
            )
            c_maps, c_delta = IntegratedGradients(model).attribute(
                x, b, target=t, n_steps=steps, method=rule, return_convergence_delta=True
            )
            factor = (steps - 1) / steps if rule == "riemann_trapezoid" else 1.0
            assert _close(maps * factor, c_maps, 1e-6), rule  # captum's weights are float32
            assert torch.allclose(delta, maps.flatten(1).sum(1) - gap, atol=1e-12)
            expected = delta if factor == 1 else factor * (delta + gap) - gap
            assert torch.allclose(expected, c_delta, atol=1e-6 * gap.abs().max()), rule


def test_gradient_shap_by_hand_on_a_linear_model():
    """One baseline, no noise: every draw gives (x - b) * w, whatever alpha. With noise the
    mean of the draws' (x + eps_s - b) * w, eps_s the documented draws."""
    model, x, t, b = _linear(), _x(2, 6), [0, 2], _x(1, 6, seed=4)
    w = model[1].weight.view(4, 3, 6, 6)[t]
    assert _close(gradient_shap(model, x, t, baselines=b, samples=3, seed=5), (x - b) * w, 1e-6)
    noisy = gradient_shap(model, x, t, baselines=b, samples=4, stdevs=0.3, seed=5)
    eps = torch.randn((4, 3, 6, 6), generator=torch.Generator().manual_seed(5)) * 0.3
    assert _close(noisy, (x - b + eps.mean(0)) * w, 1e-6)
    # "noise": `samples` uniform images, then the same draws as for that tensor (no stdevs)
    dist = _noise_image((3, 3, 6, 6), seed=5)
    assert torch.equal(
        gradient_shap(model, x, t, samples=3, seed=5),
        gradient_shap(model, x, t, baselines=dist, samples=3, seed=5),
    )


def test_smoothgrad_types():
    model, x, t = _tiny_cnn(), _x(2, 12), [5, 9]
    plain = smoothgrad(model, x, t, samples=4, seed=1)
    # the default is unchanged, to the bit: the mean of the documented noisy gradients
    noise = torch.randn((4, 3, 12, 12), generator=torch.Generator().manual_seed(1))
    scale = 0.15 * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    noisy = (x[:, None] + scale.view(2, 1, 1, 1, 1) * noise).flatten(0, 1)
    g = input_gradient(model, noisy, [5] * 4 + [9] * 4)  # the default batch_size=8: one pass
    assert torch.equal(plain, g.view(2, 4, 3, 12, 12).mean(1))
    assert torch.equal(plain, smoothgrad(model, x, t, samples=4, seed=1, nt_type="smoothgrad"))
    sq = smoothgrad(model, x, t, samples=4, seed=1, nt_type="smoothgrad_sq")
    var = smoothgrad(model, x, t, samples=4, seed=1, nt_type="vargrad")
    assert _close(var, sq - plain**2) and (var >= 0).all() and (sq >= 0).all()
    one = [smoothgrad(model, x, t, samples=1, nt_type=k) for k in NT_TYPES]
    assert torch.equal(one[1], one[0] ** 2) and torch.equal(one[2], torch.zeros_like(x))


# --- against captum, on the offline EfficientNet and a torchvision network -----------------


@pytest.fixture(params=["resnet18", "effnet"])
def model_and_photo(request, photos_batch):
    """ResNet-18 (random seeded weights) on noise 32 x 32; the EfficientNet on chelsea, resized
    to 96 x 96 (at 224 x 224 the differences are the same, measured, for twice the time)."""
    model = request.getfixturevalue(request.param)
    if request.param == "resnet18":
        return model, _x(1, 32, seed=7), 3
    return model, F.interpolate(photos_batch[:1], size=96, mode="bilinear", antialias=True), 285


def test_against_captum(model_and_photo):
    model, x, t = model_and_photo
    assert _close(gradient_x_input(model, x, t), InputXGradient(model).attribute(x, target=t))
    # every rule, each with another kind of baseline, given to captum as the tensor it is
    kinds = [*BASELINES, _x(1, x.shape[-1], seed=8)]
    for rule, kind in zip(RULES, kinds, strict=True):
        maps, delta = integrated_gradients(
            model, x, t, baseline=kind, steps=3, rule=rule, return_delta=True
        )
        b = _baseline(kind, x) if isinstance(kind, str) else kind
        c_maps, c_delta = IntegratedGradients(model).attribute(
            x, b, target=t, n_steps=3, method=rule, return_convergence_delta=True
        )
        factor = 2 / 3 if rule == "riemann_trapezoid" else 1.0  # see test_delta_is_captums
        assert _close(maps * factor, c_maps), (rule, (maps * factor - c_maps).abs().max())
        if factor == 1:
            assert torch.allclose(delta, c_delta, atol=1e-5 * max(1.0, c_delta.abs().item()))
    dist = _x(3, x.shape[-1], seed=9)
    ours = gradient_shap(model, x, t, baselines=dist, samples=3, stdevs=0.1, seed=4)
    xu.set_seed(4)  # captum draws the baselines' indices and alphas from numpy's global
    # generator, the noise from torch's: seeded so, the same draws as ours for one sample
    c_shap = GradientShap(model).attribute(x, dist, n_samples=3, stdevs=0.1, target=t)
    assert _close(ours, c_shap)
    # SmoothGrad: captum's stdevs is absolute, ours a fraction of the sample's range
    stdev = float(0.15 * (x.max() - x.min()))
    for kind in NT_TYPES:
        ours = smoothgrad(model, x, t, samples=3, seed=2, nt_type=kind)
        torch.manual_seed(2)
        tunnel = NoiseTunnel(Saliency(model))
        c_nt = tunnel.attribute(x, nt_type=kind, nt_samples=3, stdevs=stdev, target=t, abs=False)
        assert _close(ours, c_nt), kind
    assert xu.count_hooks(model) == 0


def test_gradient_shap_noise_against_captum():
    model, x = _tiny_cnn(), _x(1, 8)
    ours = gradient_shap(model, x, 4, samples=5, stdevs=0.2, seed=6, batch_size=3)
    xu.set_seed(6)  # "noise": our generator draws the images first, then the noise
    dist = _noise_image((5, 3, 8, 8), seed=6)
    torch.rand((5, 3, 8, 8))  # the same draws from the global generator
    c_shap = GradientShap(model).attribute(x, dist, n_samples=5, stdevs=0.2, target=4)
    assert _close(ours, c_shap)


# --- batches, seeds, the model's state, bad input -------------------------------------------


def test_a_batch_equals_single_runs_and_batch_size_changes_nothing():
    model, x, t = _tiny_cnn(), _x(3, 8), [1, 4, 7]
    runs = {
        "ig": lambda x, t, bs: integrated_gradients(model, x, t, steps=4, batch_size=bs),
        "ig-noise": lambda x, t, bs: integrated_gradients(
            model, x, t, baseline="noise", steps=3, rule="riemann_middle", batch_size=bs),
        "ig-blur": lambda x, t, bs: integrated_gradients(
            model, x, t, baseline="blur", steps=3, batch_size=bs),
        "shap": lambda x, t, bs: gradient_shap(model, x, t, samples=4, stdevs=0.1, batch_size=bs),
        "vargrad": lambda x, t, bs: smoothgrad(model, x, t, samples=3, batch_size=bs,
                                               nt_type="vargrad"),
        "gxi": lambda x, t, bs: gradient_x_input(model, x, t),
    }  # fmt: skip
    for name, run in runs.items():
        batch = run(x, t, 5)
        assert batch.shape == x.shape and batch.dtype == x.dtype and torch.isfinite(batch).all()
        singles = torch.cat([run(x[i : i + 1], t[i], 5) for i in range(3)])
        assert _close(batch, singles, 1e-6), name
        for bs in (1, 7, 64):
            assert _close(run(x, t, bs), batch, 1e-6), (name, bs)
    # target=None: each sample's top-1 on x
    with torch.no_grad():
        top1 = model(x).argmax(1).tolist()
    assert torch.equal(integrated_gradients(model, x, None), integrated_gradients(model, x, top1))
    assert torch.equal(gradient_shap(model, x, None), gradient_shap(model, x, top1))


def test_seeds_are_private_and_matter():
    model, x = _tiny_cnn(), _x(2, 8)
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()  # noqa: NPY002
    a = gradient_shap(model, x, 3, samples=3, stdevs=0.1, seed=1)
    assert torch.equal(a, gradient_shap(model, x, 3, samples=3, stdevs=0.1, seed=1))
    assert not _close(a, gradient_shap(model, x, 3, samples=3, stdevs=0.1, seed=2))
    ig = integrated_gradients(model, x, 3, baseline="noise", steps=2, seed=1)
    assert not _close(ig, integrated_gradients(model, x, 3, baseline="noise", steps=2, seed=2))
    assert torch.equal(torch_state, torch.random.get_rng_state())
    np_after = np.random.get_state()  # noqa: NPY002
    assert all(np.array_equal(u, v) for u, v in zip(np_state, np_after, strict=True))


def test_float64_and_bfloat16_stay_in_their_dtype():
    x = _x(2, 8)
    reference = integrated_gradients(_tiny_cnn(), x, 3, steps=4)
    for dtype in (torch.float64, torch.bfloat16):
        model = _tiny_cnn().to(dtype)
        maps, delta = integrated_gradients(model, x.to(dtype), 3, steps=4, return_delta=True)
        assert maps.dtype == delta.dtype == dtype
        assert _close(maps.float(), reference, 5e-2 if dtype == torch.bfloat16 else 1e-5)
        assert gradient_shap(model, x.to(dtype), 3, samples=2).dtype == dtype


def _state(model: nn.Module) -> list:
    return [
        [(m.training, getattr(m, "inplace", None), "forward" in m.__dict__)
         for m in model.modules()],
        [(p.requires_grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()],
        xu.count_hooks(model),
    ]  # fmt: skip


def _same(a: list, b: list) -> bool:
    grads = all(
        (g is None and h is None) or (g is not None and h is not None and torch.equal(g, h))
        for (_, g), (_, h) in zip(a[1], b[1], strict=True)
    )
    return a[0] == b[0] and [f for f, _ in a[1]] == [f for f, _ in b[1]] and grads and a[2] == b[2]


def test_the_model_is_left_as_it_was(resnet18):
    resnet18.layer2.train()  # a mixed mode must come back mixed
    resnet18.conv1.weight.grad = torch.ones_like(resnet18.conv1.weight)  # a user's .grad
    resnet18.fc.bias.requires_grad_(False)  # a frozen parameter
    try:
        before, x = _state(resnet18), _x(2, 32)
        gradient_x_input(resnet18, x, [1, 2])
        integrated_gradients(resnet18, x, None, steps=2, baseline="blur", return_delta=True)
        gradient_shap(resnet18, x, 3, samples=2, stdevs=0.1)
        smoothgrad(resnet18, x, 3, samples=2, nt_type="smoothgrad_sq")
        assert _same(_state(resnet18), before) and xu.count_hooks(resnet18) == 0
        assert resnet18.layer2.training and not resnet18.training
    finally:
        resnet18.eval()
        resnet18.conv1.weight.grad = None
        resnet18.fc.bias.requires_grad_(True)


BAD = {
    "steps 0": (lambda m, x: integrated_gradients(m, x, 0, steps=0), ValueError, "steps"),
    "steps -2": (lambda m, x: integrated_gradients(m, x, 0, steps=-2), ValueError, "steps"),
    "steps 2.0": (lambda m, x: integrated_gradients(m, x, 0, steps=2.0), TypeError, "steps"),
    "one Riemann step": (
        lambda m, x: integrated_gradients(m, x, 0, steps=1, rule="riemann_left"),
        ValueError, "steps must be >= 2"),
    "unknown rule": (
        lambda m, x: integrated_gradients(m, x, 0, rule="simpson"), ValueError,
        "rule must be one of 'gausslegendre', 'riemann_left'"),
    "batch_size 0": (
        lambda m, x: integrated_gradients(m, x, 0, batch_size=0), ValueError, "batch_size"),
    "baseline shape": (
        lambda m, x: integrated_gradients(m, x, 0, baseline=x[:, :2]), ValueError, "baseline"),
    "baseline batch": (
        lambda m, x: integrated_gradients(m, x, 0, baseline=torch.cat([x, x])), ValueError,
        "baseline"),
    "baseline 3-D": (
        lambda m, x: integrated_gradients(m, x, 0, baseline=x[0]), ValueError, "baseline"),
    "baseline kind": (
        lambda m, x: integrated_gradients(m, x, 0, baseline="white"), ValueError,
        "baseline must be one of 'zero', 'black', 'blur', 'noise'"),
    "baseline number": (
        lambda m, x: integrated_gradients(m, x, 0, baseline=0.0), TypeError, "baseline"),
    "baseline NaN": (
        lambda m, x: integrated_gradients(m, x, 0, baseline=x * float("nan")), ValueError,
        "baseline"),
    "blur too small": (
        lambda m, x: integrated_gradients(m, x[..., :5, :5], 0, baseline="blur"), ValueError,
        "baseline"),
    "pre": (lambda m, x: integrated_gradients(m, x, 0, pre="imagenet"), TypeError, "pre"),
    "return_delta": (
        lambda m, x: integrated_gradients(m, x, 0, return_delta=1), TypeError, "return_delta"),
    "samples 0": (lambda m, x: gradient_shap(m, x, 0, samples=0), ValueError, "samples"),
    "stdevs < 0": (lambda m, x: gradient_shap(m, x, 0, stdevs=-0.1), ValueError, "stdevs"),
    "baselines shape": (
        lambda m, x: gradient_shap(m, x, 0, baselines=x[:, :, :4]), ValueError, "baselines"),
    "baselines kind": (
        lambda m, x: gradient_shap(m, x, 0, baselines="zero"), ValueError, "baselines"),
    "baselines list": (
        lambda m, x: gradient_shap(m, x, 0, baselines=[x]), TypeError, "baselines"),
    "nt_type": (lambda m, x: smoothgrad(m, x, 0, nt_type="var"), ValueError, "nt_type"),
    "sg samples 0": (lambda m, x: smoothgrad(m, x, 0, samples=0), ValueError, "samples"),
    "target": (lambda m, x: integrated_gradients(m, x, 99), ValueError, "target"),
    "x without batch axis": (lambda m, x: gradient_shap(m, x[0], 0), ValueError, "unsqueeze"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_a_clear_error_naming_the_argument(case):
    model, x = _tiny_cnn(), _x(2, 8)
    call, error, words = BAD[case]
    before = _state(model)
    with pytest.raises(error, match=words):
        call(model, x)
    assert _same(_state(model), before)


def test_black_and_noise_need_images_with_the_preprocessings_channels():
    model = _seeded(lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 2)))
    gray = _x(1, 8, c=1)
    for kind in ("black", "noise"):
        with pytest.raises(ValueError, match=f"baseline={kind!r} is an image in pixel space"):
            integrated_gradients(model, gray, 0, baseline=kind)
    with pytest.raises(ValueError, match="baselines='noise'"):
        gradient_shap(model, gray, 0)
    # "black" follows the preprocessing: ResNet's is ImageNet's mean and std
    model, x = _linear(), _x(1, 6)
    pre = xu.preprocessing("resnet18")
    b = pre.standardize(torch.zeros(1, 3, 6, 6))
    maps = integrated_gradients(model, x, 0, baseline="black", pre=pre)
    assert _close(maps, (x - b) * model[1].weight[0].view(3, 6, 6), 1e-6)


def test_quadrature_rules_are_captums_and_refuse_bad_input():
    from captum.attr._utils.approximation_methods import approximation_parameters

    for rule in RULES:
        alphas, weights = xm.quadrature(rule, 5)
        step_sizes, c_alphas = approximation_parameters(rule)
        assert torch.allclose(alphas, torch.tensor(c_alphas(5), dtype=torch.float64), atol=1e-7)
        factor = 5 / 4 if rule == "riemann_trapezoid" else 1.0  # captum's add up to 4/5
        assert torch.allclose(weights, torch.tensor(step_sizes(5), dtype=torch.float64) * factor)
        assert abs(weights.sum().item() - 1) < 1e-12
    with pytest.raises(ValueError, match="rule must be one of"):
        xm.quadrature("simpson", 5)
    with pytest.raises(ValueError, match="steps must be >= 2"):
        xm.quadrature("riemann_left", 1)
