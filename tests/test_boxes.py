import numpy as np
import pytest

from vlmkit.boxes import box_iou, normalize_corners, xywh_to_xyxy, xyxy_to_xywh


def test_coco_xywh_round_trip():
    assert xywh_to_xyxy([10, 20, 30, 40]) == (10, 20, 40, 60)
    assert xyxy_to_xywh(xywh_to_xyxy([10.5, 2, 3, 4])) == (10.5, 2, 3, 4)


def test_swapped_corners_are_normalised():
    assert normalize_corners([40, 60, 10, 20]) == (10, 20, 40, 60)


def test_box_iou_hand_computed_cases():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0]])
    true = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    np.testing.assert_allclose(box_iou(pred, true), [1.0, 50 / 150, 0.0, 0.0])


def test_box_iou_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="as many predictions as targets"):
        box_iou(np.zeros((2, 4)), np.zeros((3, 4)))
