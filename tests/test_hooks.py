import pytest
import torch
from torch import nn

import xaiutils as xu


def _manual_vgg(model, x, hooked):
    """VGG16 run by hand, with a leaf at the output of features[hooked] (pre in-place ReLU)."""
    h = x
    for i, module in enumerate(model.features):
        h = torch.relu(h) if isinstance(module, nn.ReLU) else module(h)
        if i == hooked:
            leaf = h.detach().requires_grad_()
            h = leaf
    return leaf, model.classifier(torch.flatten(model.avgpool(h), 1))


@pytest.mark.parametrize("hooked", [28, 29])
def test_capture_on_vgg16_in_place_relu(vgg16, hooked):
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    leaf, logits = _manual_vgg(vgg16, x, hooked)
    (expected_grad,) = torch.autograd.grad(logits[0, 7], leaf)
    with xu.Capture(vgg16, f"features.{hooked}") as cap:
        out = vgg16(x)
        out[0, 7].backward()
    # features.28 is a conv whose output the in-place ReLU 29 would overwrite: not here.
    assert torch.equal(cap.activation.detach(), leaf.detach())
    assert (cap.activation < 0).any() == (hooked == 28)
    assert torch.allclose(cap.gradient, expected_grad, atol=1e-6)
    assert torch.allclose(out, logits, atol=1e-5)
    vgg16.zero_grad(set_to_none=True)


def test_capture_on_efficientnet_and_resnet(effnet, resnet18, photos_batch):
    for model, layer, shape in [
        (effnet, "bn2", (2, 1280, 7, 7)),
        (resnet18, "layer4", (2, 512, 7, 7)),
    ]:
        with xu.Capture(model, layer) as cap:
            logits = model(photos_batch)
            logits[:, 3].sum().backward()
        assert cap.activation.shape == shape and cap.gradient.shape == shape
        # GAP + linear head: d logit_c / d A_k(i, j) = w_ck / (h * w), the same at every pixel.
        fc = model.classifier if model is effnet else model.fc
        expected = (fc.weight[3] / 49).view(1, -1, 1, 1).expand(shape)
        assert torch.allclose(cap.gradient, expected, atol=1e-7)
        model.zero_grad(set_to_none=True)


def test_capture_on_frozen_model_still_gives_the_gradient(resnet18):
    x = torch.randn(1, 3, 224, 224)
    with xu.preserved_state(resnet18), xu.Capture(resnet18, "layer3") as cap:
        assert not any(p.requires_grad for p in resnet18.parameters())
        resnet18(x)[0, 1].backward()
    assert cap.gradient.shape == (1, 256, 14, 14) and cap.gradient.abs().sum() > 0
    assert all(p.requires_grad for p in resnet18.parameters())


def test_hook_count_unchanged_after_capture_and_after_error(effnet, photos_batch):
    before = xu.count_hooks(effnet)
    with xu.Capture(effnet, "blocks.3"):
        assert xu.count_hooks(effnet) == before + 1
        effnet(photos_batch[:1])
    assert xu.count_hooks(effnet) == before
    with pytest.raises(ZeroDivisionError), xu.Capture(effnet, "blocks.3"):
        effnet(photos_batch[:1])
        raise ZeroDivisionError
    assert xu.count_hooks(effnet) == before


def test_no_grad_forward_gives_a_clear_error(effnet, photos_batch):
    with xu.Capture(effnet, "bn2") as cap, torch.no_grad():
        effnet(photos_batch[:1])
    assert cap.activation.shape == (1, 1280, 7, 7)
    with pytest.raises(RuntimeError, match="no_grad"):
        cap.gradient  # noqa: B018


def test_capture_before_forward_says_so(effnet):
    with xu.Capture(effnet, "bn2") as cap:
        pass
    with pytest.raises(RuntimeError, match="has not run"):
        cap.activation  # noqa: B018


def test_module_called_twice_records_both(resnet18):
    # torchvision's BasicBlock calls its one `relu` module twice.
    with xu.Capture(resnet18, "layer1.0.relu") as cap:
        resnet18(torch.randn(1, 3, 64, 64))[0, 0].backward()
    assert len(cap.activations) == 2 and len(cap.gradients) == 2
    assert cap.gradient.shape == cap.activation.shape
    resnet18.zero_grad(set_to_none=True)


def test_feature_maps_of_several_layers(effnet, photos_batch):
    maps = xu.feature_maps(effnet, photos_batch, ["conv_stem", "blocks.2", "bn2"])
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "conv_stem": (2, 32, 112, 112),
        "blocks.2": (2, 40, 28, 28),
        "bn2": (2, 1280, 7, 7),
    }
    assert not maps["bn2"].requires_grad and maps["bn2"].min() >= 0  # after ReLU6
    assert xu.count_hooks(effnet) == 0


def test_preserved_state_restores_mode_and_flags_on_error():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
    model.train()
    model[0].eval()
    model[2].weight.requires_grad_(False)
    with pytest.raises(ValueError), xu.preserved_state(model):
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        raise ValueError
    assert [m.training for m in model.modules()] == [True, False, True, True]
    assert [p.requires_grad for p in model.parameters()] == [True, True, True, True, False, True]


def test_preserved_state_notices_a_leftover_hook():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="1 hooks were left"), xu.preserved_state(model):
        model[0].register_forward_hook(lambda *a: None)


def test_preserved_state_keeps_the_users_hooks_and_catches_a_replaced_hook_dict():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    mine = model[0].register_forward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="1 hooks were left"), xu.preserved_state(model):
        model[1]._forward_hooks = type(model[1]._forward_hooks)()  # a library resets the dict
        model[1].register_forward_hook(lambda *a: None)
    assert list(model[0]._forward_hooks) == [mine.id] and not model[1]._forward_hooks
    mine.remove()


def test_record_from_here_gives_the_same_gradient_and_restores_grad_mode(effnet, photos_batch):
    with xu.preserved_state(effnet):
        with xu.Capture(effnet, "blocks.5") as cap:
            effnet(photos_batch)[:, 3].sum().backward()
        expected = cap.gradient
        with xu.Capture(effnet, "blocks.5", record_from_here=True) as cap, torch.no_grad():
            logits = effnet(photos_batch)  # below the layer: nothing recorded
            assert torch.is_grad_enabled() and logits.requires_grad  # on from the layer
            (got,) = torch.autograd.grad(logits[:, 3].sum(), cap.activation)
        assert torch.is_grad_enabled()  # the no_grad block put the caller's mode back
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert xu.count_hooks(effnet) == 0
