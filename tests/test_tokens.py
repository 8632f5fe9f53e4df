"""Grad-CAM and its variants on a vision transformer's tokens (lesson 08): ``reshape=``.

Against pytorch-grad-cam given the same ``reshape_transform`` (written out here as its ViT
tutorial writes it, and a permute for timm's channels-last Swin), compared as
tests/test_variants.py does: pytorch-grad-cam is asked for maps at the layer's resolution and
our raw maps get its ReLU and min-max (``pgc_form``); once also at full size. The models are
timm's, with seeded random weights (nothing is downloaded): the mechanics, not what a trained
transformer looks at.
"""

import contextlib
import copy
import io
import warnings

import pytest
import torch
from test_variants import ATOL, pgc_form
from torch import nn

import xaiutils as xu
from xaiutils.methods import (
    TokenGrid,
    ablation_cam,
    eigen_cam,
    grad_cam,
    grad_cam_pp,
    hires_cam,
    layer_cam,
    score_cam,
    swin_reshape,
    upsample,
    vit_reshape,
    xgrad_cam,
)

VIT_LAYER = "blocks.11.norm1"  # pytorch-grad-cam's ViT tutorial: the last block's norm1
SWIN_LAYER = "layers.3.blocks.0.norm1"  # channels last: (N, 7, 7, C)


def timm_model(name, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return timm.create_model(name, pretrained=False, **kwargs).eval()


@pytest.fixture(scope="module")
def vit():
    return timm_model("vit_tiny_patch16_224")


@pytest.fixture(scope="module")
def swin():
    """A Swin-T with one block per stage and 48 channels at the first: 3 M parameters."""
    return timm_model(
        "swin_tiny_patch4_window7_224", embed_dim=48, depths=(1, 1, 1, 1), num_heads=(2, 2, 2, 2)
    )


@pytest.fixture(scope="module")
def x():
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))


def pgc_vit_transform(tensor, height=14, width=14):
    """pytorch-grad-cam's ViT tutorial (docs, vit_example.py), as written there."""
    result = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(2))
    return result.transpose(2, 3).transpose(1, 2)


def pgc_swin_transform(tensor):
    return tensor.permute(0, 3, 1, 2)  # timm 1.0's Swin is channels last


def flat_tokens(grid):
    """The tutorial's transform for tokens without a class token (one is put in to drop)."""
    return lambda t: pgc_vit_transform(torch.cat([t[:, :1], t], dim=1), *grid)


def pgc_maps(cls_name, model, layer, x, targets, transform, size=None, **attributes):
    """pytorch-grad-cam's maps for ``targets``, resized by it to ``size`` (default: x's)."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    module = xu.get_layer(model, layer)
    method = getattr(pytorch_grad_cam, cls_name)(
        model=model, target_layers=[module], reshape_transform=transform
    )
    for key, value in attributes.items():
        setattr(method, key, value)
    if size is not None:
        method.get_target_width_height = lambda tensor: (size[1], size[0])
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # its tqdm progress bars
            out = method(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    finally:
        method.activations_and_grads.release()
        model.zero_grad(set_to_none=True)  # it leaves .grad on every parameter
    assert xu.count_hooks(model) == 0
    return torch.from_numpy(out)


def top1(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


# --------------------------------------------------------------------------------------------
# The reshapes themselves.


def test_vit_reshape_puts_patch_tokens_on_the_grid(vit):
    reshape = vit_reshape(vit)
    assert reshape == TokenGrid((14, 14), 1)
    tokens = torch.randn(2, 1 + 14 * 14, 5)
    maps = reshape(tokens)
    assert maps.shape == (2, 5, 14, 14)
    assert torch.equal(maps[:, :, 3, 7], tokens[:, 1 + 3 * 14 + 7])  # token p + i w + j
    assert torch.equal(maps, pgc_vit_transform(tokens))
    assert vit_reshape((2, 3), num_prefix_tokens=0)(torch.randn(1, 6, 4)).shape == (1, 4, 2, 3)
    with pytest.raises(ValueError, match="1 prefix tokens and a 14 x 14 grid make 197"):
        reshape(torch.randn(2, 50, 5))
    with pytest.raises(TypeError, match="reshape=vit_reshape\\(model\\)"):
        vit_reshape(tokens)
    with pytest.raises(ValueError, match="not a timm VisionTransformer"):
        vit_reshape(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="num_prefix_tokens must be an int >= 0"):
        vit_reshape((14, 14), num_prefix_tokens=-1)


def test_swin_reshape_moves_channels_first():
    nhwc = torch.randn(2, 7, 7, 16)
    assert torch.equal(swin_reshape(nhwc), nhwc.permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match="num_prefix_tokens=0"):  # a block's norm2: (N, hw, C)
        swin_reshape(torch.randn(2, 49, 16))


# --------------------------------------------------------------------------------------------
# Against pytorch-grad-cam, on a ViT and a Swin.

# (our function, keyword arguments, pytorch-grad-cam's class)
CASES = [
    (grad_cam, {}, "GradCAM"),
    (grad_cam_pp, {"convention": "pytorch-grad-cam"}, "GradCAMPlusPlus"),  # its eps = 1e-6
    (hires_cam, {}, "HiResCAM"),
    (layer_cam, {}, "LayerCAM"),
    (eigen_cam, {"relu": True, "convention": "pytorch-grad-cam"}, "EigenCAM"),  # centred
]  # XGrad-CAM: below, in float64
MODELS = [
    ("vit", VIT_LAYER, lambda m: vit_reshape(m), pgc_vit_transform),
    ("swin", SWIN_LAYER, lambda m: swin_reshape, pgc_swin_transform),
]


@pytest.mark.parametrize("arch, layer, ours_reshape, their_reshape", MODELS, ids=["vit", "swin"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0].__name__)
def test_variants_match_pytorch_grad_cam(case, arch, layer, ours_reshape, their_reshape, x,
                                         request):  # fmt: skip
    fn, kwargs, cls_name = case
    model = request.getfixturevalue(arch)
    targets = top1(model, x)
    ours = fn(model, x, targets, layer, reshape=ours_reshape(model), **kwargs)
    assert ours.shape == ((2, 14, 14) if arch == "vit" else (2, 7, 7))
    theirs = pgc_maps(cls_name, model, layer, x, targets, their_reshape, ours.shape[-2:])
    assert (pgc_form(ours) - theirs).abs().max() < ATOL
    if fn is grad_cam_pp:  # and the paper's version is not theirs: the switch matters
        paper = grad_cam_pp(model, x, targets, layer, reshape=ours_reshape(model))
        assert (pgc_form(paper) - theirs).abs().max() > 10 * ATOL


def test_swin_norm2_flattened_tokens(swin, x):
    """A Swin block's norm2 gives the tokens flattened, ``(N, 49, C)``, without a prefix."""
    layer, targets = "layers.3.blocks.0.norm2", top1(swin, x)
    ours = grad_cam(swin, x, targets, layer, reshape=vit_reshape((7, 7), num_prefix_tokens=0))
    theirs = pgc_maps("GradCAM", swin, layer, x, targets, flat_tokens((7, 7)), (7, 7))
    assert (pgc_form(ours) - theirs).abs().max() < ATOL


@pytest.mark.parametrize("arch, layer, ours_reshape, their_reshape", MODELS, ids=["vit", "swin"])
def test_xgrad_cam_matches_pytorch_grad_cam_in_float64(arch, layer, ours_reshape, their_reshape,
                                                       x, request):  # fmt: skip
    """XGrad-CAM divides by ``sum_ij A^k``, which cancels on a LayerNorm's signed output: down
    to 3e-3 at the Swin's norm1, from terms near 1. In float32 the round-off of that sum then
    dominates: NumPy's summation order against torch's moves the map by 2.4e-4 (6e-6 at the
    ViT's norm1). In float64 it is gone, and pytorch-grad-cam's ``+ 1e-7`` shows (3.3e-5 at
    the Swin's): with the convention, what is left is its output's cast to float32 (6e-8)."""
    model = copy.deepcopy(request.getfixturevalue(arch)).double()
    x64 = x[:1].double()
    targets = top1(model, x64)
    reshape = ours_reshape(model)
    ours = xgrad_cam(model, x64, targets, layer, reshape=reshape, convention="pytorch-grad-cam")
    theirs = pgc_maps("XGradCAM", model, layer, x64, targets, their_reshape, ours.shape[-2:])
    assert (pgc_form(ours).float() - theirs).abs().max() < ATOL
    if arch == "swin":
        paper = xgrad_cam(model, x64, targets, layer, reshape=reshape)
        assert (pgc_form(paper).float() - theirs).abs().max() > ATOL


def test_full_size_output_is_our_upsampled_map(vit, x):
    targets = top1(vit, x)
    ours = grad_cam(vit, x, targets, VIT_LAYER, reshape=vit_reshape(vit))
    theirs = pgc_maps("GradCAM", vit, VIT_LAYER, x, targets, pgc_vit_transform)
    assert (pgc_form(upsample(pgc_form(ours), (224, 224))) - theirs).abs().max() < ATOL


# Score-CAM runs one forward per channel: narrow models, one sample, at a GELU's output (a
# LayerNorm's output has zero mean over the channels, and random weights give near-uniform
# softmax weights: the map would cancel to ~1e-4 of its terms).
SCORE_MODELS = [
    ("vit_tiny_patch16_224", {"embed_dim": 24, "depth": 2}, "blocks.1.mlp.act",
     lambda m: vit_reshape(m), pgc_vit_transform),  # 96 channels, 14 x 14
    ("swin_tiny_patch4_window7_224", {"embed_dim": 8, "depths": (1, 1, 1, 1),
     "num_heads": (1, 1, 1, 1)}, "layers.0.blocks.0.mlp.act",
     lambda m: vit_reshape((56, 56), num_prefix_tokens=0), flat_tokens((56, 56))),  # 32, 56 x 56
]  # fmt: skip


@pytest.mark.parametrize("name, kwargs, layer, ours_reshape, their_reshape", SCORE_MODELS,
                         ids=["vit", "swin"])  # fmt: skip
def test_score_cam_matches_pytorch_grad_cam(name, kwargs, layer, ours_reshape, their_reshape):
    model = timm_model(name, **kwargs)
    x1 = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    targets = top1(model, x1)
    ours = score_cam(model, x1, targets, layer, reshape=ours_reshape(model), batch_size=96,
                     convention="pytorch-grad-cam")  # fmt: skip
    theirs = pgc_maps("ScoreCAM", model, layer, x1, targets, their_reshape, ours.shape[-2:],
                      batch_size=96)  # fmt: skip
    assert (pgc_form(ours) - theirs).abs().max() < ATOL


# --------------------------------------------------------------------------------------------
# The model comes back as it went in; bad input gets a clear error, before any work.


def test_model_comes_back_unchanged(vit, x):
    frozen = vit.pos_embed
    vit.train()
    frozen.requires_grad_(False)
    try:
        for fn in (grad_cam, layer_cam, eigen_cam):
            fn(vit, x[:1], None, VIT_LAYER, reshape=vit_reshape(vit))
        assert xu.count_hooks(vit) == 0
        assert all(m.training for m in vit.modules())
        assert not frozen.requires_grad
        assert all(p.requires_grad and p.grad is None for p in vit.parameters() if p is not frozen)
    finally:
        vit.eval()
        frozen.requires_grad_(True)


class Unrun(nn.Module):
    """A model whose forward fails the test: the checks must come before any work."""

    def __init__(self):
        super().__init__()
        self.body = nn.Identity()

    def forward(self, x):
        raise AssertionError("the model ran before the arguments were checked")


def test_reshape_is_checked_before_any_work(x):
    with pytest.raises(TypeError, match="reshape must be None or a function"):
        grad_cam(Unrun(), x, 0, "body", reshape="vit")
    with pytest.raises(TypeError, match="reshape must be None or a function"):
        eigen_cam(Unrun(), x, 0, "body", reshape=(14, 14))
    with pytest.raises(ValueError, match="ablation_cam takes no reshape.*score_cam"):
        ablation_cam(Unrun(), x, 0, "body", reshape=swin_reshape)


def test_tokens_without_reshape_are_refused(vit, x):
    with pytest.raises(ValueError, match=r"tokens \(N, tokens, D\).*reshape=vit_reshape"):
        grad_cam(vit, x, None, VIT_LAYER)
    assert xu.count_hooks(vit) == 0


def test_a_reshape_of_the_wrong_shape_is_refused(vit, x):
    with pytest.raises(ValueError, match=r"into \(2, 197, 192\); it must return .*\(N, K, h, w\)"):
        grad_cam(vit, x, None, VIT_LAYER, reshape=lambda t: t)
    with pytest.raises(ValueError, match="with the batch's N = 2 first"):
        score_cam(vit, x, None, VIT_LAYER, reshape=lambda t: vit_reshape(vit)(t)[:1])
    with pytest.raises(TypeError, match="reshape returned a ndarray, not a tensor"):
        hires_cam(vit, x, None, VIT_LAYER, reshape=lambda t: t.detach().numpy())
    with pytest.raises(ValueError, match="1 prefix tokens and a 7 x 7 grid make 50"):
        layer_cam(vit, x, None, VIT_LAYER, reshape=vit_reshape((7, 7)))
    assert xu.count_hooks(vit) == 0
