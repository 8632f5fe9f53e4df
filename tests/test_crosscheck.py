"""Our Grad-CAM and CAM against torchray, pytorch-grad-cam, torch-cam and captum (lesson 07)."""

import dataclasses
import warnings

import pytest
import torch
from torch import nn

import xaiutils as xu
from xaiutils import crosscheck as cc
from xaiutils.methods import cam, grad_cam, layer_pass

GRAD_CAM_CHECKS = tuple(c for c in cc.CHECKS if c.method == "grad_cam")
CAM_CHECKS = tuple(c for c in cc.CHECKS if c.method == "cam")
WRAPPERS = [
    cc.torchray_grad_cam,
    cc.pytorch_grad_cam_grad_cam,
    cc.torchcam_grad_cam,
    cc.captum_grad_cam,
    lambda m, x, t, layer: cc.torchcam_cam(m, x, t, layer, "fc"),
]


def _photos(name: str, size: tuple[int, int]) -> torch.Tensor:
    pre = dataclasses.replace(xu.preprocessing(name), size=size)
    return pre([xu.load_photo("chelsea"), xu.load_photo("coffee")])


@pytest.fixture(scope="module")
def resnet_batch() -> torch.Tensor:
    return _photos("resnet18", (160, 160))


@pytest.fixture(scope="module")
def vgg_batch() -> torch.Tensor:
    # Not square: a width/height swap anywhere (cv2.resize takes (W, H)) would show.
    return _photos("vgg16", (64, 96))


def _two_targets(model: nn.Module, x: torch.Tensor) -> list[int]:
    """Sample 0's top-1 and sample 1's second class: two different targets in one batch."""
    with torch.no_grad():
        top = model(x).topk(2).indices
    targets = [top[0, 0].item(), top[1, 1].item()]
    assert targets[0] != targets[1]
    return targets


def _state(model: nn.Module) -> tuple:
    return (
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        [m.inplace for m in model.modules() if hasattr(m, "inplace")],
        xu.count_hooks(model),
    )


def _same_state(a: tuple, b: tuple) -> bool:
    grads_equal = all(
        (g is None and h is None) or (g is not None and h is not None and torch.equal(g, h))
        for g, h in zip(a[2], b[2], strict=True)
    )
    return a[0] == b[0] and a[1] == b[1] and grads_equal and a[3:] == b[3:]


@pytest.mark.parametrize(
    ("name", "layer"),
    [
        ("effnet", "bn2"),
        ("effnet", "blocks.5"),
        ("resnet18", "layer4"),
        ("resnet18", "layer3"),
        ("vgg16", "features.29"),
        ("vgg16", "features.22"),
    ],
)
def test_grad_cam_agrees_with_every_library(request, name, layer, photos_batch):
    model = request.getfixturevalue(name)
    if name == "effnet":
        x, targets = photos_batch, [285, 967]
    else:
        x = request.getfixturevalue("resnet_batch" if name == "resnet18" else "vgg_batch")
        targets = _two_targets(model, x)
    before = _state(model)
    ours = grad_cam(model, x, targets, layer)
    assert (ours.flatten(1).amax(dim=1) > 0).all()  # no all-zero map: the check is not vacuous
    results = cc.crosscheck(model, x, targets, layer, GRAD_CAM_CHECKS)
    assert min(r.scale for r in results) > 0
    assert [r.check.call for r in results if not r.ok] == [], cc.table({layer: results})
    assert max(r.diff for r in results) <= 1e-5
    assert _same_state(before, _state(model))


@pytest.mark.parametrize(("name", "layer"), [("effnet", "bn2"), ("resnet18", "layer4")])
def test_cam_agrees_with_torchcam(request, name, layer, photos_batch, resnet_batch):
    model = request.getfixturevalue(name)
    x = photos_batch if name == "effnet" else resnet_batch
    targets = [285, 967] if name == "effnet" else _two_targets(model, x)
    (result,) = cc.crosscheck(model, x, targets, layer, CAM_CHECKS)
    assert result.ok and result.diff <= 1e-5


def test_library_outputs_have_the_documented_form(resnet18):
    x, t = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(0)), [1, 2]
    ours = grad_cam(resnet18, x, t, "layer4")
    raw = grad_cam(resnet18, x, t, "layer4", relu=False)
    assert (ours > 0).any() and (raw < 0).any() and ours.shape == (2, 2, 3)
    assert cc.torchray_grad_cam(resnet18, x, t, "layer4").shape == (2, 1, 2, 3)
    pgc = cc.pytorch_grad_cam_grad_cam(resnet18, x, t, "layer4")
    assert pgc.shape == (2, 64, 96) and pgc.dtype == torch.float32
    assert torch.allclose(pgc.amin(dim=(1, 2)), torch.zeros(2))
    assert torch.allclose(pgc.amax(dim=(1, 2)), torch.ones(2))
    layer_map = cc.pytorch_grad_cam_grad_cam(resnet18, x, t, "layer4", layer_map=True)
    assert cc.max_diff(layer_map, raw) <= 1e-5  # before its ReLU
    captum = cc.captum_grad_cam(resnet18, x, t, "layer4")
    assert cc.max_diff(captum[:, 0], raw) <= 1e-5  # no ReLU by default
    relu = cc.captum_grad_cam(resnet18, x, t, "layer4", relu_attributions=True)
    assert cc.max_diff(relu[:, 0], ours) <= 1e-5
    normalized = cc.torchcam_grad_cam(resnet18, x, t, "layer4", normalized=True)
    # torch-cam's min-max divides by (max - min + 1e-8); ours by (max - min).
    low = ours.amin(dim=(1, 2), keepdim=True)
    span = ours.amax(dim=(1, 2), keepdim=True) - low
    assert torch.allclose(normalized, (ours - low) / (span + 1e-8), atol=1e-6)
    theirs = cc.torchcam_cam(resnet18, x, t, "layer4", "fc", normalized=False)
    assert cc.max_diff(theirs, cam(resnet18, x, t)) <= 1e-5 and (theirs < 0).any()


def test_targets_none_and_int_mean_top1_and_the_same_class(resnet18, resnet_batch):
    x = resnet_batch[:, :, :64, :64]
    top1 = resnet18(x).argmax(dim=1).tolist()
    assert torch.equal(cc.torchray_grad_cam(resnet18, x, None, "layer4"),
                       cc.torchray_grad_cam(resnet18, x, top1, "layer4"))  # fmt: skip
    assert torch.equal(cc.captum_grad_cam(resnet18, x, 7, "layer4"),
                       cc.captum_grad_cam(resnet18, x, [7, 7], "layer4"))  # fmt: skip
    with pytest.raises(ValueError, match="2 samples but 3 targets"):
        cc.captum_grad_cam(resnet18, x, [1, 2, 3], "layer4")


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=["torchray", "pgc", "torchcam", "captum", "cam"])
def test_each_call_gives_the_model_back_as_it_was(wrapper):
    model = xu.load_model("resnet18", pretrained=False, seed=1)
    model.train()
    model.layer1.eval()  # a mixed state must come back mixed
    model.conv1.weight.requires_grad_(False)
    model.fc.weight.grad = torch.full_like(model.fc.weight, 3.0)  # a gradient the user had
    x = torch.randn(2, 3, 64, 64)
    before = _state(model)
    wrapper(model, x, [1, 2], "layer4")
    assert _same_state(before, _state(model))
    assert not x.requires_grad and x.grad is None


def test_the_libraries_alone_change_the_model():
    """What restored() guards against, seen on the raw libraries (COURSE.md's list)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchcam.methods import GradCAM as TorchcamGradCAM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchray.attribution.grad_cam import grad_cam as torchray_grad_cam

    model = xu.load_model("resnet18", pretrained=False, seed=1).train()
    x = torch.randn(1, 3, 64, 64)
    extractor = GradCAM(model, [model.layer4])
    extractor(x, [ClassifierOutputTarget(1)])
    extractor.activations_and_grads.release()
    assert not model.training  # switched to eval for good
    assert all(p.grad is not None for p in model.parameters())  # .grad on every parameter
    model.zero_grad(set_to_none=True)

    extractor = TorchcamGradCAM(model, "layer4")
    del extractor
    assert xu.count_hooks(model) == 2  # hooks outlive the extractor without `with`
    model.layer4._forward_hooks.clear()

    with torch.no_grad(), pytest.raises(RuntimeError, match="does not require grad"):
        torchray_grad_cam(model, x, 1, saliency_layer="layer4")
    assert not any(p.requires_grad for p in model.parameters())  # left frozen after the error


def _vgg_by_hand(vgg: nn.Module, x: torch.Tensor, targets: list[int]):
    """VGG16 with out-of-place ReLUs: the true output of features.28 and its gradient."""
    h = x
    for i, module in enumerate(vgg.features):
        h = torch.relu(h) if isinstance(module, nn.ReLU) else module(h)
        if i == 28:
            a = h = h.detach().requires_grad_()
    logits = vgg.classifier(torch.flatten(vgg.avgpool(h), 1))
    (g,) = torch.autograd.grad(logits.gather(1, torch.tensor(targets)[:, None]).sum(), a)
    return a.detach(), g


def _grad_cam_of(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return torch.einsum("nk,nkhw->nhw", g.mean(dim=(2, 3)), a).clamp_min(0)


def test_vgg16_features_28_under_an_in_place_relu(vgg16, vgg_batch):
    """features.28 is a conv whose output the in-place ReLU features.29 overwrites."""
    x = vgg_batch
    targets = _two_targets(vgg16, x)
    a_pre, g_pre = _vgg_by_hand(vgg16, x, targets)
    ours = layer_pass(vgg16, x, targets, "features.28")
    assert torch.equal(ours.activations, a_pre) and (a_pre < 0).any()
    assert torch.allclose(ours.gradients, g_pre, atol=1e-7)
    after = layer_pass(vgg16, x, targets, "features.29")  # post-ReLU activation and gradient
    assert torch.equal(after.activations, a_pre.clamp_min(0))
    assert torch.equal(g_pre, after.gradients * (a_pre > 0))
    true, mixed = _grad_cam_of(a_pre, g_pre), _grad_cam_of(a_pre.clamp_min(0), g_pre)
    post = _grad_cam_of(after.activations, after.gradients)  # Grad-CAM of features.29
    assert min(cc.max_diff(mixed, true), cc.max_diff(post, true), cc.max_diff(post, mixed)) > 0.01

    before = _state(vgg16)
    # Ours and captum (forward hook, a clone handed on): the true pre-ReLU map.
    assert cc.max_diff(grad_cam(vgg16, x, targets, "features.28"), true) <= 1e-5
    captum = cc.captum_grad_cam(vgg16, x, targets, "features.28")[:, 0].clamp_min(0)
    assert cc.max_diff(captum, true) <= 1e-5
    # pytorch-grad-cam: its detached activation is overwritten (post-ReLU), its tensor hook
    # still gets the gradient of the conv output (pre-ReLU): a mix of the two.
    pgc = cc.pytorch_grad_cam_grad_cam(vgg16, x, targets, "features.28", layer_map=True)
    assert cc.max_diff(pgc.clamp_min(0), mixed) <= 1e-5
    # torch-cam: autograd.grad with respect to the overwritten tensor: Grad-CAM of features.29.
    torchcam = cc.torchcam_grad_cam(vgg16, x, targets, "features.28", normalized=False)
    assert cc.max_diff(torchcam, post) <= 1e-5
    # torchray: its probe makes the conv output a leaf that requires grad; ReLU 29 then fails.
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad.*in-place"):
        cc.torchray_grad_cam(vgg16, x, targets, "features.28")
    assert _same_state(before, _state(vgg16))


def test_restored_removes_a_left_hook_and_says_so():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(inplace=True))
    with pytest.raises(RuntimeError, match="1 hooks were left"), cc.restored(model):
        model[0].register_forward_hook(lambda *a: None)
        model[1].inplace = False
    assert xu.count_hooks(model) == 0 and model[1].inplace
    with pytest.raises(ZeroDivisionError), cc.restored(model):  # the library's own error wins
        model[0].register_forward_pre_hook(lambda *a: None)
        raise ZeroDivisionError
    assert xu.count_hooks(model) == 0


def test_max_diff_is_relative_to_each_map():
    ours = torch.tensor([[[0.0, 1e-4]], [[0.0, 40.0]]])
    assert cc.max_diff(ours + torch.tensor([[[0.0, 1e-6]], [[0.0, 4e-4]]]), ours) == pytest.approx(
        1e-2
    )
    assert cc.max_diff(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2)) == 0.0


def test_table_lists_every_check_and_a_dash_where_one_was_not_run():
    torchray, captum = cc.CHECKS[0], cc.CHECKS[4]
    results = [cc.Result(torchray, "x", 1e-7, 1.0), cc.Result(captum, "x", 2e-7, 1.0)]
    text = cc.table({"A\nbn2": results, "B": results[:1]})
    top, bottom, rule, row1, row2, note = text.splitlines()
    assert top.split()[0] == "call" and bottom.split() == ["bn2"] and set(rule) == {"-"}
    assert row1.startswith(torchray.call) and row1.endswith("1.0e-07  1.0e-07")
    assert row2.startswith(captum.call) and row2.endswith("2.0e-07  -")
    assert note == f"¹ {cc.NOTES['¹']}"
