import pytest
import torch
import torch.nn.functional as F
from tiny import A0, A1, X_TINY, TinyGapNet

import xaiutils as xu
from xaiutils.methods import cam, grad_cam, upsample


def test_cam_by_hand():
    model = TinyGapNet().eval()
    assert torch.allclose(cam(model, X_TINY, 0)[0], 1.0 * A0 + 2.0 * A1)
    assert torch.allclose(cam(model, X_TINY, 1)[0], -1.0 * A0 + 0.5 * A1)
    assert torch.allclose(cam(model, X_TINY, 1, relu=True)[0], (-A0 + 0.5 * A1).clamp_min(0))


def test_grad_cam_by_hand():
    model = TinyGapNet().eval()
    # d y_c / d A_k(i, j) = w_ck / 4, so alpha_k = w_ck / 4 and Grad-CAM = ReLU(CAM) / 4.
    expected = ((-A0 + 0.5 * A1) / 4).clamp_min(0)
    assert torch.allclose(grad_cam(model, X_TINY, 1, "features")[0], expected)
    raw = grad_cam(model, X_TINY, 1, "features", relu=False)[0]
    assert torch.allclose(raw, (-A0 + 0.5 * A1) / 4)
    counter = grad_cam(model, X_TINY, 1, "features", counterfactual=True)[0]
    assert torch.allclose(counter, (-raw).clamp_min(0))


def test_target_none_is_top1():
    model = TinyGapNet().eval()
    with torch.no_grad():
        top1 = model(X_TINY).argmax(1).item()
    assert torch.equal(cam(model, X_TINY, None), cam(model, X_TINY, top1))


@pytest.mark.parametrize("arch, layer", [("effnet", "bn2"), ("resnet18", "layer4")])
def test_grad_cam_equals_relu_cam_over_hw_on_gap_linear(arch, layer, request, photos_batch):
    model = request.getfixturevalue(arch)
    c = cam(model, photos_batch, None)
    g = grad_cam(model, photos_batch, None, layer)
    assert c.shape == g.shape == (2, 7, 7)
    assert torch.allclose(g, c.clamp_min(0) / 49, atol=1e-6, rtol=1e-4)


def test_cam_mean_is_logit_minus_bias(effnet, photos_batch):
    maps = cam(effnet, photos_batch, [285, 967])
    with torch.no_grad():
        logits = effnet(photos_batch)
    expected = logits[[0, 1], [285, 967]] - effnet.classifier.bias[[285, 967]]
    assert torch.allclose(maps.mean(dim=(1, 2)), expected, atol=1e-4)


def test_batch_of_four_targets_equals_four_single_runs(effnet):
    pre = xu.preprocessing()
    x = pre([xu.load_photo(n) for n in ("chelsea", "coffee", "china", "camera")])
    targets = [285, 504, 698, 759]
    for method in (lambda x, t: grad_cam(effnet, x, t, "blocks.5"), lambda x, t: cam(effnet, x, t)):
        batch = method(x, targets)
        singles = torch.cat([method(x[i : i + 1], t) for i, t in enumerate(targets)])
        assert torch.allclose(batch, singles, atol=1e-5)


def test_cam_without_gap_linear_head_points_to_grad_cam(vgg16):
    with pytest.raises(ValueError, match="global average pooling.*Use grad_cam"):
        cam(vgg16, torch.randn(1, 3, 64, 64), 0)
    assert xu.count_hooks(vgg16) == 0 and all(p.requires_grad for p in vgg16.parameters())


def test_cam_at_a_layer_that_does_not_feed_the_pooling(effnet, photos_batch):
    with pytest.raises(ValueError, match="layer 'blocks.5'"):
        cam(effnet, photos_batch, None, "blocks.5")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"layer": "blocks.9"}, xu.LayerNotFoundError, "'blocks.6'"),
        ({"target": 1000}, ValueError, "class 1000 is out of range.*0..999"),
        ({"target": -1}, ValueError, "out of range"),
        ({"target": [1, 2, 3]}, ValueError, "2 samples but 3 targets"),
        ({"x": torch.zeros(3, 224, 224)}, ValueError, r"unsqueeze\(0\)"),
    ],
)
def test_bad_input_gets_a_clear_error_and_leaves_the_model_alone(
    effnet, photos_batch, kwargs, error, match
):
    args = {"x": photos_batch, "target": None, "layer": "bn2"} | kwargs
    with pytest.raises(error, match=match):
        grad_cam(effnet, args["x"], args["target"], args["layer"])
    assert xu.count_hooks(effnet) == 0 and not effnet.training
    assert all(p.requires_grad and p.grad is None for p in effnet.parameters())


def test_model_state_restored_after_success_and_train_mode_is_respected(resnet18):
    x = torch.randn(2, 3, 64, 64)
    expected = grad_cam(resnet18, x, [1, 2], "layer3")
    resnet18.train()
    resnet18.fc.weight.requires_grad_(False)
    stats = resnet18.bn1.running_mean.clone()
    try:
        got = grad_cam(resnet18, x, [1, 2], "layer3")
        assert torch.equal(got, expected)  # computed in eval mode, batch norm untouched
        assert all(m.training for m in resnet18.modules())
        assert torch.equal(resnet18.bn1.running_mean, stats)
        flags = [p.requires_grad for p in resnet18.parameters()]
        assert flags.count(False) == 1 and not resnet18.fc.weight.requires_grad
        assert all(p.grad is None for p in resnet18.parameters())
        assert xu.count_hooks(resnet18) == 0
    finally:
        resnet18.eval()
        resnet18.fc.weight.requires_grad_(True)


def test_grad_cam_works_when_called_under_no_grad(effnet, photos_batch):
    expected = grad_cam(effnet, photos_batch, None, "blocks.6")
    with torch.no_grad():
        got = grad_cam(effnet, photos_batch, None, "blocks.6")
        assert not torch.is_grad_enabled()  # the caller's mode, although ours switched it on
    assert torch.equal(got, expected) and got.abs().sum() > 0
    assert torch.is_grad_enabled()


def test_upsample_bilinear_without_corner_alignment():
    maps = torch.arange(8.0).view(2, 2, 2)
    out = upsample(maps, (4, 6))
    assert out.shape == (2, 4, 6)
    reference = F.interpolate(maps[:, None], (4, 6), mode="bilinear", align_corners=False)[:, 0]
    assert torch.equal(out, reference)
    assert torch.equal(upsample(torch.ones(1, 7, 7), (224, 224)), torch.ones(1, 224, 224))
    with pytest.raises(ValueError, match=r"\(N, h, w\)"):
        upsample(torch.ones(7, 7), (224, 224))
