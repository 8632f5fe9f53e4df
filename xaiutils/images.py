"""The course's photos by name, their annotations (classes, boxes) and provenance.

Introduced in lesson 00. The photos are read from the Python packages that ship them
(scikit-image, scikit-learn, matplotlib); ``xaiutils/annotations/<name>.json`` holds, for each,
where it comes from, its licence, the ImageNet classes it shows and a hand-drawn box around
each main object, in the photo's own pixel coordinates ``(x0, y0, x1, y1)``.
"""

from __future__ import annotations

import importlib
import json
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


def to_rgb(image: Image.Image | np.ndarray) -> Image.Image:
    """Any photo as an 8-bit RGB PIL image.

    Grayscale is repeated over three channels; transparent images (RGBA, LA, palette with
    transparency) are composited over white; 16-bit and float arrays are rescaled to 0..255.
    """
    if isinstance(image, np.ndarray):
        array = image
        if array.dtype != np.uint8:
            array = array.astype(np.float64)
            top = 1.0 if array.max(initial=0) <= 1.0 else array.max()
            array = np.clip(array / top * 255.0, 0, 255).round().astype(np.uint8)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 image, got {array.shape}")
        image = Image.fromarray(array)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        return to_rgb(array / max(array.max(), 1.0))
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
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    x0, y0, x1, y1 = xyxy
    return (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
