"""xaiutils.metrics on maps and boxes small enough to check by hand."""

import warnings

import numpy as np
import pytest
import torch

from xaiutils.metrics import box_from_map, iou


def test_rectangle_mask_gives_exactly_its_box():
    m = torch.zeros(10, 12)
    m[2:7, 3:9] = 1.0  # rows 2..6, columns 3..8
    box = box_from_map(m)
    assert box == (3, 2, 9, 7)
    assert all(isinstance(v, int) for v in box)
    assert iou(box, (3, 2, 9, 7)) == 1.0
    assert np.array_equal(box_from_map(m.numpy()), box)  # arrays work too


def test_larger_of_two_blobs_wins_even_if_weaker():
    m = np.zeros((10, 10))
    m[0:2, 0:2] = 1.0  # 4 pixels at the maximum
    m[5:9, 4:9] = 0.5  # 20 pixels at half of it, still above 20 %
    assert box_from_map(m) == (4, 5, 9, 9)


def test_threshold_is_inclusive_at_exactly_twenty_percent():
    m = np.zeros((5, 5))
    m[2, 2] = 10.0
    m[2, 3] = 2.0  # exactly 0.2 * max: kept
    m[2, 1] = 1.99  # just below: dropped
    assert box_from_map(m, threshold=0.2) == (2, 2, 4, 3)
    assert box_from_map(m, threshold=0.21) == (2, 2, 3, 3)
    assert box_from_map(m, threshold=0.0) == (0, 0, 5, 5)  # everything >= 0 is kept


def test_diagonal_neighbours_are_one_region():
    m = np.zeros((6, 6))
    for i in range(4):
        m[i, i] = 1.0  # a diagonal line: 4-connectivity would see 4 regions of 1 pixel
    m[5, 5] = 1.0  # a gap at (4, 4): a separate region
    assert box_from_map(m) == (0, 0, 4, 4)


def test_ties_go_to_the_first_region_from_the_top():
    m = np.zeros((6, 6))
    m[4, 0:2] = 1.0
    m[1, 3:5] = 1.0
    assert box_from_map(m) == (3, 1, 5, 2)


def test_negative_values_never_pass_the_threshold():
    m = -np.ones((4, 4))
    m[1, 2] = 1.0
    assert box_from_map(m) == (2, 1, 3, 2)


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), -np.ones((3, 3))])
def test_map_without_a_positive_pixel_raises(bad):
    with pytest.raises(ValueError, match="no region"):
        box_from_map(bad)


def test_map_must_be_two_dimensional():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        box_from_map(torch.ones(1, 4, 4))


def test_iou_by_hand():
    a = (0, 0, 4, 4)  # area 16
    assert iou(a, a) == 1.0
    assert iou(a, (5, 5, 8, 8)) == 0.0  # disjoint
    assert iou(a, (4, 0, 8, 4)) == 0.0  # touching edges share no area
    assert iou(a, (1, 1, 3, 3)) == 4 / 16  # nested: the inner box's area over the outer's
    assert iou(a, (2, 0, 6, 4)) == 8 / (16 + 16 - 8)  # half overlap: 1/3
    assert iou(a, (2, 2, 6, 6)) == 4 / (16 + 16 - 4)  # corner overlap: 1/7
    assert iou((2, 2, 6, 6), a) == iou(a, (2, 2, 6, 6))  # symmetric
    assert iou((0.0, 0.0, 2.5, 2.0), (0, 0, 5, 2)) == 0.5  # float boxes (scaled annotations)


def test_iou_rejects_empty_boxes():
    with pytest.raises(ValueError, match="x1 > x0"):
        iou((0, 0, 0, 4), (0, 0, 4, 4))


# --- Lesson 09: region masks, the pointing game, energy, map similarity --------------------

from xaiutils.metrics import (  # noqa: E402
    energy_in_region,
    map_similarity,
    peak,
    pointing_game,
    region_mask,
)


def test_region_mask_of_an_integer_box_is_its_slice_and_floats_use_pixel_centres():
    mask = region_mask((3, 2, 9, 7), (10, 12))
    expected = np.zeros((10, 12), dtype=bool)
    expected[2:7, 3:9] = True
    assert np.array_equal(mask, expected)
    # x0 = 0.4 holds column 0 (centre 0.5); x1 = 2.5 leaves out column 2 (centre 2.5).
    assert np.array_equal(region_mask((0.4, 0, 2.5, 1), (1, 4)), [[True, True, False, False]])
    assert region_mask(torch.tensor(expected), (10, 12)).dtype == bool  # masks pass through
    with pytest.raises(ValueError, match="differ in size"):
        region_mask(expected, (5, 5))


def test_peak_is_x_then_y_and_the_first_maximum_in_reading_order():
    m = np.zeros((5, 7))
    m[3, 1] = m[1, 4] = 2.0  # a tie: (x=4, y=1) comes first reading row by row
    assert peak(m) == (4, 1)
    assert peak(torch.from_numpy(m)) == (4, 1)


def test_map_peaked_inside_the_box_scores_one_and_outside_zero():
    box = (10, 20, 30, 40)
    m = np.zeros((64, 64))
    m[25, 15] = 1.0  # x = 15, y = 25: inside
    assert pointing_game(m, box)
    m[25, 15], m[5, 50] = 0.0, 1.0  # far outside
    assert not pointing_game(m, box)
    assert not pointing_game(m, box, tolerance=15)


def test_tolerance_is_a_strict_radius_around_the_peak():
    mask = np.zeros((40, 60), dtype=bool)
    mask[10, 30] = True  # one object pixel
    m = np.zeros((40, 60))
    m[10, 45] = 1.0  # 15 pixels to its right
    assert not pointing_game(m, mask)
    assert not pointing_game(m, mask, tolerance=15)  # 15^2 < 15^2 is false
    assert pointing_game(m, mask, tolerance=15.5)
    m[10, 45], m[19, 42] = 0.0, 1.0  # dx = 12, dy = 9: 144 + 81 = 225, again exactly 15
    assert not pointing_game(m, mask, tolerance=15)
    assert pointing_game(m, mask, tolerance=16)


def test_pointing_game_agrees_with_torchray():
    from torchray.benchmark.pointing_game import PointingGame

    rng = np.random.default_rng(0)
    game = PointingGame(num_classes=1, tolerance=15)
    for _ in range(40):
        mask = np.zeros((48, 64), dtype=bool)
        x0, y0 = rng.integers(0, 50), rng.integers(0, 36)
        mask[y0 : y0 + rng.integers(1, 12), x0 : x0 + rng.integers(1, 12)] = True
        m = rng.random((48, 64))
        x, y = peak(m)
        with warnings.catch_warnings():  # torch.meshgrid without indexing= (warned once)
            warnings.simplefilter("ignore")
            theirs = game.evaluate(torch.from_numpy(mask), (x, y))
        assert pointing_game(m, mask, tolerance=15) == (theirs == 1)


def test_map_equal_to_the_mask_has_iou_one_and_energy_one():
    mask = np.zeros((20, 30))
    mask[4:11, 6:25] = 1.0
    box = (6, 4, 25, 11)
    assert iou(box_from_map(mask), box) == 1.0
    assert energy_in_region(mask, box) == 1.0
    assert energy_in_region(mask, mask.astype(bool)) == 1.0
    assert pointing_game(mask, box)


def test_energy_counts_only_positive_mass():
    m = np.ones((10, 10))
    assert energy_in_region(m, (0, 0, 5, 10)) == pytest.approx(0.5)  # uniform: the area share
    m[:, 5:] = -3.0  # negative evidence outside the box is not "energy"
    assert energy_in_region(m, (0, 0, 5, 10)) == 1.0
    m[0, 9] = 4.0  # 4 of 4 + 50 = 54 units outside
    assert energy_in_region(m, (0, 0, 5, 10)) == pytest.approx(50 / 54)
    with pytest.raises(ValueError, match="no positive pixel"):
        energy_in_region(-np.ones((4, 4)), (0, 0, 2, 2))


def test_map_similarity_of_a_map_with_itself_and_with_a_constant():
    rng = np.random.default_rng(1)
    m = rng.random((16, 16))
    rho, ssim = map_similarity(m, m)
    assert rho == pytest.approx(1.0) and ssim == pytest.approx(1.0)
    rho, ssim = map_similarity(m, 3 * m + 1)  # both min-max normalised: the same map
    assert rho == pytest.approx(1.0) and ssim == pytest.approx(1.0)
    assert map_similarity(m, -m)[0] == pytest.approx(-1.0)  # ranks reversed
    assert map_similarity(m, np.zeros((16, 16)))[0] == 0.0  # no ranking to share, no NaN
    with pytest.raises(ValueError, match="same size"):
        map_similarity(m, m[:8])
