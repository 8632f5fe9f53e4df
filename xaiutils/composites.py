"""Composite images: photos of different classes tiled into one input. Lesson 09.

A map for class ``c`` on a composite has an exactly known right answer: the evidence for
``c`` can only lie in the tile that shows ``c``. Each tile also carries its photo's
hand-drawn object box (``xaiutils/annotations``), scaled into the tile, for the metrics that need
a tighter region (pointing game, box IoU).

Tiles are made as the course's preprocessing makes an input: the whole photo resized straight
to the tile's size (no crop), so a box maps by scaling alone (:func:`xaiutils.scale_box`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from xaiutils.images import annotation, load_photo, scale_box, to_rgb
from xaiutils.metrics import XYXY, region_mask
from xaiutils.models import Preprocessing, preprocessing
from xaiutils.validation import positive_int

__all__ = ["Case", "Composite", "evaluation_cases", "make_composite"]


@dataclass(frozen=True)
class Composite:
    """Photos tiled row by row into one image, and where each one is.

    Attributes
    ----------
    pixels
        The image ``H x W x 3``, floats in [0, 1] (draw heatmaps over it).
    names, classes
        Per tile: the photo's name and its ImageNet class (the class its box is about).
    tiles
        Per tile: ``(x0, y0, x1, y1)`` of the tile in the image (``x1``, ``y1`` exclusive).
    boxes
        Per tile: the photo's annotated object box for that class, in the image's pixels.
    """

    pixels: np.ndarray
    names: tuple[str, ...]
    classes: tuple[int, ...]
    tiles: tuple[tuple[int, int, int, int], ...]
    boxes: tuple[XYXY, ...]

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the image."""
        return self.pixels.shape[0], self.pixels.shape[1]

    def tile_masks(self) -> np.ndarray:
        """``(T, H, W)`` booleans: tile ``t``'s pixels. They partition the image."""
        return np.stack([region_mask(t, self.size) for t in self.tiles])

    def box_masks(self) -> np.ndarray:
        """``(T, H, W)`` booleans: the object box of each tile."""
        return np.stack([region_mask(b, self.size) for b in self.boxes])

    def input(self, pre: Preprocessing | None = None) -> torch.Tensor:
        """The model's input ``(1, 3, H, W)``: the pixels, standardised (no resize).

        ``pre`` defaults to the course's EfficientNet preprocessing; only its mean and std
        are used, the composite keeps its own size.
        """
        pre = preprocessing() if pre is None else pre
        return pre.standardize(torch.from_numpy(self.pixels).permute(2, 0, 1)[None].contiguous())


def _in_tile(xyxy: XYXY, photo_size: tuple[int, int], tile: tuple[int, int, int, int]) -> XYXY:
    """A photo's annotated box, scaled to the tile's size and moved to the tile's place."""
    x0, y0, x1, y1 = tile
    bx0, by0, bx1, by1 = scale_box(xyxy, photo_size, (x1 - x0, y1 - y0))
    return (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1)


def make_composite(
    names: Sequence[str],
    classes: Sequence[int] | None = None,
    *,
    tile: int = 112,
    cols: int = 2,
) -> Composite:
    """Tile photos, ``cols`` per row, each resized straight to ``tile x tile`` pixels.

    Parameters
    ----------
    names
        Photo names (:func:`xaiutils.photo_names`), one per tile, row by row.
    classes
        The ImageNet class of each tile; default: the class of the photo's first annotated
        box. The tile's object box is the first box annotated with that class.
    tile, cols
        Tile side in pixels and tiles per row. Two rows of two 112-pixel tiles make a 224 x 224
        input; of two 224-pixel tiles, a 448 x 448 one. A tile side that is a multiple of 32
        puts the tile borders on the borders of the EfficientNet's last feature-map cells.

    Raises
    ------
    ValueError
        If the names do not fill whole rows, or a class has no box in a photo's annotation.
    """
    tile, cols = positive_int(tile, "tile"), positive_int(cols, "cols")
    if isinstance(names, str):
        raise TypeError(f"names must be a list of photo names, got the string {names!r}")
    names = tuple(names)
    if not names or len(names) % cols:
        raise ValueError(f"{len(names)} photos do not fill rows of {cols}")
    anns = [annotation(n) for n in names]
    classes = tuple(a.boxes[0].class_index for a in anns) if classes is None else tuple(classes)
    if len(classes) != len(names):
        raise ValueError(f"{len(names)} photos but {len(classes)} classes")
    rows = len(names) // cols
    canvas = Image.new("RGB", (cols * tile, rows * tile))
    tiles, boxes = [], []
    for i, (ann, c) in enumerate(zip(anns, classes, strict=True)):
        found = [b for b in ann.boxes if b.class_index == c]
        if not found:
            have = sorted({b.class_index for b in ann.boxes})
            raise ValueError(f"{ann.name} has no box for class {c}; its boxes are for {have}")
        x0, y0 = (i % cols) * tile, (i // cols) * tile
        photo = to_rgb(load_photo(ann.name)).resize((tile, tile), Image.Resampling.BILINEAR)
        canvas.paste(photo, (x0, y0))
        tiles.append((x0, y0, x0 + tile, y0 + tile))
        boxes.append(_in_tile(found[0].xyxy, ann.size, tiles[-1]))
    pixels = np.asarray(canvas, dtype=np.float32) / 255.0
    return Composite(pixels, names, classes, tuple(tiles), tuple(boxes))


@dataclass(frozen=True)
class Case:
    """One class on one image of the evaluation: what a map is scored on. Lesson 09.

    ``image``: index into the images :func:`evaluation_cases` returns; ``tile``: which tile of
    it; ``photo``, ``cls``: the photo and the annotated class; ``layout``: ``"alone"``,
    ``"left"``, ``"right"``, ``"top"`` or ``"bottom"``; ``rank``: the class's rank among the
    logits on that image (0 is the top-1); ``box``: the object box and ``region``: the tile,
    both in the image's pixels.
    """

    image: int
    tile: int
    photo: str
    cls: int
    layout: str
    rank: int
    box: XYXY
    region: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        """A short id, e.g. ``"coffee:967 left of chelsea"``."""
        return f"{self.photo}:{self.cls} {self.layout}"


def evaluation_cases(
    model: torch.nn.Module, *, tile: int = 112, top: int = 5
) -> tuple[list[Composite], list[Case], list[Case]]:
    """Every photo alone, and every ordered pair of photos side by side and stacked. Lesson 09.

    Each photo in every position beside every other one: ``P (P - 1)`` pairs left-right and as
    many top-bottom, plus the ``P`` photos alone, each tile ``tile`` pixels square. A tile
    gives one case per class annotated with a box in its photo (camera: tripod and reflex
    camera; coffee: espresso and cup). A case is **kept** if its class is among the model's
    ``top`` logits on the image, since a map of a class the model does not see there scores
    the method on a question the model did not answer; the others are returned as dropped,
    with their rank.

    Returns ``(images, kept, dropped)``; the images are the composites (a photo alone is a
    composite of one tile), the cases point into them.
    """
    from xaiutils.images import photo_names

    names = photo_names()
    layouts = [((n,), 1, ("alone",)) for n in names]
    layouts += [(pair, 2, ("left", "right")) for pair in itertools.permutations(names, 2)]
    layouts += [(pair, 1, ("top", "bottom")) for pair in itertools.permutations(names, 2)]
    images, kept, dropped = [], [], []
    with torch.no_grad():
        for photos, cols, where in layouts:
            comp = make_composite(photos, tile=tile, cols=cols)
            logits = model(comp.input())[0]
            index = len(images)
            images.append(comp)
            for t, (photo, place) in enumerate(zip(photos, where, strict=True)):
                boxes = {}  # the first box of each class (grace_hopper has two of one class)
                for box in annotation(photo).boxes:
                    boxes.setdefault(box.class_index, box)
                for box in boxes.values():
                    rank = int((logits > logits[box.class_index]).sum())
                    region = comp.tiles[t]
                    at = _in_tile(box.xyxy, annotation(photo).size, region)
                    case = Case(index, t, photo, box.class_index, place, rank, at, region)
                    (kept if rank < top else dropped).append(case)
    return images, kept, dropped
