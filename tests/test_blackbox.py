"""RISE and LIME (lesson 04): agreement with TorchRay's ``rise`` and captum's ``Lime`` fed the
same random draws, the paper's masks, hand-made models whose answers are known, and the
course's conventions (batches, seeds, ``batch_size``, bad input, the model left alone)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xaiutils as xu
from xaiutils.blackbox_libraries import captum_lime, torchray_rise
from xaiutils.methods.lime import lime, superpixels
from xaiutils.methods.rise import _MaskDraw, rise, rise_masks


def small_net(seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 5),
    )
    return net.to(dtype).train()


def batch(n: int = 3, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def close(a: torch.Tensor, b: torch.Tensor, rel: float) -> bool:
    """Equal up to ``rel`` times the larger map's largest magnitude."""
    return bool((a - b).abs().max() <= rel * max(a.abs().max(), b.abs().max()))


# --- RISE against TorchRay, and the paper's masks ----------------------------------------------


@pytest.mark.parametrize("net", ["effnet", "resnet18"])
def test_rise_equals_torchray_with_the_same_masks(net, request, photos_batch):
    model = request.getfixturevalue(net)
    x, count = (photos_batch[:1], 32) if net == "effnet" else (photos_batch[:, :, ::2, ::2], 24)
    with torch.no_grad():
        target = model(x).argmax(1).tolist()
    ours = rise(model, x, target, masks=count, p=0.5, batch_size=16)
    masks = rise_masks(count, tuple(x.shape[2:]), p=0.5)
    # TorchRay divides by N; the paper (and we) by N * E[M] = N * p.
    assert close(ours, torchray_rise(model, x, target, masks, 16) / 0.5, 1e-5)


def test_rise_masks_are_the_papers():
    """A grid upsampled by skimage's ``resize(order=1, mode="reflect")`` to (grid + 1) cells
    and cropped at the drawn shift, as in the paper's code (TorchRay rounds its cells to 37 px
    instead of 36.6 at 224 x 224 and emulates the border with a padding)."""
    from skimage.transform import resize

    for h, w, grid in [(224, 224, 7), (10, 13, 7), (30, 20, 1), (9, 9, 3)]:
        draw = _MaskDraw(4, (h, w), grid, 0.5, seed=0)
        masks = draw.masks(torch.arange(4))
        ch, cw = -(-h // grid), -(-w // grid)
        for i in range(4):
            up = resize(draw.cells[i].numpy(), ((grid + 1) * ch, (grid + 1) * cw), order=1,
                        mode="reflect", anti_aliasing=False)  # fmt: skip
            y, x = draw.shift[0][i].item(), draw.shift[1][i].item()
            np.testing.assert_allclose(masks[i].numpy(), up[y : y + h, x : x + w], atol=1e-12)
    m = rise_masks(500, (16, 16), p=0.3)
    assert m.min() >= 0 and m.max() <= 1 and abs(m.mean().item() - 0.3) < 0.02


def test_rise_normalisation():
    model, x = small_net(), batch(2)
    with xu.preserved_state(model), torch.no_grad():
        prob = model(x).softmax(1)[:, 3]
    ones = rise(model, x, 3, masks=torch.ones(5, 16, 16))  # every mask keeps everything
    assert torch.allclose(ones, prob[:, None, None].expand(2, 16, 16), atol=1e-7)
    # Masks given: the drawn ones, normalised by their mean instead of p.
    masks = rise_masks(20, (16, 16), p=0.4, seed=3)
    given = rise(model, x, 3, masks=masks)
    drawn = rise(model, x, 3, masks=20, p=0.4, seed=3)
    assert close(given * masks.double().mean().item(), drawn * 0.4, 1e-6)
    # A model blind to its input: P(c | x * M) = 1/5 for any mask, so the map is about 1/5
    # everywhere (sum M_i / (N p) -> 1); p = 0.3 checks the division by p.
    blind = nn.Sequential(nn.Conv2d(3, 1, 1), nn.Flatten(), nn.Linear(256, 5)).eval()
    nn.init.zeros_(blind[2].weight)
    nn.init.zeros_(blind[2].bias)
    maps = rise(blind, x[:1], 0, masks=2000, p=0.3, batch_size=500)
    assert abs(maps.mean().item() - 0.2) < 0.005 and (maps - 0.2).abs().max() < 0.03


# --- LIME against captum, and a model LIME must recover exactly ------------------------------


@pytest.mark.parametrize("net", ["effnet", "resnet18"])
def test_lime_equals_captum_with_the_same_samples(net, request, photos_batch):
    model = request.getfixturevalue(net)
    x = photos_batch[1:] if net == "effnet" else photos_batch[1:, :, ::2, ::2]
    labels = superpixels(x)[0]
    with torch.no_grad():
        target = int(model(x).argmax())
    ours = lime(model, x, target, segments=labels, samples=24, batch_size=12, baseline=0.0)
    ref = captum_lime(model, x, target, labels, 24, kernel_width=0.25, alpha=1.0, baseline=0.0)
    # captum fits in float32 (it casts samples, outputs and weights), we in float64.
    assert close(ours[0], ref, 1e-5)  # measured: 1.7e-7 (EfficientNet), 3.8e-7 (ResNet-18)


def test_lime_recovers_a_linear_model_exactly():
    """A "classifier" whose probability is linear in which superpixels are kept: LIME's
    weighted least squares (alpha = 0) returns the weights, whatever the kernel."""
    labels = torch.tensor([[0, 0, 1, 1, 1, 2], [0, 3, 3, 1, 2, 2], [4, 4, 3, 5, 5, 5]] * 2)
    weights = torch.tensor([0.10, -0.05, 0.20, 0.03, -0.12, 0.07], dtype=torch.float64)
    size = torch.bincount(labels.flatten()).double()

    class Linear(nn.Module):
        def forward(self, x):  # x: ones where kept, 0 elsewhere
            kept = torch.zeros(len(x), 6, dtype=x.dtype).index_add_(
                1, labels.flatten(), x[:, 0].flatten(1)) / size  # fmt: skip
            p = 0.4 + kept @ weights
            return torch.stack([p.log(), (-p).log1p()], dim=1)

    x = torch.ones(2, 1, 6, 6, dtype=torch.float64)
    for width in (0.25, 3.0):
        maps = lime(Linear(), x, 0, segments=labels, samples=40, alpha=0.0, kernel_width=width)
        assert torch.allclose(maps, weights[labels].expand(2, 6, 6), atol=1e-12, rtol=0)
    shrunk = lime(Linear(), x, 0, segments=labels, samples=40, alpha=1.0)
    assert shrunk.abs().max() < weights.abs().max()  # the ridge penalty shrinks them


def test_superpixels_and_labels():
    x = batch(2, 20)
    labels = superpixels(x)
    assert labels.shape == (2, 20, 20) and labels.dtype == torch.int64
    for lab in labels:
        assert torch.equal(lab.unique(), torch.arange(int(lab.max()) + 1))
    assert superpixels(x, "quickshift").shape == (2, 20, 20)
    model = small_net()
    # Labels with any values, shared (H, W) or one map per sample, give the same maps.
    ours = lime(model, x, 1, segments=labels * 7 + 3, samples=16)
    assert torch.equal(ours, lime(model, x, 1, segments=labels, samples=16))
    one = lime(model, x, 1, segments=labels[0], samples=16)
    assert torch.equal(one, lime(model, x, 1, segments=labels[[0, 0]], samples=16))


# --- The conventions: batches, seeds, batch_size, the model, bad input ------------------------

CALLS = {
    "rise": lambda m, x, t, **kw: rise(m, x, t, masks=12, **kw),
    "lime": lambda m, x, t, **kw: lime(m, x, t, samples=12, **kw),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_one_image_for_several_classes_shares_its_forwards(name):
    call, model, x = CALLS[name], small_net().eval(), batch(2)
    seen = []
    model.register_forward_hook(lambda module, args, out: seen.append(len(args[0])))
    together = call(model, x[[0, 0, 1, 0]], [1, 3, 1, 0], batch_size=5)
    copies_together = sum(seen[1:])  # the first forward finds the targets
    seen.clear()
    alone = [
        call(model, x[i : i + 1], t, batch_size=5) for i, t in [(0, 1), (0, 3), (1, 1), (0, 0)]
    ]
    assert close(together, torch.cat(alone), 1e-6)
    assert copies_together == 2 * 12  # two images, 12 copies each: not four images
    assert sum(seen) == 4 * (1 + 12)  # alone: each call finds its target, then 12 copies


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batch_seed_and_batch_size(name, dtype):
    call, model, x = CALLS[name], small_net(dtype=dtype), batch().to(dtype)
    target = [0, 4, 2]
    maps = call(model, x, target, batch_size=5)
    assert maps.shape == (3, 16, 16) and maps.dtype == dtype and torch.isfinite(maps).all()
    singles = torch.cat([call(model, x[i : i + 1], target[i], batch_size=5) for i in range(3)])
    assert close(maps, singles, 1e-5)
    for size in (1, 7, 100):
        assert close(call(model, x, target, batch_size=size), maps, 1e-5)
    assert torch.equal(call(model, x, target, batch_size=5), maps)  # the same seed repeats
    assert not close(call(model, x, target, batch_size=5, seed=1), maps, 1e-3)
    state = torch.get_rng_state()
    call(model, x, None)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is never touched


@pytest.mark.parametrize("name", list(CALLS))
def test_the_model_is_left_alone(name):
    model, x = small_net(), batch(2)
    model[0].weight.requires_grad_(False)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    grads = [p.grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    CALLS[name](model, x, None)
    assert xu.count_hooks(model) == 0 and model.training and model[1].training
    assert [p.requires_grad for p in model.parameters()] == [False] + [True] * 7
    assert all(
        p.grad is g and bool((g == 1).all()) for p, g in zip(model.parameters(), grads, strict=True)
    )
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


BAD = [
    ("rise", {"masks": 0}, "masks"),
    ("rise", {"masks": -3}, "masks"),
    ("rise", {"masks": 2.5}, "masks"),
    ("rise", {"masks": torch.ones(3, 8, 8)}, "masks"),
    ("rise", {"masks": -torch.ones(3, 16, 16)}, "masks"),
    ("rise", {"grid": 0}, "grid"),
    ("rise", {"p": 0}, "p "),
    ("rise", {"p": 1}, "p "),
    ("rise", {"p": 1.5}, "p "),
    ("rise", {"p": float("nan")}, "p "),
    ("rise", {"seed": -1}, "seed"),
    ("rise", {"batch_size": 0}, "batch_size"),
    ("lime", {"samples": 0}, "samples"),
    ("lime", {"samples": "10"}, "samples"),
    ("lime", {"segments": "slick"}, "segments"),
    ("lime", {"segments": 3}, "segments"),
    ("lime", {"segments": torch.zeros(16, 15, dtype=torch.long)}, "segments"),
    ("lime", {"segments": torch.zeros(3, 16, 16, dtype=torch.long)}, "segments"),
    ("lime", {"segments": torch.zeros(16, 16)}, "segments"),
    ("lime", {"baseline": torch.zeros(2, 16, 16)}, "baseline"),
    ("lime", {"baseline": "grey"}, "baseline"),
    ("lime", {"baseline": float("inf")}, "baseline"),
    ("lime", {"kernel_width": 0}, "kernel_width"),
    ("lime", {"alpha": -1.0}, "alpha"),
    ("lime", {"batch_size": 1.0}, "batch_size"),
]


@pytest.mark.parametrize(("name", "options", "word"), BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_bad_arguments_are_refused_by_name(name, options, word):
    model, x = small_net(), batch(2)
    fn = {"rise": rise, "lime": lime}[name]
    with pytest.raises((ValueError, TypeError), match=word):
        fn(model, x, 0, **options)
    assert xu.count_hooks(model) == 0 and model.training
