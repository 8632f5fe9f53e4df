"""The course's photos by name, their annotations (classes, boxes) and provenance.

Introduced in lesson 00. The photos are read from the Python packages that ship them
(scikit-image, scikit-learn, matplotlib); ``xaiutils/annotations/<name>.json`` holds, for each,
where it comes from, its licence, the ImageNet classes it shows and a hand-drawn box around
each main object, in the photo's own pixel coordinates ``(x0, y0, x1, y1)``.
"""

from __future__ import annotations

import importlib
import json
import math
import numbers
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "Annotation",
    "Box",
    "DATA_DIR",
    "annotation",
    "load_photo",
    "photo_names",
    "photo_path",
    "scale_box",
    "to_rgb",
]

DATA_DIR = Path(__file__).resolve().parent  # the package itself: annotations/ ships inside it


@dataclass(frozen=True)
class Box:
    """A hand-drawn box around one object: ``xyxy`` in the photo's pixels."""

    label: str
    class_index: int
    xyxy: tuple[int, int, int, int]


@dataclass(frozen=True)
class Annotation:
    name: str
    package: str
    path: str
    size: tuple[int, int]  # (width, height), as PIL reports it
    mode: str
    source: str
    licence: str
    classes: tuple[tuple[int, str], ...]  # (ImageNet index, name)
    boxes: tuple[Box, ...]
    note: str = ""


@cache
def _annotations() -> dict[str, Annotation]:
    found = {}
    for file in sorted((DATA_DIR / "annotations").glob("*.json")):
        raw = json.loads(file.read_text(encoding="utf-8"))
        found[raw["name"]] = Annotation(
            name=raw["name"],
            package=raw["package"],
            path=raw["path"],
            size=tuple(raw["size"]),
            mode=raw["mode"],
            source=raw["source"],
            licence=raw["licence"],
            classes=tuple((c["index"], c["name"]) for c in raw["classes"]),
            boxes=tuple(Box(b["label"], b["class_index"], tuple(b["xyxy"])) for b in raw["boxes"]),
            note=raw.get("note", ""),
        )
    return found


def photo_names() -> list[str]:
    """The names of the bundled photos, sorted."""
    return list(_annotations())


def annotation(name: str) -> Annotation:
    """Source, licence, classes and boxes of photo ``name``."""
    known = _annotations()
    if name not in known:
        raise KeyError(f"no photo {name!r}; the photos are: {', '.join(known)}")
    return known[name]


def photo_path(name: str) -> Path:
    """Where photo ``name`` lies, inside the installed package that ships it."""
    ann = annotation(name)
    package = importlib.import_module(ann.package)
    return Path(package.__file__).resolve().parent / ann.path


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """An image array's values as 8-bit, by its dtype's documented range (never its own max)."""
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return np.round(array.astype(np.float64) * (255 / 65535)).astype(np.uint8)
    if kind == "f":
        if not np.isfinite(array).all():
            raise ValueError("image has NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 1:
            fix = " (0..255 values: divide by 255, or convert to uint8)" if high <= 255 else ""
            raise ValueError(
                f"image has float values in [{low:g}, {high:g}]; a float image must lie in "
                f"[0, 1]{fix}"
            )
        return np.round(array.astype(np.float64) * 255).astype(np.uint8)
    if kind in "iu":  # int64 from a NumPy literal, say: fine if it holds 8-bit values
        low, high = int(array.min()), int(array.max())
        if low >= 0 and high <= 255:
            return array.astype(np.uint8)
        raise ValueError(
            f"image has dtype {array.dtype} with values in [{low}, {high}], outside 0..255: say "
            "what range it has by converting it to uint8 (0..255), uint16 (0..65535) or floats "
            "in [0, 1]"
        )
    raise TypeError(
        f"image has dtype {array.dtype}: use uint8 (0..255), uint16 (0..65535) or floats in [0, 1]"
    )


def to_rgb(image: Image.Image | np.ndarray) -> Image.Image:
    """Any photo as an 8-bit RGB PIL image.

    Accepted, each converted by its dtype's own range (an image is never rescaled by its own
    maximum): ``uint8`` 0..255; ``uint16`` and PIL's 16-bit modes 0..65535; floats in [0, 1]
    (others are refused: a float image of 0..255 values must be divided by 255 first); other
    integer arrays holding 0..255; ``bool`` (white where True). Shapes ``H x W``,
    ``H x W x 1``, ``H x W x 3`` and ``H x W x 4``. Grayscale is repeated over three channels;
    transparent images (RGBA, LA, palette with transparency) are composited over white.
    """
    if isinstance(image, np.ndarray):
        array = image
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise ValueError(
                f"image must be H x W, H x W x 3 or H x W x 4, got shape {array.shape}"
                + (" (channels first? use image.transpose(1, 2, 0))" if array.ndim == 3 else "")
            )
        if 0 in array.shape:
            raise ValueError(f"image has shape {array.shape}: it is empty")
        image = Image.fromarray(_to_uint8(array))
    if not isinstance(image, Image.Image):
        raise TypeError(
            f"image must be a PIL image or a NumPy array H x W x 3, got {type(image).__name__}"
        )
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode.startswith("I;16"):
        return to_rgb(np.asarray(image).astype(np.uint16))
    if image.mode == "I":  # 32-bit ints: what PIL gives for many 16-bit PNGs
        array = np.asarray(image)
        if array.min() < 0 or array.max() > 65535:
            raise ValueError("image (PIL mode 'I') has values outside 0..65535")
        return to_rgb(array.astype(np.uint16))
    if image.mode == "F":
        return to_rgb(np.asarray(image))
    return image.convert("RGB")


def load_photo(name: str) -> Image.Image:
    """Photo ``name`` as an RGB PIL image, at its own size (see :func:`photo_names`)."""
    with Image.open(photo_path(name)) as image:
        return to_rgb(image)


def scale_box(
    xyxy: tuple[float, float, float, float], from_size: tuple[int, int], to_size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Map a box between two sizes of the same photo; sizes are ``(width, height)``.

    With the course's straight resize (no crop) this is all it takes to put a photo's box on
    the 224 x 224 input.
    """
    for size, name in ((from_size, "from_size"), (to_size, "to_size")):
        if len(size) != 2 or not all(
            isinstance(v, numbers.Real) and 0 < v < math.inf for v in size
        ):
            raise ValueError(
                f"{name} must be (width, height), both positive and finite, got {size!r}"
            )
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    x0, y0, x1, y1 = xyxy
    return (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
