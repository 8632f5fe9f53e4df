"""The explorer behind ``notebooks/explorer.ipynb``: photo, method, layer and class, with widgets.

:class:`Explorer` holds the model and two caches: each photo's input and top-5
(:meth:`Explorer.predict`) and each raw map with the seconds it took (:meth:`Explorer.maps`,
keyed by photo, method, layer and class). Drawing (:meth:`Explorer.figure`, and
:meth:`Explorer.grid` for a static grid where widgets cannot run: nbval, the HTML site) only
reads the caches, so a new colormap or alpha never recomputes a map. :meth:`Explorer.widgets`
builds the controls; their callbacks are plain methods that a test calls after setting
``.value``. ipywidgets is imported there, never when ``xaiutils`` is.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

import xaiutils as xu
from xaiutils.cli import DEFAULT_LAYER
from xaiutils.explorer_widgets import CMAPS, ExplorerWidgets
from xaiutils.methods.registry import METHODS, Method, get_method
from xaiutils.models import Prediction
from xaiutils.validation import in_range

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["CMAPS", "LAYERS", "Classified", "Explorer", "Key"]

# The layers offered for each model: its main stages, the last one (DEFAULT_LAYER) by default.
LAYERS = {
    "efficientnet_lite0": ("blocks.2", "blocks.3", "blocks.4", "blocks.5", "blocks.6", "bn2"),
    "resnet18": ("layer1", "layer2", "layer3", "layer4"),
    "vgg16": ("features.15", "features.22", "features.29"),
    "alexnet": ("features.4", "features.7", "features.11"),
}
SCALE = "evidence (min-max per map)"


def _check_style(cmap: str, alpha: float) -> None:
    """A colormap matplotlib knows and an alpha in [0, 1], before any work."""
    in_range(alpha, "alpha", 0, 1)
    if not isinstance(cmap, str) or cmap not in matplotlib.colormaps:
        raise ValueError(f"cmap {cmap!r} is not a matplotlib colormap: use one of {CMAPS}")


class Key(NamedTuple):
    """One map's cache key: photo, method key, layer (``None``: the method takes none), class."""

    photo: str
    method: str
    layer: str | None
    target: int


class Classified(NamedTuple):
    """One photo as the model sees it: ``x`` (1, 3, H, W), ``pixels`` (H, W, 3) in [0, 1],
    ``probs`` (classes,) and its ``top5``."""

    x: torch.Tensor
    pixels: np.ndarray
    probs: torch.Tensor
    top5: list[Prediction]


class Explorer(ExplorerWidgets):
    """A model, its photos and the caches of an explorer (the widgets: :mod:`.explorer_widgets`).

    Parameters
    ----------
    model
        A classifier; ``None`` loads ``xu.load_model(name)``.
    name
        The model's name in :data:`xaiutils.models.MODEL_NAMES`: it picks the preprocessing,
        the layers offered (:data:`LAYERS`) and the default layer.

    Attributes
    ----------
    cache, seconds
        Each raw map ``(H, W)`` and the seconds it took, by :class:`Key`; ``computed`` counts
        the maps computed (the cache's misses).
    controls
        The widgets by name, once :meth:`widgets` has built them; ``figure_shown`` and
        ``text_shown`` hold what the output shows now.
    """

    def __init__(self, model: nn.Module | None = None, name: str = "efficientnet_lite0") -> None:
        self.model = xu.load_model(name) if model is None else model
        self.pre = xu.preprocessing(name)
        self.default_layer = DEFAULT_LAYER[name]
        self.layers = LAYERS.get(name, (self.default_layer,))
        self.photos: dict[str, Image.Image] = {}  # the uploaded ones; course photos load lazily
        self.classified: dict[str, Classified] = {}
        self.cache: dict[Key, torch.Tensor] = {}
        self.seconds: dict[Key, float] = {}
        self.computed = 0
        self.controls: dict[str, Any] = {}
        self.figure_shown: Figure | None = None
        self.text_shown = ""
        self._quiet = False

    # --- photos and classes -------------------------------------------------------------
    def photo_names(self) -> list[str]:
        """The course's photos, then the added ones."""
        return [*xu.photo_names(), *(n for n in self.photos if n not in xu.photo_names())]

    def add_photo(self, name: str, image: Image.Image) -> str:
        """Add (or replace) a photo of one's own under ``name``; its cached entries are dropped."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.photos[name] = xu.to_rgb(image)
        self.classified.pop(name, None)
        self.cache = {k: v for k, v in self.cache.items() if k.photo != name}
        self.seconds = {k: v for k, v in self.seconds.items() if k.photo != name}
        return name

    def predict(self, photo: str) -> Classified:
        """The photo's input, pixels, probabilities and top-5 (computed once per photo)."""
        if photo not in self.classified:
            if photo in self.photos:
                image = self.photos[photo]
            elif isinstance(photo, str) and photo in xu.photo_names():
                image = xu.load_photo(photo)
            else:
                raise ValueError(f"photo {photo!r} is unknown; known: {self.photo_names()}")
            x = self.pre(image)
            with torch.no_grad():
                logits = self.model(x)
            probs = logits.softmax(dim=1)[0]
            top5 = xu.top_k(logits, 5)[0]
            self.classified[photo] = Classified(x, self.pre.pixels(image), probs, top5)
        return self.classified[photo]

    @staticmethod
    def label(index: int) -> str:
        """A class as the class box shows it: ``"Egyptian cat (285)"``."""
        return f"{xu.class_names()[index]} ({index})"

    def class_index(self, target: str | int) -> int:
        """A class from its index, ``"285"``, ``"Egyptian cat (285)"`` or a unique name."""
        names = xu.class_names()
        if isinstance(target, str):
            text = target.strip()
            number = text.rsplit("(", 1)[-1].rstrip(")") if text.endswith(")") else text
            hits = [int(number)] if number.isdigit() else [
                i for i, n in enumerate(names) if n.lower() == text.lower()
            ]  # fmt: skip
            if not hits:
                close = ", ".join(map(repr, difflib.get_close_matches(text, names, n=3)))
                hint = f" Did you mean {close}?" if close else ""
                raise ValueError(f"unknown class {text!r}: not an ImageNet class name.{hint}")
            target = hits[0]
        if isinstance(target, bool) or not isinstance(target, numbers.Integral):
            raise TypeError(f"target must be a class index or name, got {target!r}")
        if not 0 <= target < len(names):
            raise ValueError(f"target {target} is out of range: classes are 0..{len(names) - 1}")
        return int(target)

    # --- maps ---------------------------------------------------------------------------
    def key(self, photo: str, method: str | Method, layer: str | None, target: object) -> Key:
        """The cache key, resolved: the method's key, its layer (``None`` for a method without
        one, :attr:`default_layer` if not given) and the class (``None``: the top-1)."""
        m = get_method(method)
        layer = (layer or self.default_layer) if m.needs_layer else None
        if layer is not None:
            xu.get_layer(self.model, layer)
        top1 = self.predict(photo).top5[0].index
        return Key(photo, m.key, layer, top1 if target in (None, "") else self.class_index(target))

    def maps(
        self, photo: str, method: str | Method, layer: str | None = None, target: object = None
    ) -> torch.Tensor:
        """The raw map ``(H, W)`` of ``xu.explain``, computed once per :meth:`key` and timed in
        :attr:`seconds`; a cache hit costs nothing."""
        key = self.key(photo, method, layer, target)
        if key not in self.cache:
            takes = inspect.signature(METHODS[key.method].function).parameters
            quiet = {"progress": False} if "progress" in takes else {}  # the output says it
            start = time.perf_counter()
            x = self.predict(photo).x
            maps = xu.explain(self.model, x, key.method, key.target, key.layer, **quiet)
            self.seconds[key] = time.perf_counter() - start
            self.cache[key] = maps[0].detach().float()
            self.computed += 1
        return self.cache[key]

    # --- drawing ------------------------------------------------------------------------
    def title(self, key: Key) -> str:
        """Method · layer, then class (probability) · seconds: the title of an overlay."""
        prob = float(self.predict(key.photo).probs[key.target])
        return (
            f"{METHODS[key.method].name} · {key.layer or 'input'}\n"
            f"{xu.class_names()[key.target]} ({prob:.2f}) · {self.seconds[key]:.2f} s"
        )

    def describe(self, key: Key) -> str:
        """Alt text for an overlay: what it shows and where its peak lies."""
        heat = self.maps(*key)
        y, x = divmod(int(heat.argmax()), heat.shape[1])
        return (
            f"{key.photo} with the {METHODS[key.method].name} map "
            f"{f'at {key.layer}' if key.layer else 'on the input'} for "
            f"{xu.class_names()[key.target]} over it; strongest at x = {x}, y = {y} of "
            f"{heat.shape[1]} x {heat.shape[0]} pixels"
        )

    def _panel(self, ax: Axes, key: Key, cmap: str, alpha: float) -> None:
        heat = xu.normalize(self.maps(*key))
        ax.imshow(xu.overlay(self.predict(key.photo).pixels, heat, alpha=alpha, cmap=cmap))
        ax.set_title(self.title(key), fontsize=9)
        ax.axis("off")

    def _photo(self, ax: Axes, photo: str) -> None:
        ax.imshow(self.predict(photo).pixels)
        ax.set_title(f"{photo}\n(as the model sees it)", fontsize=9)
        ax.axis("off")

    def figure(
        self, photo: str, method: str | Method = "grad-cam", layer: str | None = None,
        target: object = None, cmap: str = xu.CMAP, alpha: float = 0.5,
    ) -> Figure:  # fmt: skip
        """The photo, and the map over it with its colorbar. Only the map is cached: a new
        ``cmap`` or ``alpha`` redraws without recomputing. A pyplot figure: ``plt.show()``
        (or ``plt.close``) it."""
        _check_style(cmap, alpha)
        key = self.key(photo, method, layer, target)
        fig = plt.figure(figsize=(7.6, 3.6), layout="constrained")
        left, right = fig.subplots(1, 2)
        self._photo(left, photo)
        self._panel(right, key, cmap, alpha)
        fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=right, shrink=0.8, label=SCALE)
        return fig

    def grid(
        self, photos: Sequence[str], methods: Sequence[str | tuple[str, str]],
        target: object = None, cmap: str = xu.CMAP, alpha: float = 0.5,
    ) -> Figure:  # fmt: skip
        """One row per photo: the photo, then one overlay per method (a key, or ``(key,
        layer)``) for ``target`` (``None``: each photo's top-1), on one shared scale. A pyplot
        figure, as :meth:`figure`."""
        _check_style(cmap, alpha)
        pairs = [(m, None) if isinstance(m, str) else m for m in methods]
        keys = [[self.key(p, m, layer, target) for m, layer in pairs] for p in photos]
        size = (2.5 * len(pairs) + 3.3, 2.75 * len(photos))
        fig = plt.figure(figsize=size, layout="constrained")
        axes = fig.subplots(len(photos), len(pairs) + 1, squeeze=False)
        for row, photo, row_keys in zip(axes, photos, keys, strict=True):
            self._photo(row[0], photo)
            for ax, key in zip(row[1:], row_keys, strict=True):
                self._panel(ax, key, cmap, alpha)
        fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=axes[:, -1], shrink=0.6, label=SCALE)
        return fig
