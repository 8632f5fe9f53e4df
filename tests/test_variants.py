"""Grad-CAM's variants (lesson 08): by hand on tiny networks, and against the libraries.

Library cross-checks bring both sides to one form: the library's own pipeline is asked for
maps at the layer's resolution (pytorch-grad-cam: ``get_target_width_height`` returns the
layer's size, so its ``cv2.resize`` is the identity; torch-cam returns them so), and our raw
map gets the library's own ReLU and min-max normalisation (with its epsilons). What is left
is float32 round-off, from sums taken in another order (NumPy against torch) and from
convolutions run on batches of another composition: ``ATOL = 1e-5`` on maps in [0, 1]
(measured: at most 5e-6). Where a library departs from the paper, ``convention=`` must
reproduce it within ``ATOL``, and the paper's version must differ from it by more than
``10 * ATOL``, so that every switch is shown to matter.
"""

import contextlib
import io
import warnings

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny import X_TINY, A, TinyGapNet, W

import xaiutils as xu
from xaiutils.methods import (
    METHODS,
    ablation_cam,
    cam,
    eigen_cam,
    grad_cam,
    grad_cam_pp,
    hires_cam,
    layer_cam,
    score_cam,
    upsample,
    xgrad_cam,
)

ATOL = 1e-5

# --------------------------------------------------------------------------------------------
# The libraries, called as a user would, and the model restored after each call.


def pgc_maps(cls_name, model, layer, x, targets, size, **attributes):
    """pytorch-grad-cam's maps ``(N, h, w)`` for ``targets``, resized by it to ``size``."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    hooks = xu.count_hooks(model)
    method = getattr(pytorch_grad_cam, cls_name)(
        model=model, target_layers=[xu.get_layer(model, layer)]
    )
    for key, value in attributes.items():
        setattr(method, key, value)
    method.get_target_width_height = lambda tensor: (size[1], size[0])  # cv2: (width, height)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # its tqdm progress bars
            out = method(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    finally:
        method.activations_and_grads.release()
        model.zero_grad(set_to_none=True)  # it leaves .grad on every parameter
    assert xu.count_hooks(model) == hooks
    return torch.from_numpy(out)


def torchcam_maps(cls_name, model, layer, x, targets, **kwargs):
    """torch-cam's maps ``(N, h, w)``: ReLU, then normalised, at the layer's resolution."""
    import torchcam.methods

    hooks = xu.count_hooks(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with getattr(torchcam.methods, cls_name)(model, target_layer=layer, **kwargs) as method:
            scores = model(x)
            maps = method(class_idx=[int(t) for t in targets], scores=scores)[0].detach()
    assert xu.count_hooks(model) == hooks
    return maps


def pgc_form(maps):
    """Our raw maps as pytorch-grad-cam post-processes its own (base_cam.py, utils/image.py):
    ReLU, ``scale_cam_image`` (``(m - min) / (1e-7 + max)``) per layer, then again after
    averaging over its one layer."""

    def scale(m):
        m = m - m.amin(dim=(1, 2), keepdim=True)
        return m / (1e-7 + m.amax(dim=(1, 2), keepdim=True))

    return scale(scale(maps.clamp_min(0)))


def torchcam_form(maps):
    """Our raw maps as torch-cam post-processes its own (core.py ``_normalize``)."""
    m = maps.clamp_min(0)
    m = m - m.amin(dim=(1, 2), keepdim=True)
    return m / (m.amax(dim=(1, 2), keepdim=True) + 1e-8)


def small(x, size):
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def resnet_x():
    """Two photos at 112 x 112, ResNet18's preprocessing: layer4 is 4 x 4, layer3 7 x 7."""
    pre = xu.preprocessing("resnet18")
    return small(pre([xu.load_photo("chelsea"), xu.load_photo("coffee")]), 112)


def top1(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


# --------------------------------------------------------------------------------------------
# By hand, on a network small enough to compute every answer.


@pytest.mark.parametrize("c", [0, 1])
def test_gradient_variants_by_hand(c):
    # dy_c/dA_k(i, j) = w_ck / 4 everywhere (GAP over 4 positions).
    model, g = TinyGapNet().eval(), W[c] / 4
    cam_map = torch.einsum("k,khw->hw", W[c], A)
    # HiResCAM and XGrad-CAM weight by the same constant gradient: CAM / 4 (and Grad-CAM).
    assert torch.allclose(hires_cam(model, X_TINY, c, "features", relu=False)[0], cam_map / 4)
    assert torch.allclose(xgrad_cam(model, X_TINY, c, "features")[0], (cam_map / 4).clamp_min(0))
    # Layer-CAM keeps the positive gradients only.
    expected = torch.einsum("k,khw->hw", g.clamp_min(0), A).clamp_min(0)
    assert torch.allclose(layer_cam(model, X_TINY, c, "features")[0], expected)
    # Grad-CAM++: alpha = g^2 / (2 g^2 + S_k g^3) = 1 / (2 + S_k g), the same at every pixel.
    alpha = 1 / (2 + A.sum(dim=(1, 2)) * g)
    w = 4 * alpha * g.clamp_min(0)
    expected = torch.einsum("k,khw->hw", w, A).clamp_min(0)
    assert torch.allclose(grad_cam_pp(model, X_TINY, c, "features")[0], expected)
    w_torchcam = 4 * g.clamp_min(0) ** 3  # alpha = g^2: torch-cam's lost division
    expected = torch.einsum("k,khw->hw", w_torchcam, A).clamp_min(0)
    assert torch.allclose(
        grad_cam_pp(model, X_TINY, c, "features", convention="torch-cam")[0], expected
    )


def test_gradient_free_variants_by_hand():
    model = TinyGapNet().eval()
    logits = model(X_TINY)[0].detach()
    # Ablation-CAM: zeroing channel k removes w_ck * mean(A_k) from the logit.
    for c in (0, 1):
        ablated = logits[c] - W[c] * A.mean(dim=(1, 2))
        w = (logits[c] - ablated) / logits[c]
        expected = torch.einsum("k,khw->hw", w, A).clamp_min(0)
        assert torch.allclose(ablation_cam(model, X_TINY, c, "features")[0], expected)
    # Score-CAM: mask k is A_k / max(A_k) on this 2 x 2 input (no upsampling, min 0).
    masked = torch.cat([X_TINY * (A[k] / A[k].max()) for k in range(2)])
    scores = model(masked)[:, 0].detach()
    expected = torch.einsum("k,khw->hw", scores.softmax(0), A).clamp_min(0)
    assert torch.allclose(score_cam(model, X_TINY, 0, "features")[0], expected)
    # Eigen-CAM: A as a 4 x 2 matrix; its top right singular vector, sign making the sum > 0.
    o = A.flatten(1).T
    v = torch.linalg.eigh(o.T @ o).eigenvectors[:, -1]
    expected = (o @ v).reshape(2, 2)
    expected = expected * expected.sum().sign()
    assert torch.allclose(eigen_cam(model, X_TINY, None, "features")[0], expected, atol=1e-6)


def test_hires_cam_is_cam_over_hw_on_gap_linear(effnet, photos_batch):
    maps = hires_cam(effnet, photos_batch, None, "bn2", relu=False)
    assert torch.allclose(maps, cam(effnet, photos_batch, None) / 49, atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# Mechanics: batching, top-1, the shortcut through the top of the network, the model's state.

ALL = [grad_cam_pp, xgrad_cam, hires_cam, layer_cam, score_cam, ablation_cam, eigen_cam]


@pytest.mark.parametrize("method", ALL, ids=lambda f: f.__name__)
def test_batch_equals_single_runs_and_state_is_restored(method, resnet18, resnet_x):
    model = resnet18.train()  # a train-mode model must come back in train mode
    try:
        hooks = xu.count_hooks(model)
        x, targets = small(resnet_x, 48), [3, 7]  # layer2: 128 x 6 x 6
        batch = method(model, x, targets, "layer2")
        singles = torch.cat(
            [method(model, x[i : i + 1], t, "layer2") for i, t in enumerate(targets)]
        )
        assert batch.shape == (2, 6, 6)
        # Ablation-CAM's weights (y - y_k) / y are differences of nearly equal logits: here
        # y ~ 0.2 and one channel of 128 moves it by ~1e-3, so a round-off of 1e-6 in the
        # logits (a batch of 2 against 1) is ~1e-3 of a weight.
        tol = 1e-3 if method is ablation_cam else 1e-5
        assert torch.allclose(batch, singles, atol=tol * batch.abs().max(), rtol=tol)
        assert model.training and all(m.training for m in model.modules())
        assert all(p.requires_grad and p.grad is None for p in model.parameters())
        assert xu.count_hooks(model) == hooks
    finally:
        model.eval()


def naive_score_cam(model, x, target, layer):
    """Score-CAM for one sample with one forward per channel, constant ones included."""
    a = xu.feature_maps(model, x, [layer])[layer][0]
    with torch.no_grad():
        masks = xu.normalize(upsample(a, tuple(x.shape[-2:])))[:, None]
        scores = torch.cat([model(x * m)[:, target] for m in masks.split(128)])
    return torch.einsum("k,khw->hw", scores.softmax(0), a).clamp_min(0)


def test_score_cam_equals_one_forward_per_channel(effnet):
    x = small(xu.preprocessing()(xu.load_photo("chelsea")), 64)  # bn2: 2 x 2, many zero maps
    a = xu.feature_maps(effnet, x, ["bn2"])["bn2"][0]
    assert (a.amax(dim=(1, 2)) == 0).sum() > 100  # those share one forward of a zero image
    ours = score_cam(effnet, x, 285, "bn2", batch_size=100)[0]
    assert torch.allclose(ours, naive_score_cam(effnet, x, 285, "bn2"), atol=1e-5, rtol=1e-4)


def naive_ablation_scores(model, x, target, layer):
    """The target logit with each channel of ``layer`` zeroed, the whole network run each time
    (row ``r`` of a batch of copies of ``x`` ablates channel ``r``)."""
    k = xu.feature_maps(model, x, [layer])[layer].shape[1]

    def zero(module, inputs, output):
        output = output.clone()
        output[torch.arange(len(output)), torch.arange(len(output))] = 0
        return output

    handle = xu.get_layer(model, layer).register_forward_hook(zero)
    try:
        with torch.no_grad():
            return model(x.expand(k, -1, -1, -1))[:, target]
    finally:
        handle.remove()


@pytest.mark.parametrize(
    "arch, layer",
    [("resnet18", "layer3"), ("resnet18", "layer3.1.conv1"), ("effnet", "blocks.5.1.bn2")],
)
def test_ablation_through_the_top_equals_the_whole_network(arch, layer, request, resnet_x):
    # layer3.1.conv1 and blocks.5.1.bn2 sit inside a residual block: the skip from below
    # joins the ablated batch later, and must broadcast from the one sample run below.
    model = request.getfixturevalue(arch)
    x = small(xu.preprocessing()(xu.load_photo("coffee")), 64) if arch == "effnet" else resnet_x[1:]
    t = int(top1(model, x))
    p_logit = model(x)[0, t].detach()
    a = xu.feature_maps(model, x, [layer])[layer]
    w = (p_logit - naive_ablation_scores(model, x, t, layer)) / p_logit
    expected = torch.einsum("k,khw->hw", w, a[0]).clamp_min(0)
    ours = ablation_cam(model, x, t, layer, batch_size=50)[0]
    # The same logits from batches of another size: round-off, amplified by y - y_k (above).
    assert torch.allclose(ours, expected, atol=1e-3 * expected.abs().max(), rtol=1e-3)


def test_ablation_refuses_a_module_called_twice(resnet18, resnet_x):
    with pytest.raises(ValueError, match="layer must run once per forward"):
        ablation_cam(resnet18, resnet_x[:1], 0, "layer1.0.relu")  # shared by conv1 and the sum


def test_unknown_convention_is_refused(resnet18, resnet_x):
    with pytest.raises(ValueError, match="convention must be one of"):
        eigen_cam(resnet18, resnet_x, None, "layer4", convention="torch-cam")


# --------------------------------------------------------------------------------------------
# Against pytorch-grad-cam and torch-cam.

# (our function, keyword arguments, library, differs from the paper); the library's class comes
# from the registry (xaiutils.methods.METHODS)
GRADIENT_CASES = [
    (grad_cam_pp, {}, "pgc", True),
    (grad_cam_pp, {"convention": "pytorch-grad-cam"}, "pgc", False),
    (grad_cam_pp, {}, "torchcam", True),
    (grad_cam_pp, {"convention": "torch-cam"}, "torchcam", False),
    (xgrad_cam, {}, "pgc", False),
    (xgrad_cam, {}, "torchcam", False),
    (hires_cam, {}, "pgc", False),
    (layer_cam, {}, "pgc", False),
    (layer_cam, {}, "torchcam", False),
    (eigen_cam, {"relu": True}, "pgc", True),
    (eigen_cam, {"relu": True, "convention": "pytorch-grad-cam"}, "pgc", False),
]


def check(ours, lib, cls_name, model, layer, x, targets, differs, **lib_kwargs):
    if lib == "pgc":
        theirs = pgc_maps(cls_name, model, layer, x, targets, ours.shape[-2:], **lib_kwargs)
        ours = pgc_form(ours)
    else:
        theirs = torchcam_maps(cls_name, model, layer, x, targets, **lib_kwargs)
        ours = torchcam_form(ours)
    gap = (ours - theirs).abs().max().item()
    if differs:
        assert gap > 10 * ATOL, f"the paper's version should differ from {lib}'s ({gap:.1e})"
    else:
        assert gap < ATOL, f"{cls_name} of {lib} differs from ours by {gap:.1e}"


def library_class(fn, lib: str) -> str:
    """The library's class for our function ``fn``: read from the registry of methods."""
    entry = next(m for m in METHODS.values() if m.function is fn)
    return entry.pytorch_grad_cam if lib == "pgc" else entry.torchcam


def case_id(case):
    fn, kwargs, lib, differs = case
    return f"{fn.__name__}-{kwargs.get('convention', 'paper')}-{lib}"


@pytest.mark.parametrize(
    "arch, layer, inputs", [("effnet", "bn2", "photos_batch"), ("resnet18", "layer4", "resnet_x")]
)
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=case_id)
def test_gradient_variants_match_libraries(case, arch, layer, inputs, request):
    fn, kwargs, lib, differs = case
    cls_name = library_class(fn, lib)
    model, x = request.getfixturevalue(arch), request.getfixturevalue(inputs)
    targets = top1(model, x)
    ours = fn(model, x, targets, layer, **kwargs)
    check(ours, lib, cls_name, model, layer, x, targets, differs)


# Score-CAM and Ablation-CAM make one forward per channel: small inputs, few channels.
# The EfficientNet's blocks.3 (80 channels) is a linear bottleneck: signed, min < 0.
PERTURBATION_CASES = [
    (score_cam, {}, "pgc", True),
    (score_cam, {"convention": "pytorch-grad-cam"}, "pgc", False),
    (score_cam, {}, "torchcam", True),
    (score_cam, {"convention": "torch-cam"}, "torchcam", False),
    (ablation_cam, {"convention": "pytorch-grad-cam"}, "pgc", False),
]


@pytest.mark.parametrize("case", PERTURBATION_CASES, ids=case_id)
def test_perturbation_variants_match_libraries_on_effnet(case, effnet):
    fn, kwargs, lib, differs = case
    cls_name = library_class(fn, lib)
    x = small(xu.preprocessing()(xu.load_photo("coffee")), 96)  # blocks.3: 80 x 6 x 6
    targets = top1(effnet, x)
    ours = fn(effnet, x, targets, "blocks.3", batch_size=32, **kwargs)
    check(ours, lib, cls_name, effnet, "blocks.3", x, targets, differs, batch_size=32)


def test_pgc_ablation_on_a_signed_layer_is_not_the_paper(effnet):
    # pytorch-grad-cam sets the channel to min - (j + 1) 1e7 instead of 0 where min < 0.
    x = small(xu.preprocessing()(xu.load_photo("coffee")), 96)
    t = top1(effnet, x)
    paper = pgc_form(ablation_cam(effnet, x, t, "blocks.3"))
    theirs = pgc_form(ablation_cam(effnet, x, t, "blocks.3", convention="pytorch-grad-cam"))
    assert (paper - theirs).abs().max() > 10 * ATOL


@pytest.mark.parametrize(
    "case",
    PERTURBATION_CASES[:4]
    + [
        (ablation_cam, {}, "pgc", False),  # layer2 ends in a ReLU: min is 0
    ],
    ids=case_id,
)
def test_perturbation_variants_match_libraries_on_resnet18(case, resnet18, resnet_x):
    fn, kwargs, lib, differs = case
    cls_name = library_class(fn, lib)
    x = small(resnet_x, 64)  # layer2: 128 x 8 x 8
    targets = top1(resnet18, x)
    ours = fn(resnet18, x, targets, "layer2", batch_size=64, **kwargs)
    check(ours, lib, cls_name, resnet18, "layer2", x, targets, differs, batch_size=64)


def test_pgc_full_size_output_is_our_upsampled_map(effnet, photos_batch):
    """Left alone, pytorch-grad-cam normalises, resizes with OpenCV's bilinear (half-pixel
    centres, edges clamped: our ``upsample``), and normalises again at full size."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    a = np.random.default_rng(0).random((7, 7), dtype=np.float32)
    assert np.array_equal(cv2.resize(a, (7, 7)), a)  # what our common form relies on
    targets = top1(effnet, photos_batch)
    method = pytorch_grad_cam.LayerCAM(model=effnet, target_layers=[effnet.bn2])
    try:
        theirs = method(photos_batch, [ClassifierOutputTarget(int(t)) for t in targets])
    finally:
        method.activations_and_grads.release()
        effnet.zero_grad(set_to_none=True)
    ours = layer_cam(effnet, photos_batch, targets, "bn2")
    ours = pgc_form(upsample(pgc_form(ours), (224, 224)))
    assert (ours - torch.from_numpy(theirs)).abs().max() < ATOL


def test_grad_cam_pp_differs_from_grad_cam(effnet, photos_batch):
    # Sanity: the variants are not Grad-CAM in disguise at bn2 (where XGrad-CAM and HiResCAM
    # *are* Grad-CAM, the head being GAP + linear).
    g = xu.normalize(grad_cam(effnet, photos_batch, None, "bn2"))
    assert torch.allclose(xu.normalize(xgrad_cam(effnet, photos_batch, None, "bn2")), g, atol=1e-5)
    assert (xu.normalize(grad_cam_pp(effnet, photos_batch, None, "bn2")) - g).abs().max() > 0.01
