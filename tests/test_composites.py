"""xaiutils.composites: each tile is where the composite says, with its photo's box."""

import numpy as np
import pytest
import torch

import xaiutils as xu
from xaiutils.composites import make_composite
from xaiutils.models import Preprocessing

NAMES = ("chelsea", "coffee", "camera", "motorcycle")


def test_tiles_partition_the_image_row_by_row():
    comp = make_composite(NAMES, tile=112)
    assert comp.pixels.shape == (224, 224, 3) and comp.size == (224, 224)
    assert comp.tiles == (
        (0, 0, 112, 112),
        (112, 0, 224, 112),
        (0, 112, 112, 224),
        (112, 112, 224, 224),
    )
    masks = comp.tile_masks()
    assert masks.shape == (4, 224, 224)
    assert (masks.sum(axis=0) == 1).all()  # every pixel in exactly one tile
    assert comp.classes == (285, 967, 872, 665)
    assert comp.names == NAMES


def test_each_tile_is_its_photo_resized_straight():
    comp = make_composite(NAMES, tile=112)
    small = Preprocessing(size=(112, 112))
    for name, (x0, y0, x1, y1) in zip(comp.names, comp.tiles, strict=True):
        assert np.array_equal(comp.pixels[y0:y1, x0:x1], small.pixels(xu.load_photo(name)))


def test_boxes_are_the_annotations_scaled_into_their_tile():
    comp = make_composite(NAMES, tile=112)
    # chelsea: 451 x 300, cat box (0, 0, 400, 300), in the top-left tile.
    assert comp.boxes[0] == pytest.approx((0, 0, 400 * 112 / 451, 112))
    # camera: 512 x 512, tripod box (228, 186, 406, 512), in the bottom-left tile.
    assert comp.boxes[2] == pytest.approx(
        (228 * 112 / 512, 112 + 186 * 112 / 512, 406 * 112 / 512, 224)
    )
    for box, tile, mask in zip(comp.boxes, comp.tiles, comp.box_masks(), strict=True):
        assert tile[0] <= box[0] < box[2] <= tile[2] and tile[1] <= box[1] < box[3] <= tile[3]
        assert mask.any() and mask.sum() <= 112 * 112


def test_a_class_picks_its_own_box_and_a_missing_class_raises():
    comp = make_composite(["camera", "coffee"], classes=[759, 968], tile=64)
    assert comp.size == (64, 128)
    assert comp.boxes[0] == pytest.approx((253 / 8, 138 / 8, 325 / 8, 188 / 8))  # the camera
    with pytest.raises(ValueError, match="no box for class 1"):
        make_composite(["camera", "coffee"], classes=[1, 968])
    with pytest.raises(ValueError, match="rows of 2"):
        make_composite(["camera", "coffee", "china"])


def test_input_is_the_normalised_pixels_at_the_composite_size():
    comp = make_composite(NAMES, tile=224)
    x = comp.input()
    assert x.shape == (1, 3, 448, 448)
    expected = (torch.from_numpy(comp.pixels).permute(2, 0, 1) - 0.5) / 0.5  # mean = std = 0.5
    assert torch.allclose(x[0], expected)


def test_evaluation_cases_put_every_photo_in_every_position(effnet):
    from collections import Counter

    from xaiutils.composites import evaluation_cases

    images, kept, dropped = evaluation_cases(effnet, tile=112)
    names = xu.photo_names()
    assert len(images) == len(names) + 2 * len(names) * (len(names) - 1)
    cases = kept + dropped
    positions = Counter(
        (c.photo, c.layout) for c in cases if c.cls == xu.annotation(c.photo).boxes[0].class_index
    )
    for photo in names:  # alone once, and 7 times in each of the four places
        assert positions[(photo, "alone")] == 1
        assert all(
            positions[(photo, p)] == len(names) - 1 for p in ("left", "right", "top", "bottom")
        )
    # one case per class per tile: grace_hopper's two boxes of one class give one case
    assert len({(c.image, c.tile, c.cls) for c in cases}) == len(cases)
    assert all(c.rank < 5 for c in kept) and all(c.rank >= 5 for c in dropped)
    for c in kept[:20]:  # the box lies inside its tile, in the image's pixels
        x0, y0, x1, y1 = c.region
        assert x0 <= c.box[0] < c.box[2] <= x1 and y0 <= c.box[1] < c.box[3] <= y1
        assert images[c.image].tiles[c.tile] == c.region
