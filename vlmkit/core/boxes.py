"""Boxes: the one place where box conventions are converted and compared.

Inside vlmkit a box is always ``[x1, y1, x2, y2]`` in pixels of the original
image, with ``x2``/``y2`` the far edges (a box covering pixel columns 3..5 has
``x1=3, x2=6``). COCO stores ``[x, y, w, h]``; convert at the loader, here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

Box = tuple[float, float, float, float]


def xywh_to_xyxy(box: Sequence[float]) -> Box:
    """COCO ``[x, y, w, h]`` -> ``[x1, y1, x2, y2]``."""
    x, y, w, h = (float(v) for v in box)
    return (x, y, x + w, y + h)


def xyxy_to_xywh(box: Sequence[float]) -> Box:
    """``[x1, y1, x2, y2]`` -> COCO ``[x, y, w, h]``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1, y1, x2 - x1, y2 - y1)


def normalize_corners(box: Sequence[float]) -> Box:
    """Order the corners so that ``x1 <= x2`` and ``y1 <= y2`` (models sometimes swap them)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of each ``[x1, y1, x2, y2]`` row; degenerate boxes have area 0."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def box_iou(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """IoU of row ``i`` of ``pred`` with row ``i`` of ``target`` (vectorised, shape ``(N,)``).

    Two empty boxes have IoU 0, not NaN: an empty prediction never counts as a hit.
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    target = np.asarray(target, dtype=np.float64).reshape(-1, 4)
    if pred.shape != target.shape:
        raise ValueError(f"box_iou needs as many predictions as targets, got {len(pred)} and {len(target)}")
    ix1 = np.maximum(pred[:, 0], target[:, 0])
    iy1 = np.maximum(pred[:, 1], target[:, 1])
    ix2 = np.minimum(pred[:, 2], target[:, 2])
    iy2 = np.minimum(pred[:, 3], target[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    union = box_area(pred) + box_area(target) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_losses(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> dict[str, torch.Tensor]:
    """Per-box losses of ``(N, 4)`` ``[x1, y1, x2, y2]`` tensors, differentiable, for a head that
    regresses boxes (the DINOv3 + BGE source model's DIoU): ``iou`` (1 - IoU), ``giou`` (1 - GIoU:
    minus the share of the enclosing box that neither covers, so disjoint boxes still get a
    gradient) and ``diou`` (1 - IoU + squared centre distance over the enclosing box's squared
    diagonal: pulls centres together directly). The formulas of Rezatofighi et al. (2019) and
    Zheng et al. (2020), written here because torchvision (``torchvision.ops``) is not
    installable on our CPU machines."""
    x1 = torch.maximum(pred[:, 0], target[:, 0])
    y1 = torch.maximum(pred[:, 1], target[:, 1])
    x2 = torch.minimum(pred[:, 2], target[:, 2])
    y2 = torch.minimum(pred[:, 3], target[:, 3])
    inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    area = lambda b: (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)  # noqa: E731
    union = area(pred) + area(target) - inter
    iou = inter / (union + eps)
    ex1 = torch.minimum(pred[:, 0], target[:, 0])
    ey1 = torch.minimum(pred[:, 1], target[:, 1])
    ex2 = torch.maximum(pred[:, 2], target[:, 2])
    ey2 = torch.maximum(pred[:, 3], target[:, 3])
    enclosing = (ex2 - ex1) * (ey2 - ey1)
    giou = iou - (enclosing - union) / (enclosing + eps)
    centre = lambda b: ((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2)  # noqa: E731
    (px, py), (tx, ty) = centre(pred), centre(target)
    diagonal = (ex2 - ex1) ** 2 + (ey2 - ey1) ** 2
    diou = iou - ((px - tx) ** 2 + (py - ty) ** 2) / (diagonal + eps)
    return {"iou": 1 - iou, "giou": 1 - giou, "diou": 1 - diou}
