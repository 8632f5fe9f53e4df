"""Property-based tests of every public method, over random small models and inputs (hypothesis).

For random conv networks (1-3 conv blocks, with or without batch norm, in-place ReLU or ReLU6,
a stride-2 block or not, in train or eval mode), batch sizes (1 included), input sizes, dtypes
and targets, each method must:

* return finite maps of the documented shape and dtype;
* give the model back exactly as it was (modes, ``requires_grad``, ``.grad``, hooks, buffers,
  outputs on a fixed input), also when it raises;
* give a batch the same maps as its samples one by one;
* refuse invalid input with a ``ValueError`` or ``TypeError`` that names the argument, never
  an exception from inside torch.

The profile comes from tests/conftest.py: few examples, derandomised, no example database
(nothing written to the checkout), so the suite takes about half a minute on the course's CPU.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import xaiutils as xu
from xaiutils import methods as xm
from xaiutils.evaluation import deletion
from xaiutils.methods.occlusion import OcclusionResult


@dataclass(frozen=True)
class Spec:
    """A random small classifier: conv blocks, GAP, one linear layer."""

    seed: int
    blocks: int
    channels: int
    batchnorm: bool
    relu6: bool
    inplace: bool
    stride2: bool
    train: bool
    classes: int


class SmallNet(nn.Module):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        torch.manual_seed(spec.seed)
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(spec.blocks):
            stride = 2 if spec.stride2 and i == 0 else 1
            layers.append(nn.Conv2d(c_in, spec.channels, 3, stride=stride, padding=1))
            if spec.batchnorm:
                bn = nn.BatchNorm2d(spec.channels)
                with torch.no_grad():  # statistics that differ from the defaults
                    bn.running_mean.uniform_(-0.2, 0.2)
                    bn.running_var.uniform_(0.5, 1.5)
                layers.append(bn)
            layers.append((nn.ReLU6 if spec.relu6 else nn.ReLU)(inplace=spec.inplace))
            c_in = spec.channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(spec.channels, spec.classes)
        self.train(spec.train)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


specs = st.builds(
    Spec,
    seed=st.integers(0, 2**16),
    blocks=st.integers(1, 3),
    channels=st.integers(2, 6),
    batchnorm=st.booleans(),
    relu6=st.booleans(),
    inplace=st.booleans(),
    stride2=st.booleans(),
    train=st.booleans(),
    classes=st.integers(2, 5),
)


def last_layer(model: SmallNet) -> str:
    return f"features.{len(model.features) - 1}"


# Every method of the registry, as call(model, x, target, layer) -> output, and what kind of
# output it is (its named step to the input says: maps at the layer, input-sized, or a grid).
Call = Callable[[nn.Module, torch.Tensor, object, str], object]
OPTIONS = {
    "score-cam": {"batch_size": 4},
    "ablation-cam": {"batch_size": 3},
    "smoothgrad": {"samples": 3, "batch_size": 2},
    "occlusion": {"window": 4, "stride": 3},
    "integrated-gradients": {"steps": 4, "batch_size": 5},
    "gradient-shap": {"samples": 3, "batch_size": 2},
    "rise": {"masks": 8, "batch_size": 3},
    "lime": {"samples": 8, "batch_size": 3},
}
KIND = {"upsample": "cam", "abs-sum": "input", "to-pixels": "occlusion", "as-is": "pixels"}


def _call(m: xm.Method) -> Call:
    def call(model: nn.Module, x: torch.Tensor, target: object, layer: str) -> object:
        return m.function(
            model, x, target, *([layer] if m.needs_layer else []), **OPTIONS.get(m.key, {})
        )

    return call


METHODS: dict[str, tuple[Call, str]] = {
    key: (_call(m), KIND[m.to_input]) for key, m in xm.METHODS.items()
}


def snapshot(model: nn.Module, probe: torch.Tensor) -> dict:
    """Everything a method could change: flags, grads, hooks, buffers, and what it computes."""
    with torch.no_grad():
        output = copy.deepcopy(model).eval()(probe)
    return {
        "training": [m.training for m in model.modules()],
        "inplace": [getattr(m, "inplace", None) for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "hooks": xu.count_hooks(model),
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "forward": [m.__dict__.get("forward") for m in model.modules()],
        "output": output,
    }


def assert_same(before: dict, after: dict) -> None:
    for key in ("training", "inplace", "requires_grad", "hooks", "forward"):
        assert before[key] == after[key], key
    for a, b in zip(before["grads"], after["grads"], strict=True):
        assert (a is None and b is None) or torch.equal(a, b)
    assert before["state"].keys() == after["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(v, after["state"][k]), k
    assert torch.equal(before["output"], after["output"])


def maps_of(out: object) -> torch.Tensor:
    return out.logit if isinstance(out, OcclusionResult) else out  # type: ignore[union-attr]


def expected_shape(kind: str, model: SmallNet, x: torch.Tensor) -> tuple[int, ...]:
    n, c, h, w = x.shape
    if kind == "input":
        return (n, c, h, w)
    if kind == "pixels":
        return (n, h, w)
    if kind == "occlusion":
        return (n, -(-(h - 4) // 3) + 1, -(-(w - 4) // 3) + 1)
    stride = 2 if model.features[0].stride == (2, 2) else 1
    return (n, -(-h // stride), -(-w // stride))


@st.composite
def cases(draw: st.DrawFn) -> tuple[SmallNet, torch.Tensor, object, torch.dtype]:
    spec = draw(specs)
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    model = SmallNet(spec).to(dtype)
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(8, 14)), draw(st.integers(8, 14))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    if draw(st.booleans()):  # a user's own .grad (from training, say) must survive untouched
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=gen).to(dtype)
    if draw(st.booleans()):  # and so must a frozen layer
        model.features[0].weight.requires_grad_(False)
    x = torch.randn(n, 3, h, w, generator=gen).to(dtype)
    target = draw(
        st.one_of(
            st.none(),
            st.integers(0, spec.classes - 1),
            st.lists(st.integers(0, spec.classes - 1), min_size=n, max_size=n),
        )
    )
    return model, x, target, dtype


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = max(a.abs().max().item(), b.abs().max().item(), 1e-6)
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("name", list(METHODS))
@given(case=cases())
def test_maps_are_finite_shaped_batch_independent_and_leave_the_model_alone(name, case):
    model, x, target, dtype = case
    call, kind = METHODS[name]
    layer = last_layer(model)
    before = snapshot(model, x[:1])
    out = call(model, x, target, layer)
    assert_same(before, snapshot(model, x[:1]))

    maps = maps_of(out)
    assert maps.shape == expected_shape(kind, model, x)
    assert maps.dtype == (torch.float32 if kind == "occlusion" else dtype)
    assert torch.isfinite(maps).all()

    # One sample at a time gives the same maps (the targets fixed to the batch's).
    if target is None:
        with xu.preserved_state(model), torch.no_grad():
            target = model(x).argmax(1).tolist()
    per_target = target if isinstance(target, list) else [target] * len(x)
    singles = [maps_of(call(model, x[i : i + 1], per_target[i], layer)) for i in range(len(x))]
    assert _close(torch.cat(singles), maps.to(singles[0].dtype)), name


# Bad arguments, each with the word its error must name. Every method gets the ones that apply.
BAD_X = {
    "NaN pixel": (lambda x: x.index_fill(3, torch.tensor([0]), float("nan")), "x"),
    "inf pixel": (lambda x: x.index_fill(2, torch.tensor([1]), float("inf")), "x"),
    "no batch axis": (lambda x: x[0], "x"),
    "empty batch": (lambda x: x[:0], "x"),
    "integer pixels": (lambda x: (x * 100).long(), "x"),
    "numpy array": (lambda x: x.numpy(), "x"),
    "wrong dtype": (lambda x: x.double(), "x"),
}
BAD_TARGETS = {
    "float class": (2.7, "target"),
    "float tensor": (torch.tensor([1.9]), "target"),
    "shape (N, 1)": (torch.tensor([[1]]), "target"),
    "string": ("cat", "target"),
    "out of range": (99, "target"),
    "too many": ([0, 1, 0, 1], "target"),
    "bool": (True, "target"),
}
BAD_LAYERS = {
    "int": (3, "layer"),
    "float": (1.5, "layer"),
    "missing": ("features.99", "layer"),
    "empty": ("", "layer"),
}
LAYERED = [key for key, m in xm.METHODS.items() if m.needs_layer]


def _model() -> SmallNet:
    spec = Spec(1, 2, 4, batchnorm=True, relu6=False, inplace=True, stride2=False, train=True,
                classes=3)  # fmt: skip
    return SmallNet(spec)


def _assert_refused(model, call, x, target, layer, word) -> None:
    before = snapshot(model, torch.zeros(1, 3, 10, 10))
    with pytest.raises((ValueError, TypeError)) as info:
        call(model, x, target, layer)
    assert word in str(info.value), str(info.value)
    assert_same(before, snapshot(model, torch.zeros(1, 3, 10, 10)))


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("bad", list(BAD_X))
def test_a_bad_batch_is_refused_by_name(name, bad):
    model, (change, word) = _model(), BAD_X[bad]
    x = change(torch.randn(3, 3, 10, 10))
    _assert_refused(model, METHODS[name][0], x, None, last_layer(model), word)


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("bad", list(BAD_TARGETS))
def test_a_bad_target_is_refused_by_name(name, bad):
    model, (target, word) = _model(), BAD_TARGETS[bad]
    x = torch.randn(1, 3, 10, 10)
    _assert_refused(model, METHODS[name][0], x, target, last_layer(model), word)


@pytest.mark.parametrize("name", LAYERED)
@pytest.mark.parametrize("bad", list(BAD_LAYERS))
def test_a_bad_layer_is_refused_by_name(name, bad):
    model, (layer, word) = _model(), BAD_LAYERS[bad]
    _assert_refused(model, METHODS[name][0], torch.randn(1, 3, 10, 10), None, layer, word)


@given(
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-5, 0),
        st.booleans(),
        st.text(max_size=3),
        st.none(),
    )
)
def test_counts_refuse_anything_but_a_positive_int(value):
    model, x = _model(), torch.randn(1, 3, 10, 10)
    calls = {
        "batch_size": lambda v: xm.score_cam(model, x, 0, "features.5", batch_size=v),
        "samples": lambda v: xm.smoothgrad(model, x, 0, samples=v),
        "window": lambda v: xm.occlusion(model, x, 0, window=v),
        "steps": lambda v: deletion(model, x, torch.rand(1, 10, 10), 0, steps=v),
    }
    for word, call in calls.items():
        with pytest.raises((ValueError, TypeError), match=word):
            call(value)


@given(
    maps=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=4, max_size=36
    ).map(lambda v: np.array(v[: len(v) // 2 * 2], dtype=np.float32).reshape(2, -1)),
    nan=st.booleans(),
)
def test_normalize_is_in_unit_range_or_refuses_nan(maps, nan):
    if nan:
        maps[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            xu.normalize(maps)
        return
    out = xu.normalize(maps)
    assert out.shape == maps.shape and out.dtype == maps.dtype
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    if np.ptp(maps) > 1e-6 * max(1.0, np.abs(maps).max()):
        assert out.max() == pytest.approx(1) and out.min() == 0


@pytest.mark.parametrize("name", list(METHODS))
def test_inference_mode_and_low_precision_give_the_same_maps(name):
    """Under ``torch.inference_mode()`` the maps are the ones computed outside it; in bfloat16
    (model and input) they are finite, in bfloat16, and close to float32's."""
    call, kind = METHODS[name]
    model = _model().eval()
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    layer = last_layer(model)
    reference = maps_of(call(model, x, [0, 2], layer))
    with torch.inference_mode():
        assert torch.equal(maps_of(call(model, x, [0, 2], layer)), reference)
    low = maps_of(call(model.bfloat16(), x.bfloat16(), [0, 2], layer))
    assert low.dtype == (torch.float32 if kind == "occlusion" else torch.bfloat16)
    assert torch.isfinite(low).all()
    cosine = torch.nn.functional.cosine_similarity(low.flatten().float(), reference.flatten(), 0)
    assert cosine > 0.95 or reference.abs().max() == 0, (name, cosine)
