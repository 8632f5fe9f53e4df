"""xaiutils: the small helper package shared by the course's lessons.

Importing it does no work: no model is loaded and no file is read until a function asks.
Each module's docstring names the lesson that introduces it.
"""

from xaiutils.hooks import Capture, count_hooks, feature_maps, preserved_state
from xaiutils.images import annotation, load_photo, photo_names, scale_box, to_rgb
from xaiutils.methods.registry import METHODS, explain
from xaiutils.models import (
    LayerNotFoundError,
    class_names,
    get_layer,
    layer_names,
    load_model,
    preprocessing,
    top_k,
)
from xaiutils.repro import set_seed
from xaiutils.viz import (
    CMAP,
    SIGNED_CMAP,
    add_colorbar,
    draw_boxes,
    normalize,
    overlay,
    show_grid,
    show_signed,
)

__all__ = [
    "CMAP",
    "SIGNED_CMAP",
    "METHODS",
    "Capture",
    "LayerNotFoundError",
    "add_colorbar",
    "annotation",
    "class_names",
    "count_hooks",
    "draw_boxes",
    "explain",
    "feature_maps",
    "get_layer",
    "layer_names",
    "load_model",
    "load_photo",
    "normalize",
    "overlay",
    "photo_names",
    "preprocessing",
    "preserved_state",
    "scale_box",
    "set_seed",
    "show_grid",
    "show_signed",
    "to_rgb",
    "top_k",
]
