import pytest
import torch

import xaiutils as xu
from xaiutils.models import weights_path

EXPECTED_TOP1 = {
    "chelsea": (285, "Egyptian cat"),
    "coffee": (967, "espresso"),
    "china": (442, "bell cote"),
    "grace_hopper": (652, "military uniform"),
    "camera": (872, "tripod"),
    "motorcycle": (665, "moped"),
}


def test_default_model_is_offline_efficientnet_in_eval_mode(effnet):
    assert not effnet.training
    assert type(effnet).__name__ == "EfficientNet"
    assert effnet.classifier.in_features == 1280 and effnet.classifier.out_features == 1000


@pytest.mark.parametrize("name", sorted(EXPECTED_TOP1))
def test_top1_of_the_photos(effnet, name):
    x = xu.preprocessing()(xu.load_photo(name))
    with torch.no_grad():
        best = xu.top_k(effnet(x), k=1)[0][0]
    assert (best.index, best.name) == EXPECTED_TOP1[name]


def test_chelsea_and_coffee_are_confident(effnet, photos_batch):
    with torch.no_grad():
        preds = xu.top_k(effnet(photos_batch), k=5)
    assert preds[0][0].name == "Egyptian cat" and 0.7 < preds[0][0].prob < 0.9
    assert preds[1][0].name == "espresso" and 0.8 < preds[1][0].prob < 0.95
    assert all(len(p) == 5 for p in preds)
    assert all(a.prob >= b.prob for a, b in zip(preds[0], preds[0][1:], strict=False))


def test_load_model_is_identical_every_call(photos_batch):
    a, b = xu.load_model(), xu.load_model()
    with torch.no_grad():
        assert torch.equal(a(photos_batch), b(photos_batch))


def test_random_weights_are_seeded_and_leave_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = xu.load_model("resnet18", pretrained=False, seed=1)
    assert torch.equal(torch.rand(3), expected)
    b = xu.load_model("resnet18", pretrained=False, seed=1)
    c = xu.load_model("resnet18", pretrained=False, seed=2)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    assert not a.training


@pytest.mark.parametrize("name", ["resnet18", "vgg16", "alexnet"])
def test_missing_pretrained_weights_name_the_file(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = weights_path(name)
    assert path.parent == tmp_path / "hub" / "checkpoints"
    with pytest.raises(FileNotFoundError) as err:
        xu.load_model(name)
    message = str(err.value)
    assert str(path) in message and f"torchvision.models.{name}(weights='DEFAULT')" in message
    assert "pretrained=False" in message


def test_cached_pretrained_weights_are_loaded_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    source = xu.load_model("alexnet", pretrained=False, seed=5)
    path = weights_path("alexnet")
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    loaded = xu.load_model("alexnet")
    assert torch.equal(loaded.features[0].weight, source.features[0].weight)


def test_unknown_model_lists_the_choices():
    with pytest.raises(ValueError, match="efficientnet_lite0, resnet18, vgg16, alexnet"):
        xu.load_model("resnet50")


def test_class_names_offline():
    names = xu.class_names()
    assert len(names) == 1000 and names[285] == "Egyptian cat" and names[967] == "espresso"


def test_preprocessing_shapes_and_values():
    pre = xu.preprocessing()
    photo = xu.load_photo("chelsea")
    x = pre([photo, photo])
    assert x.shape == (2, 3, 224, 224) and x.dtype == torch.float32
    assert -1.0 <= x.min() and x.max() <= 1.0  # mean = std = 0.5 maps [0, 1] to [-1, 1]
    pixels = pre.pixels(photo)
    assert pixels.shape == (224, 224, 3) and 0.0 <= pixels.min() and pixels.max() <= 1.0
    assert torch.allclose(x[0], (torch.from_numpy(pixels).permute(2, 0, 1) - 0.5) / 0.5)
    tv = xu.preprocessing("resnet18")(photo)
    assert tv.shape == (1, 3, 224, 224) and not torch.allclose(tv, x[:1])


def test_top_k_rejects_a_single_vector():
    with pytest.raises(ValueError, match=r"\(N, classes\)"):
        xu.top_k(torch.zeros(1000))


def test_get_layer_by_name_and_module(effnet):
    assert xu.get_layer(effnet, "bn2") is effnet.bn2
    assert xu.get_layer(effnet, effnet.blocks[3]) is effnet.blocks[3]
    assert "blocks.6.0" in xu.layer_names(effnet)


def test_unknown_layer_lists_close_matches(effnet):
    with pytest.raises(xu.LayerNotFoundError) as err:
        xu.get_layer(effnet, "block.5")
    assert "'blocks.5'" in str(err.value) and "layer_names" in str(err.value)
    with pytest.raises(xu.LayerNotFoundError, match="'layer4'"):
        xu.get_layer(xu.load_model("resnet18", pretrained=False), "layer5")
    with pytest.raises(xu.LayerNotFoundError, match="not part of this model"):
        xu.get_layer(effnet, torch.nn.ReLU())
    with pytest.raises(xu.LayerNotFoundError):
        xu.get_layer(effnet, "")
