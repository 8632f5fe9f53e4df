import numpy as np
import pytest
from PIL import Image

import xaiutils as xu
from xaiutils.images import photo_path


def test_at_least_eight_photos_each_with_provenance():
    names = xu.photo_names()
    assert len(names) >= 8
    for name in names:
        ann = xu.annotation(name)
        assert ann.source and ann.licence and ann.classes and ann.boxes
        assert photo_path(name).is_file()


@pytest.mark.parametrize("name", xu.photo_names())
def test_photo_loads_as_rgb_with_boxes_inside(name):
    ann = xu.annotation(name)
    photo = xu.load_photo(name)
    assert photo.mode == "RGB" and photo.size == ann.size
    with Image.open(photo_path(name)) as raw:
        assert raw.mode == ann.mode
    names = xu.class_names()
    indices = {index for index, _ in ann.classes}
    for index, class_name in ann.classes:
        assert names[index] == class_name
    width, height = ann.size
    for box in ann.boxes:
        x0, y0, x1, y1 = box.xyxy
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert box.class_index in indices
        assert (x1 - x0) * (y1 - y0) >= 0.01 * width * height  # a main object, not a speck


def test_grayscale_photo_becomes_three_equal_channels():
    rgb = np.asarray(xu.load_photo("camera"))
    assert rgb.shape[2] == 3
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])


def test_unknown_photo_lists_the_names():
    with pytest.raises(KeyError, match="chelsea"):
        xu.load_photo("lena")


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "P", "I;16", "1", "CMYK"])
def test_to_rgb_any_mode(tmp_path, mode):
    base = Image.new("RGB", (5, 4), (200, 100, 50))
    image = base.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    image.save(path)
    with Image.open(path) as loaded:
        out = xu.to_rgb(loaded)
    assert out.mode == "RGB" and out.size == (5, 4)


def test_to_rgb_transparent_pixels_become_white():
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 0, 0, 0))
    out = np.asarray(xu.to_rgb(rgba))
    assert out[0, 0].tolist() == [255, 0, 0] and out[0, 1].tolist() == [255, 255, 255]


def test_to_rgb_arrays():
    assert xu.to_rgb(np.zeros((3, 4), dtype=np.uint8)).size == (4, 3)
    floats = xu.to_rgb(np.full((3, 4, 3), 0.5))
    assert np.asarray(floats)[0, 0].tolist() == [128, 128, 128]
    assert xu.to_rgb(np.zeros((3, 4, 4), dtype=np.uint8)).mode == "RGB"
    with pytest.raises(ValueError, match="H x W"):
        xu.to_rgb(np.zeros((3, 4, 2), dtype=np.uint8))


def test_scale_box_follows_the_straight_resize():
    assert xu.scale_box((10, 20, 110, 220), (200, 400), (100, 100)) == (5, 5, 55, 55)
