import numpy as np
import pytest

from vlmkit.core.boxes import box_iou, normalize_corners, xywh_to_xyxy, xyxy_to_xywh


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


def test_iou_losses_against_hand_computed_boxes():
    """Two 2x2 boxes overlapping in a 1x2 strip: IoU 2/6; enclosing box 3x2 = 6, so GIoU = IoU;
    centres 1 apart, enclosing diagonal^2 = 9 + 4 = 13. Disjoint boxes: IoU 0, GIoU and DIoU
    still tell near from far."""
    import torch

    from vlmkit.core.boxes import iou_losses

    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 3.0, 3.0]])
    target = torch.tensor([[1.0, 0.0, 3.0, 2.0], [2.0, 0.0, 3.0, 1.0], [4.0, 0.0, 5.0, 1.0], [1.0, 1.0, 3.0, 3.0]])
    losses = iou_losses(pred, target)
    expected = {"iou": [1 - 2 / 6, 1, 1, 0], "giou": [1 - 2 / 6, 1 + 1 / 3, 1 + 3 / 5, 0],
                "diou": [1 - 2 / 6 + 1 / 13, 1 + 4 / 10, 1 + 16 / 26, 0]}
    for name, values in expected.items():
        assert torch.allclose(losses[name], torch.tensor(values), atol=1e-5), name
    pred.requires_grad_(True)
    iou_losses(pred, target)["diou"][1].backward()
    assert pred.grad[1].abs().sum() > 0  # disjoint, yet a gradient towards the target
