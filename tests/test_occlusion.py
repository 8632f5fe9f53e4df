"""Occlusion (lesson 02): by hand on a tiny model, against captum, and on bad input."""

import dataclasses

import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from PIL import Image
from torch import nn

import xaiutils as xu
from xaiutils.methods.occlusion import occlusion, window_starts


class PixelSum(nn.Module):
    """Two classes: logit 0 = sum of the pixels in the top-left 2 x 2 corner, logit 1 = 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        corner = x[:, :, :2, :2].sum(dim=(1, 2, 3))
        return torch.stack([corner, torch.ones_like(corner)], dim=1)


def test_by_hand_on_a_model_that_reads_one_corner():
    x = torch.ones(1, 1, 4, 4)
    res = occlusion(PixelSum(), x, 0, window=2, stride=2, fill=0.0)
    # Windows at (0,0), (0,2), (2,0), (2,2); only the first hides the corner: logit 4 -> 0.
    assert res.ys == res.xs == (0, 2) and res.window == (2, 2) and res.size == (4, 4)
    assert torch.equal(res.logit[0], torch.tensor([[0.0, 4.0], [4.0, 4.0]]))
    p4, p0 = torch.sigmoid(torch.tensor([3.0, -1.0]))  # softmax of (4, 1) and (0, 1), class 0
    assert torch.allclose(res.prob[0], torch.stack([torch.stack([p0, p4]), p4.repeat(2)]))
    assert torch.allclose(res.base_prob, p4[None]) and res.base_logit.item() == 4.0
    # Hiding the corner makes class 1 the most probable, with probability 1 - p0.
    assert res.top_class[0].tolist() == [[1, 0], [0, 0]]
    assert torch.allclose(res.top_prob[0, 0, 0], 1 - p0)
    assert torch.equal(res.drop("logit")[0], torch.tensor([[4.0, 0.0], [0.0, 0.0]]))
    # Spread back to pixels: the corner's 4 pixels are covered by one window only.
    pixels = res.to_pixels(res.drop("logit"))[0]
    assert torch.equal(pixels, torch.tensor([[4.0] * 2 + [0.0] * 2] * 2 + [[0.0] * 4] * 2))


def test_fill_per_channel_and_top_class():
    x = torch.zeros(1, 2, 4, 4)
    res = occlusion(PixelSum(), x, None, window=(2, 4), stride=(2, 4), fill=[1.0, 3.0])
    # Unoccluded: logits (0, 1), so the target is the top-1, class 1, whose logit never moves.
    # The top window fills the corner: logit 0 = 4 * 1 + 4 * 3 = 16, and class 0 wins.
    assert res.targets.tolist() == [1] and res.prob.shape == (1, 2, 1)
    assert torch.equal(res.logit[0, :, 0], torch.tensor([1.0, 1.0]))
    assert res.top_class[0, :, 0].tolist() == [0, 1]
    assert torch.allclose(res.prob[0, 0, 0], torch.sigmoid(torch.tensor(-15.0)))


def test_window_starts_follow_captum():
    # 13 positions, the last one ends at 224
    assert window_starts(224, 32, 16) == list(range(0, 193, 16))
    assert window_starts(10, 4, 4) == [0, 4, 8]  # the last window is cut at the border
    assert window_starts(5, 5, 3) == [0]


def test_stride_larger_than_window_leaves_pixels_uncovered():
    res = occlusion(PixelSum(), torch.ones(1, 1, 5, 5), 0, window=2, stride=3)
    assert res.ys == res.xs == (0, 3) and res.box(1, 1) == (3, 3, 5, 5)
    pixels = res.to_pixels(torch.ones(1, 2, 2))[0]
    assert torch.equal(pixels[2], torch.zeros(5)) and torch.equal(pixels[:, 2], torch.zeros(5))
    assert pixels.sum() == 16  # the 4 windows of 2 x 2 pixels, each counted once
    with pytest.raises(ValueError, match="does not match the 2 x 2 window positions"):
        res.to_pixels(torch.ones(1, 3, 3))


@pytest.mark.parametrize(
    "score, window, stride",
    [("logit", 32, 16), ("prob", 32, 16), ("logit", 40, 32), ("prob", 28, 28)],
)
def test_matches_captum_occlusion(effnet, score, window, stride):
    """captum's attribution = mean over the covering windows of (base score - occluded score).

    At 112 x 112 to keep it fast (the EfficientNet takes any size): 6 x 6, 4 x 4 (the last
    window cut at the border) and 4 x 4 (no overlap) positions.
    """
    pre = dataclasses.replace(xu.preprocessing(), size=(112, 112))
    x = pre(xu.load_photo("coffee"))
    ours = occlusion(effnet, x, 967, window=window, stride=stride, fill=0.0, batch_size=16)
    forward = effnet if score == "logit" else (lambda z: effnet(z).softmax(dim=1))
    theirs = Occlusion(forward).attribute(
        x,
        sliding_window_shapes=(3, window, window),
        strides=(3, stride, stride),
        baselines=0.0,
        target=967,
        perturbations_per_eval=16,
    )
    expected = ours.to_pixels(ours.drop(score))  # (1, 112, 112), the same on every channel
    assert theirs.shape == (1, 3, 112, 112)
    scale = theirs.abs().max().item()
    # Tolerance: float32 forwards of the same inputs, batched differently: 1e-4 of the largest.
    assert (theirs - expected[:, None]).abs().max().item() <= 1e-4 * scale + 1e-7


def test_batch_size_does_not_change_the_result(effnet, photos_batch):
    runs = [occlusion(effnet, photos_batch, [285, 967], window=112, stride=56, batch_size=b)
            for b in (1, 4, 7)]  # fmt: skip
    for res in runs[1:]:
        assert torch.allclose(res.prob, runs[0].prob, atol=1e-5)
        assert torch.allclose(res.logit, runs[0].logit, atol=1e-4)
        assert torch.equal(res.top_class, runs[0].top_class)


def test_a_batch_equals_single_runs(effnet, photos_batch):
    both = occlusion(effnet, photos_batch, None, window=112, stride=56)
    for i in range(2):
        one = occlusion(effnet, photos_batch[i : i + 1], None, window=112, stride=56)
        assert torch.equal(one.targets, both.targets[i : i + 1])
        assert torch.allclose(one.prob, both.prob[i : i + 1], atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"window": 300}, r"window \(300 x 300\) is larger than the image \(224 x 224\)"),
        ({"window": (16, 225)}, "larger than the image"),
        ({"stride": 0}, "stride must be an int >= 1"),
        ({"stride": -4}, "stride must be an int >= 1"),
        ({"window": 0}, "window must be an int >= 1"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"fill": [0.0, 0.0]}, "fill has 2 values for 3 channels"),
    ],
)
def test_bad_window_stride_or_fill_gets_a_clear_error(effnet, kwargs, match):
    x = torch.zeros(1, 3, 224, 224)
    with pytest.raises(ValueError, match=match):
        occlusion(effnet, x, 0, **kwargs)
    assert xu.count_hooks(effnet) == 0 and not effnet.training


def test_unbatched_input_is_refused(effnet):
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        occlusion(effnet, torch.zeros(3, 224, 224), 0)


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grayscale_and_rgba_photos_work(effnet, mode):
    rgb = xu.load_photo("chelsea").resize((224, 224))
    if mode == "L":
        photo = rgb.convert("L")
    else:  # fully opaque alpha: compositing over white changes nothing
        photo = Image.fromarray(np.dstack([np.asarray(rgb), np.full((224, 224), 255, np.uint8)]))
    x = xu.preprocessing()(xu.to_rgb(photo))
    res = occlusion(effnet, x, 285, window=112, stride=112)
    assert x.shape == (1, 3, 224, 224) and res.prob.shape == (1, 2, 2)
    assert torch.isfinite(res.prob).all() and (res.prob <= 1).all()
    if mode == "RGBA":
        reference = occlusion(effnet, xu.preprocessing()(rgb), 285, window=112, stride=112)
        assert torch.allclose(res.prob, reference.prob)


def test_model_unchanged_after_the_call(resnet18):
    resnet18.train()
    resnet18.fc.weight.requires_grad_(False)
    stats = resnet18.bn1.running_mean.clone()
    state = {k: v.clone() for k, v in resnet18.state_dict().items()}
    try:
        occlusion(resnet18, torch.randn(2, 3, 64, 64), [1, 2], window=32, stride=32)
        assert resnet18.training and all(m.training for m in resnet18.modules())
        assert not resnet18.fc.weight.requires_grad and resnet18.conv1.weight.requires_grad
        assert torch.equal(resnet18.bn1.running_mean, stats)  # eval mode inside: no update
        assert all(torch.equal(v, state[k]) for k, v in resnet18.state_dict().items())
        assert xu.count_hooks(resnet18) == 0
        assert all(p.grad is None for p in resnet18.parameters())
    finally:
        resnet18.eval()
        resnet18.fc.weight.requires_grad_(True)
