"""The registry of methods and ``explain``: complete, right about the libraries, and equal to
each method followed by its named step."""

import importlib
import inspect
import re

import pytest
import torch
from tiny import X_TINY, TinyGapNet

import xaiutils as xu
import xaiutils.methods as xm
from xaiutils.methods import METHODS, explain, get_method

# Public functions that take (model, x, target, ...) but are the shared machinery, not methods.
MECHANISMS = {"layer_pass", "weighted_cam", "input_gradient", "targets_or_top1", "explain"}


def test_every_public_method_is_in_the_registry():
    registered = {m.function for m in METHODS.values()}
    for name in xm.__all__:
        obj = getattr(xm, name)
        if not inspect.isfunction(obj) or name in MECHANISMS:
            continue
        params = list(inspect.signature(obj).parameters)
        if params[:3] == ["model", "x", "target"]:
            assert obj in registered, f"{name} is a public method missing from METHODS"
    assert len(registered) == len(METHODS)  # one entry per function


def test_entries_are_complete_and_name_real_library_classes():
    import captum.attr
    import pytorch_grad_cam
    import torchcam.methods

    for key, m in METHODS.items():
        assert key == m.key and m.family in ("gradient", "cam", "perturbation", "path")
        assert m.to_input in ("upsample", "abs-sum", "to-pixels", "as-is") and m.paper and m.cost
        lesson = rf"Lessons? [^.]*\b{m.lesson}\b"  # the docstring names the lesson
        assert re.search(lesson, inspect.getdoc(m.function)), key
        assert ("layer" in inspect.signature(m.function).parameters) == m.needs_layer, key
        if m.pytorch_grad_cam:
            assert hasattr(pytorch_grad_cam, m.pytorch_grad_cam), m.pytorch_grad_cam
        if m.torchcam:
            assert hasattr(torchcam.methods, m.torchcam), m.torchcam
        if m.captum:
            for part in m.captum.replace(")", "").split("("):
                assert hasattr(captum.attr, part), m.captum
        if m.torchray:
            importlib.import_module(f"torchray.attribution.{m.torchray}")


def test_get_method_by_key_name_or_function_name():
    assert get_method("grad-cam") is get_method("Grad-CAM") is get_method("grad_cam")
    assert get_method(METHODS["cam"]) is METHODS["cam"]
    with pytest.raises(ValueError, match="Did you mean 'grad-cam-pp'"):
        get_method("grad_cam_p")
    with pytest.raises(TypeError, match="method must be a name"):
        get_method(3)


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 6, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(6, 3),
    )
    return net.eval()


OPTIONS = {
    "smoothgrad": {"samples": 3},
    "occlusion": {"window": 4, "stride": 3},
    "rise": {"masks": 8},
    "lime": {"samples": 8},
}


@pytest.mark.parametrize("key", list(METHODS))
def test_explain_is_the_method_then_its_named_step(key):
    model, m = _net(), METHODS[key]
    x = torch.randn(2, 3, 12, 10, generator=torch.Generator().manual_seed(1))
    layer = "3" if m.needs_layer else None
    options = OPTIONS.get(key, {})
    maps = explain(model, x, key, [0, 2], layer, **options)
    raw = m.function(model, x, [0, 2], *([layer] if layer else []), **options)
    if m.to_input == "upsample":
        expected = xm.upsample(raw, (12, 10))
    elif m.to_input == "abs-sum":
        expected = raw.abs().sum(dim=1)
    elif m.to_input == "as-is":
        expected = raw
    else:
        expected = raw.to_pixels(raw.drop("logit"))
    assert maps.shape == (2, 12, 10) and torch.equal(maps, expected)
    normalized = explain(model, x, key, [0, 2], layer, normalize=True, **options)
    assert torch.equal(normalized, xu.normalize(expected))


def test_explain_says_when_a_layer_is_missing_or_not_taken():
    model, x = TinyGapNet(), X_TINY
    with pytest.raises(ValueError, match="Grad-CAM needs a layer"):
        explain(model, x, "grad-cam", 0)
    with pytest.raises(ValueError, match="vanilla gradient takes no layer"):
        explain(model, x, "vanilla-gradient", 0, "features")
    with pytest.raises(ValueError, match="unknown method 'gradcam'"):
        explain(model, x, "gradcam", 0, "features")


def test_the_package_exports_exactly_what_its_modules_export():
    modules = ["ablation", "attributions", "cam", "gradients", "lime", "occlusion", "registry"]
    modules += ["rise", "tokens", "variants"]
    exported = set()
    for name in modules:
        module = importlib.import_module(f"xaiutils.methods.{name}")
        assert all(hasattr(module, n) for n in module.__all__), name
        exported |= set(module.__all__)
    assert exported == set(xm.__all__)
    assert all(getattr(xm, n) is not None for n in xm.__all__)
