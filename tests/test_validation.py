"""Hostile input: each test pins one defect that used to give a silent wrong answer or an
unhelpful error, and the model must come back as it went in after every refused call.

The small networks are built here, from a fixed seed, so the whole file runs in seconds.
``xaiutils.validation`` is imported inside the tests that use it directly.
"""

import numpy as np
import pytest
import torch
from torch import nn

import xaiutils as xu
from xaiutils import metrics
from xaiutils.evaluation import deletion
from xaiutils.methods import (
    ablation_cam,
    cam,
    grad_cam,
    occlusion,
    score_cam,
    smoothgrad,
    vanilla_gradient,
)


class SmallNet(nn.Module):
    """conv -> BN -> ReLU -> conv -> ReLU -> GAP -> linear (5 classes), any input size."""

    def __init__(self, classes: int = 5, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
            self.relu2 = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(6, classes)
            with torch.no_grad():  # running statistics that are not the defaults
                self.bn.running_mean.copy_(torch.randn(4) * 0.1)
                self.bn.running_var.copy_(torch.rand(4) + 0.5)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.conv2(self.relu1(self.bn(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def batch(n: int = 2, size: int = 16, seed: int = 1, dtype: torch.dtype = torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g).to(dtype)


@pytest.fixture
def net() -> SmallNet:
    return SmallNet().eval()


@pytest.fixture
def train_net() -> SmallNet:
    """In train mode, with BatchNorm: a pass in train mode would change its statistics."""
    return SmallNet().train()


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grad": [p.grad is None for p in model.parameters()],
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    for key, value in before["state"].items():  # bit for bit (NaN where there was NaN)
        assert torch.allclose(after["state"][key], value, rtol=0, atol=0, equal_nan=True), key
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["grad"] == before["grad"]
    assert xu.count_hooks(model) == 0


# 1. Capture.gradient belongs to the latest activation ----------------------------------------


def test_capture_gradient_is_the_latest_passes(net):
    x1, x2 = batch(1, seed=1), batch(1, seed=2)
    with xu.Capture(net, "conv2") as cap:
        net(x1)[0, 1].backward()
        net(x2)[0, 3].backward()
    # The second pass by hand: a leaf at conv2's output, the rest of the network above it.
    with torch.no_grad():
        a = net.conv2(net.relu1(net.bn(net.conv1(x2))))
    leaf = a.clone().requires_grad_()
    logits = net.fc(net.pool(net.relu2(leaf)).flatten(1))
    (expected,) = torch.autograd.grad(logits[0, 3], leaf)
    assert torch.allclose(cap.activation.detach(), a)
    assert torch.allclose(cap.gradient, expected, atol=1e-7)
    assert len(cap.gradients) == 2
    net.zero_grad(set_to_none=True)


# 2. batch_size of Score-CAM and Ablation-CAM -------------------------------------------------


@pytest.mark.parametrize("method", [score_cam, ablation_cam])
@pytest.mark.parametrize("batch_size", [0, -1])
def test_cam_variants_refuse_a_batch_size_below_one(train_net, method, batch_size):
    before = snapshot(train_net)
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1"):
        method(train_net, batch(), None, "relu2", batch_size=batch_size)
    assert_unchanged(train_net, before)


# 3. feature_maps -----------------------------------------------------------------------------


def test_feature_maps_in_train_mode_keeps_the_batchnorm_statistics(train_net):
    before = snapshot(train_net)
    x = batch()
    maps = xu.feature_maps(train_net, x, ["bn", "conv2"])
    assert_unchanged(train_net, before)
    assert train_net.training and train_net.bn.training
    # The pass ran in eval mode: the running statistics, not the batch's.
    with torch.no_grad():
        expected = train_net.eval().bn(train_net.conv1(x))
    assert torch.allclose(maps["bn"], expected, atol=1e-6)


def test_feature_maps_keys_two_modules_of_one_type_by_their_names(net):
    maps = xu.feature_maps(net, batch(), [net.relu1, net.relu2])
    assert list(maps) == ["relu1", "relu2"]
    assert maps["relu1"].shape == (2, 4, 16, 16) and maps["relu2"].shape == (2, 6, 16, 16)


def test_feature_maps_refuses_one_string_for_layers(net):
    with pytest.raises(TypeError, match=r"layers must be a list.*write \['conv2'\]"):
        xu.feature_maps(net, batch(), "conv2")


# 4. overlay and to_rgb read an image by its dtype --------------------------------------------


def test_overlay_takes_uint8_like_the_same_image_in_floats():
    g = np.random.default_rng(0)
    image = g.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    heat = g.random((6, 5))
    np.testing.assert_allclose(
        xu.overlay(image, heat), xu.overlay(image / 255.0, heat), rtol=0, atol=1e-6
    )


def test_overlay_refuses_a_float_image_of_0_to_255():
    image = np.full((6, 5, 3), 200.0)
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide by 255"):
        xu.overlay(image, np.zeros((6, 5)))


def test_to_rgb_reads_uint16_by_its_range_not_its_maximum():
    out = np.asarray(xu.to_rgb(np.full((4, 4), 1000, dtype=np.uint16)))
    assert out.shape == (4, 4, 3) and (out == round(1000 * 255 / 65535)).all()  # 4, not 255


def test_to_rgb_keeps_8_bit_values_in_an_int64_array():
    array = np.full((4, 4, 3), 100, dtype=np.int64)
    array[0, 0] = 128
    out = np.asarray(xu.to_rgb(array))
    assert out[1, 1].tolist() == [100, 100, 100] and out[0, 0].tolist() == [128, 128, 128]


def test_to_rgb_refuses_a_float_image_above_1():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        xu.to_rgb(np.full((4, 4, 3), 2.5))


# 5. targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        (2.7, TypeError, r"target must hold class indices .*never rounded"),
        (torch.tensor([2.9, 2.9]), TypeError, r"target must hold class indices .*float32"),
        (torch.tensor([[1], [2]]), ValueError, r"target has shape \(2, 1\)"),
        ("tabby", TypeError, r"target must be a class index \(int\), got the string 'tabby'"),
    ],
    ids=["float", "float-tensor", "column", "string"],
)
def test_grad_cam_refuses_a_target_that_is_not_class_indices(train_net, target, error, match):
    before = snapshot(train_net)
    with pytest.raises(error, match=match):
        grad_cam(train_net, batch(), target, "relu2")
    assert_unchanged(train_net, before)


# 6. non-finite input, non-finite logits ------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize(
    "method",
    [
        lambda m, x: grad_cam(m, x, None, "relu2"),
        lambda m, x: score_cam(m, x, None, "relu2"),
        lambda m, x: occlusion(m, x, None, window=8, stride=8),
    ],
    ids=["grad_cam", "score_cam", "occlusion"],
)
def test_methods_refuse_a_non_finite_input(train_net, method, bad):
    x = batch()
    x[1, 0, 3, 4] = bad
    before = snapshot(train_net)
    with pytest.raises(ValueError, match=r"^x has \d NaN and \d infinite values"):
        method(train_net, x)
    assert_unchanged(train_net, before)


@pytest.mark.parametrize(
    "method",
    [vanilla_gradient, lambda m, x, t: smoothgrad(m, x, t, samples=2)],
    ids=["vanilla_gradient", "smoothgrad"],
)
@pytest.mark.parametrize("target", [None, 1])
def test_gradient_methods_refuse_nan_logits(method, target):
    model = SmallNet().train()
    with torch.no_grad():
        model.fc.bias[1] = float("nan")  # finite gradients, NaN scores
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"logits for sample 0 are not finite"):
        method(model, batch(), target)
    assert_unchanged(model, before)


# 7. normalize --------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_normalize_refuses_non_finite_values(bad):
    m = torch.arange(12.0).view(3, 4)
    m[1, 2] = bad
    with pytest.raises(ValueError, match=r"maps have \d NaN and \d infinite values"):
        xu.normalize(m)


def test_normalize_takes_a_bool_map():
    m = torch.tensor([[True, False], [False, True]])
    out = xu.normalize(m)
    assert out.dtype == torch.float32 and torch.equal(out, m.float())
    assert np.array_equal(xu.normalize(m.numpy()), m.float().numpy())


def test_normalize_refuses_a_list():
    with pytest.raises(TypeError, match=r"maps must be a tensor or a NumPy array, got list"):
        xu.normalize([[0.0, 1.0], [2.0, 3.0]])


def test_normalize_refuses_an_empty_map():
    with pytest.raises(ValueError, match=r"h, w >= 1, got \(0, 0\)"):
        xu.normalize(torch.zeros(0, 0))


# 8. pointing game on a map without a peak ----------------------------------------------------


@pytest.mark.parametrize("fill", [0.0, float("nan")], ids=["constant", "all-nan"])
def test_pointing_game_refuses_a_map_without_a_peak(fill):
    heatmap = torch.full((8, 8), fill)
    with pytest.raises(ValueError, match=r"constant|NaN"):
        metrics.pointing_game(heatmap, (0, 0, 8, 8))  # the box holds every pixel: a "hit"


# 9. Ablation-CAM where the target logit is exactly 0 -----------------------------------------


class ZeroLogitNet(nn.Module):
    """Two channels (copies of the input's two) with equal means; class 0 = mean_0 - mean_1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            self.fc.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.5]]))
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


def test_ablation_cam_where_the_target_logit_is_zero():
    model = ZeroLogitNet().eval()
    x = torch.zeros(1, 2, 4, 4)
    x[0, 0, :2, :2] = 1.0  # mean 0.25
    x[0, 1, 2:, 1:3] = 1.0  # mean 0.25
    assert model(x)[0, 0].item() == 0.0
    maps = ablation_cam(model, x, 0, "relu")
    # Drops y - y_k: +0.25 without channel 0, -0.25 without channel 1; the weights are the drops.
    expected = (0.25 * x[:, 0] - 0.25 * x[:, 1]).clamp_min(0)
    assert torch.isfinite(maps).all()
    assert torch.allclose(maps, expected)


# 10. dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [score_cam, ablation_cam])
def test_score_and_ablation_cam_in_float64(net, method):
    x = batch()
    reference = method(net, x, None, "relu2")
    maps = method(SmallNet().eval().double(), x.double(), None, "relu2")
    assert maps.dtype == torch.float64 and torch.isfinite(maps).all()
    assert torch.allclose(maps.float(), reference, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", [score_cam, ablation_cam])
def test_score_and_ablation_cam_under_bfloat16_autocast(net, method):
    x = batch()
    reference = method(net, x, None, "relu2")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        maps = method(net, x, None, "relu2")
    assert maps.shape == reference.shape and torch.isfinite(maps).all()
    assert torch.allclose(maps.float(), reference, rtol=0.1, atol=0.05 * reference.max())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_smoothgrad_in_half_precision(net, dtype):
    x = batch()
    reference = smoothgrad(net, x, 2, samples=3)
    grads = smoothgrad(SmallNet().eval().to(dtype), x.to(dtype), 2, samples=3)
    assert grads.dtype == dtype and grads.shape == x.shape and torch.isfinite(grads).all()
    # The same map up to half precision's rounding (of the weights, the input and the noise).
    cosine = torch.cosine_similarity(grads.float().flatten(), reference.flatten(), dim=0)
    assert cosine > 0.999


# 11. CAM's errors say what is wrong ----------------------------------------------------------


def test_cam_on_an_input_too_small_says_so(effnet):
    x = batch(1, size=32)  # stride 32: bn2 is 1 x 1
    with pytest.raises(ValueError, match=r"x is 32 x 32 pixels.*feature map .* is 1 x 1"):
        cam(effnet, x, None)
    assert xu.count_hooks(effnet) == 0


def test_cam_with_a_wrong_layer_names_the_right_one(effnet):
    x = batch(1, size=64)
    with pytest.raises(ValueError, match=r"'blocks\.3' does not feed.*that does is 'bn2'"):
        cam(effnet, x, None, "blocks.3")
    assert xu.count_hooks(effnet) == 0


# 12. what the model returns, and where the layer is ------------------------------------------


class Returns(nn.Module):
    """SmallNet whose forward returns something other than logits (N, classes)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind, self.net = kind, SmallNet()

    def forward(self, x: torch.Tensor) -> object:
        out = self.net(x)
        return {"tuple": (out, out), "dict": {"logits": out}, "1-d": out[:, 0]}[self.kind]


@pytest.mark.parametrize(
    ("kind", "error"), [("tuple", TypeError), ("dict", TypeError), ("1-d", ValueError)]
)
def test_grad_cam_refuses_a_model_that_does_not_return_logits(kind, error):
    model = Returns(kind).train()
    before = snapshot(model)
    with pytest.raises(error, match=r"the model returned .*logits.*\(N, classes\)"):
        grad_cam(model, batch(), None, "net.conv2")
    assert_unchanged(model, before)


def test_grad_cam_under_inference_mode(net):
    expected = grad_cam(net, batch(), None, "relu2")
    with torch.inference_mode():
        maps = grad_cam(net, batch(), None, "relu2")  # x is an inference tensor too
    assert torch.allclose(maps, expected, atol=1e-6) and maps.abs().sum() > 0
    assert xu.count_hooks(net) == 0


class SideNet(SmallNet):
    """SmallNet with a module whose output is thrown away, and one that never runs."""

    def __init__(self) -> None:
        super().__init__()
        self.side = nn.Conv2d(3, 2, 1)
        self.unused = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.side(x)
        return super().forward(x)


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        ("side", r"the logits do not depend on layer 'side'"),
        ("unused", r"layer 'unused' did not run in the forward pass"),
    ],
)
def test_grad_cam_on_a_layer_off_the_path_to_the_logits(layer, match):
    model = SideNet().train()
    before = snapshot(model)
    with pytest.raises(ValueError, match=match):
        grad_cam(model, batch(), None, layer)
    assert_unchanged(model, before)


# 13. argument types --------------------------------------------------------------------------


@pytest.mark.parametrize("layer", [3, None, 2.0])
def test_a_layer_that_is_not_a_name_or_a_module(train_net, layer):
    before = snapshot(train_net)
    with pytest.raises(TypeError, match=r"layer must be a module name like 'bn2'"):
        grad_cam(train_net, batch(), None, layer)
    assert_unchanged(train_net, before)


@pytest.mark.parametrize("window", [np.int64(8), torch.tensor(8)], ids=["numpy", "tensor"])
def test_occlusion_takes_an_integer_window_of_any_kind(net, window):
    x = batch(1)
    expected = occlusion(net, x, 2, window=8, stride=8).logit
    got = occlusion(net, x, 2, window=window, stride=8).logit
    assert got.shape == (1, 2, 2) and torch.equal(got, expected)


def test_occlusion_refuses_a_float_window(train_net):
    before = snapshot(train_net)
    with pytest.raises(TypeError, match=r"window must be an int, got float 8\.0"):
        occlusion(train_net, batch(1), 2, window=8.0, stride=8)
    assert_unchanged(train_net, before)


@pytest.mark.parametrize("name", ["samples", "batch_size"])
def test_smoothgrad_refuses_float_counts(net, name):
    with pytest.raises(TypeError, match=rf"{name} must be an int, got float 2\.0"):
        smoothgrad(net, batch(), None, **{name: 2.0})


def test_deletion_refuses_float_steps(net):
    x = batch(1)
    with pytest.raises(TypeError, match=r"steps must be an int, got float 4\.0"):
        deletion(net, x, torch.rand(1, 16, 16), None, steps=4.0)


@pytest.mark.parametrize(
    "method",
    [lambda m, x: cam(m, x, None), lambda m, x: smoothgrad(m, x, None, samples=2)],
    ids=["cam", "smoothgrad"],
)
def test_methods_refuse_an_empty_batch(train_net, method):
    before = snapshot(train_net)
    with pytest.raises(ValueError, match=r"x has shape \(0, 3, 16, 16\): every axis"):
        method(train_net, torch.zeros(0, 3, 16, 16))
    assert_unchanged(train_net, before)


def test_box_from_map_refuses_a_threshold_above_1():
    heatmap = torch.rand(8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"threshold must be a finite number in \[0, 1\], got 1.5"):
        metrics.box_from_map(heatmap, threshold=1.5)


def test_top_k_needs_names_for_a_model_that_is_not_imagenets():
    logits = torch.arange(20.0).view(2, 10)
    with pytest.raises(ValueError, match=r"10 classes, not ImageNet's 1000.*names="):
        xu.top_k(logits)
    names = [f"class {i}" for i in range(10)]
    top = xu.top_k(logits, 2, names=names)
    assert [[(p.index, p.name) for p in row] for row in top] == [
        [(9, "class 9"), (8, "class 8")]
    ] * 2


@pytest.mark.parametrize(
    ("from_size", "to_size", "name"),
    [((0, 100), (224, 224), "from_size"), ((100, 100), (224, 0), "to_size")],
)
def test_scale_box_refuses_a_zero_size(from_size, to_size, name):
    with pytest.raises(ValueError, match=rf"{name} must be \(width, height\), both positive"):
        xu.scale_box((10, 10, 50, 50), from_size, to_size)


def test_show_grid_refuses_ncols_0():
    with pytest.raises(ValueError, match=r"ncols must be an int >= 1, got 0"):
        xu.show_grid([np.zeros((4, 4))], ncols=0)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_grad_cam_refuses_a_torchscript_model(net):
    scripted = torch.jit.script(net)
    with pytest.raises(TypeError, match=r"TorchScript.*Pass the original nn\.Module"):
        grad_cam(scripted, batch(), None, "conv2")


# xaiutils.validation itself ------------------------------------------------------------------


def test_positive_int():
    from xaiutils.validation import positive_int

    for good in (3, np.int64(3), np.uint8(3), torch.tensor(3)):
        value = positive_int(good, "n")
        assert value == 3 and type(value) is int
    for bad in (True, 3.0, np.float32(3), torch.tensor(3.0), "3", None):
        with pytest.raises(TypeError, match=r"^n must be an int"):
            positive_int(bad, "n")
    with pytest.raises(ValueError, match=r"^n must be an int >= 1, got 0"):
        positive_int(0, "n")
    assert positive_int(0, "seed", minimum=0) == 0


def test_check_target():
    from xaiutils.validation import check_target

    assert check_target(None, 3) is None
    for one in (2, np.int64(2), torch.tensor(2)):
        assert check_target(one, 3).tolist() == [2, 2, 2]
    for each in ([1, 2, 0], (1, 2, 0), np.array([1, 2, 0]), torch.tensor([1, 2, 0])):
        t = check_target(each, 3)
        assert t.dtype == torch.long and t.tolist() == [1, 2, 0]
    for bad in (2.0, True, [1, 2.5, 0], np.array([1.0, 2.0, 0.0]), "cat", {1: 2}):
        with pytest.raises(TypeError, match=r"^target must"):
            check_target(bad, 3)
    with pytest.raises(ValueError, match=r"3 samples but 2 targets"):
        check_target([1, 2], 3)


def test_check_batch_names_the_argument():
    from xaiutils.validation import check_batch

    with pytest.raises(TypeError, match=r"^baseline must be a torch\.Tensor.*torch\.as_tensor"):
        check_batch(np.zeros((1, 3, 4, 4)), "baseline")
    with pytest.raises(ValueError, match=r"^baseline must be a batch.*baseline\.unsqueeze\(0\)"):
        check_batch(torch.zeros(3, 4, 4), "baseline")
    with pytest.raises(TypeError, match=r"^baseline has dtype torch\.int64"):
        check_batch(torch.zeros(1, 3, 4, 4, dtype=torch.long), "baseline")
    with pytest.raises(TypeError, match=r"^baseline is torch\.float64 but the model's weights"):
        check_batch(torch.zeros(1, 3, 4, 4, dtype=torch.float64), "baseline", model=SmallNet())
    x = torch.zeros(1, 3, 4, 4)
    assert check_batch(x, "baseline", model=SmallNet()) is x


def test_in_range():
    from xaiutils.validation import in_range

    assert in_range(0.5, "alpha", 0, 1) == 0.5 and in_range(torch.tensor(1), "alpha", 0, 1) == 1
    for bad in (float("nan"), float("inf"), -0.1, 1.5):
        with pytest.raises(ValueError, match=r"^alpha must be a finite number in \[0, 1\]"):
            in_range(bad, "alpha", 0, 1)
    for bad in (True, "0.5", None):
        with pytest.raises(TypeError, match=r"^alpha must be a number"):
            in_range(bad, "alpha", 0, 1)


# Found while writing these tests ------------------------------------------------------------


def test_a_list_of_0d_integer_tensors_is_a_list_of_classes(net):
    x = batch()
    picked = [row.argmax() for row in net(x)]  # 0-d long tensors
    assert torch.equal(grad_cam(net, x, picked, "relu2"), grad_cam(net, x, None, "relu2"))


def test_cam_on_the_pooling_layer_names_the_feature_map():
    with pytest.raises(ValueError, match=r"1 x 1 output .*'relu2'"):
        cam(SmallNet().eval(), batch(), None, "pool")


def test_overlay_reads_an_integer_heatmap_as_values_not_colour_indices():
    image = np.full((4, 4, 3), 0.5)
    mask = np.ones((4, 4), dtype=np.uint8)
    assert np.allclose(xu.overlay(image, mask), xu.overlay(image, mask.astype(float)))


def test_normalize_refuses_a_complex_map():
    with pytest.raises(TypeError, match="complex"):
        xu.normalize(torch.tensor([[1 + 5j, 2 + 0j]]))


def test_boxes_with_a_nan_corner_are_refused():
    with pytest.raises(ValueError, match="box_a must be four finite numbers"):
        metrics.iou((0, 0, float("nan"), 4), (0, 0, 4, 4))
    with pytest.raises(ValueError, match="region must be four finite numbers"):
        metrics.pointing_game(torch.rand(8, 8), (0, float("nan"), 4, 4))


def test_make_composite_refuses_a_tile_of_zero_and_a_string_of_names():
    from xaiutils.composites import make_composite

    with pytest.raises(ValueError, match="tile must be an int >= 1"):
        make_composite(["chelsea", "coffee"], tile=0)
    with pytest.raises(TypeError, match="names must be a list"):
        make_composite("chelsea", cols=1)
