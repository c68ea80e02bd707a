"""Box regression as an alternative to box tokens (the DINOv3 + BGE source model's approach).

Instead of writing the box as text, a small MLP reads the language model's last hidden state
at the position that would write the first coordinate token and regresses ``(cx, cy, w, h)``
in ``[0, 1]``, trained with L1 on those four numbers plus the GIoU loss
(:func:`vlmkit.core.boxes.iou_losses`). Notebook 02 can then set it beside the coordinate
languages. ``VLMConfig.box_head`` adds it to a MiniVLM.
"""

from __future__ import annotations

import torch
from torch import nn

from vlmkit.core.boxes import iou_losses


class BoxHead(nn.Module):
    """Hidden state ``(B, D)`` -> ``(B, 4)`` normalised ``[x1, y1, x2, y2]`` (through ``cx, cy, w, h``)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 4))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        cx, cy, w, h = self.mlp(hidden).float().sigmoid().unbind(-1)
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def box_regression_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on ``(cx, cy, w, h)`` plus the GIoU loss, both on normalised ``[x1, y1, x2, y2]``
    boxes ``(B, 4)``, averaged over the batch (DETR's pair of box losses, weights 1 and 1)."""
    def centre_size(b):
        return torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], -1)

    l1 = (centre_size(pred) - centre_size(target)).abs().sum(-1)
    return (l1 + iou_losses(pred, target)["giou"]).mean()
