"""xaiutils.metrics on maps and boxes small enough to check by hand."""

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
