import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import xaiutils as xu


def test_normalize_min_max_per_map():
    maps = torch.tensor([[[1.0, 3.0], [2.0, 5.0]], [[-2.0, 0.0], [2.0, 2.0]]])
    out = xu.normalize(maps)
    assert torch.allclose(out[0], torch.tensor([[0.0, 0.5], [0.25, 1.0]]))
    assert torch.allclose(out[1], torch.tensor([[0.0, 0.5], [1.0, 1.0]]))


@pytest.mark.parametrize("value", [0.0, 3.5, -1.0])
def test_normalize_constant_map_gives_zeros_not_nan(value):
    out = xu.normalize(torch.full((2, 1, 7, 7), value))
    assert torch.equal(out, torch.zeros(2, 1, 7, 7))


def test_normalize_numpy_in_numpy_out_and_bad_shape():
    out = xu.normalize(np.array([[0.0, 2.0], [4.0, 8.0]]))
    assert isinstance(out, np.ndarray) and out.max() == 1.0 and out[0, 1] == 0.25
    with pytest.raises(ValueError, match=r"\(\.\.\., h, w\)"):
        xu.normalize(torch.zeros(5))


def test_overlay_blends_and_checks_its_input():
    image = np.zeros((4, 6, 3))
    heat = np.zeros((4, 6))
    heat[1, 2] = 1.0
    out = xu.overlay(image, heat, alpha=0.5)
    assert out.shape == (4, 6, 3) and 0 <= out.min() and out.max() <= 1
    assert np.allclose(out[1, 2], 0.5 * np.array(plt.get_cmap(xu.CMAP)(1.0)[:3]))
    assert np.allclose(xu.overlay(image + 0.2, heat, alpha=0.0), 0.2)
    with pytest.raises(ValueError, match="upsample"):
        xu.overlay(image, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="normalize"):
        xu.overlay(image, heat * 3)


def test_show_grid_titles_and_no_ticks():
    images = [np.random.default_rng(0).random((8, 8)), np.ones((8, 8, 3)) * 0.5, np.zeros((8, 8))]
    fig = xu.show_grid(images, ["a", "b", "c"], ncols=2)
    axes = fig.axes
    assert len(axes) == 4 and [ax.get_title() for ax in axes[:3]] == ["a", "b", "c"]
    assert all(not ax.axison for ax in axes)
    plt.close(fig)
    with pytest.raises(ValueError, match="3 images but 2 titles"):
        xu.show_grid(images, ["a", "b"])


def test_show_grid_adds_one_shared_colorbar_of_the_heatmap_scale():
    images = [np.full((8, 8, 3), 0.5)] * 5
    fig = xu.show_grid(images, list("abcde"), ncols=3, colorbar="map, min-max per map")
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(fig.axes) == 7 and len(bars) == 1  # 6 grid axes (one empty), 1 colorbar
    assert bars[0].get_ylabel() == "map, min-max per map" and bars[0].get_ylim() == (0.0, 1.0)
    assert bars[0]._colorbar.cmap.name == xu.CMAP  # the overlays' colormap
    assert len(xu.show_grid(images, ncols=3).axes) == 6  # no colorbar unless asked
    plt.close(fig)


def test_draw_boxes_adds_rectangles():
    fig, ax = plt.subplots()
    xu.draw_boxes(ax, [(1, 2, 5, 6), xu.annotation("chelsea").boxes[0]])
    assert len(ax.patches) == 2 and ax.patches[0].get_width() == 4
    plt.close(fig)


def test_set_seed_reproduces_every_generator():
    xu.set_seed(3)
    first = (torch.rand(2), np.random.rand(2))  # noqa: NPY002
    xu.set_seed(3)
    assert torch.equal(torch.rand(2), first[0]) and np.array_equal(np.random.rand(2), first[1])  # noqa: NPY002


def test_show_signed_centres_each_map_on_zero_with_a_colorbar():
    maps = [np.array([[-1.0, 0.0], [2.0, 0.5]]), torch.zeros(2, 2)]
    fig = xu.show_signed(maps, ["a", "b"], percentile=100)
    images = [ax.images[0] for ax in fig.axes if ax.images and ax.get_title()]
    assert [im.get_clim() for im in images] == [(-2.0, 2.0), (-1.0, 1.0)]
    assert images[0].get_cmap().name == xu.SIGNED_CMAP and len(fig.axes) == 4  # + 2 colorbars
    plt.close(fig)
    with pytest.raises(ValueError, match="2 maps but 1 titles"):
        xu.show_signed(maps, ["a"])
    with pytest.raises(ValueError, match="sum an attribution over its channels"):
        xu.show_signed([np.zeros((3, 2, 2))], ["a"])


def test_outline_draws_around_a_mask_grown_outside_it():
    from xaiutils.viz import outline

    mask = np.zeros((20, 20), dtype=bool)
    mask[8:12, 8:12] = True
    fig, ax = plt.subplots()
    outline(ax, mask, color="white", grow=1)
    (path,) = [p for c in ax.collections for p in c.get_paths()]
    ys, xs = path.vertices[:, 1], path.vertices[:, 0]
    # outside the 4 x 4 square (pixels 8 to 11) by about a pixel on every side
    assert xs.min() < 7.5 and xs.max() > 11.5 and ys.min() < 7.5 and ys.max() > 11.5
    outline(ax, np.zeros((5, 5), dtype=bool))  # an empty mask draws nothing, no warning
    with pytest.raises(ValueError, match="H x W"):
        outline(ax, np.zeros((2, 5, 5), dtype=bool))
    plt.close(fig)
