"""Segmentation losses: class-weighted focal cross-entropy plus soft Dice.

Focal loss: Lin et al. (2017), "Focal Loss for Dense Object Detection", ICCV (gamma = 0 gives
weighted cross-entropy). Soft Dice: Milletari et al. (2016), V-Net, 3DV. Pixels labelled 255
are ignored by both terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = 255


def focal_ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
             gamma: float = 0.0) -> torch.Tensor:
    """Mean (weighted) focal cross-entropy over non-ignored pixels.

    Args:
        logits: ``(N, C, H, W)``; target: ``(N, H, W)`` int64 with 255 = ignore.
        weight: ``(C,)`` class weights; gamma: focusing parameter.
    """
    ce = F.cross_entropy(logits, target, weight=None, ignore_index=IGNORE, reduction="none")
    valid = target != IGNORE
    if not valid.any():
        return logits.sum() * 0.0
    if gamma:
        pt = torch.exp(-ce)
        ce = (1 - pt) ** gamma * ce
    if weight is not None:
        w = weight[target.clamp(max=logits.shape[1] - 1)] * valid
        return (ce * w).sum() / w.sum().clamp(min=1e-6)
    return ce[valid].mean()


def soft_dice(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - mean soft Dice over classes present in the batch (reference or prediction mass).

    Args:
        logits: ``(N, C, H, W)``; target: ``(N, H, W)`` int64 with 255 = ignore.
    """
    n_classes = logits.shape[1]
    valid = (target != IGNORE).unsqueeze(1).float()
    prob = torch.softmax(logits, dim=1) * valid
    onehot = F.one_hot(target.clamp(max=n_classes - 1), n_classes).permute(0, 3, 1, 2).float()
    onehot = onehot * valid
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)
    denom = prob.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + eps) / (denom + eps)
    present = onehot.sum(dims) > 0
    if not present.any():
        return logits.sum() * 0.0
    return 1 - dice[present].mean()


class SegLoss(torch.nn.Module):
    """``ce_weight * focal_ce + dice_weight * soft_dice``."""

    def __init__(self, ce_weight: float = 1.0, dice_weight: float = 1.0, gamma: float = 2.0,
                 class_weights: list[float] | None = None):
        super().__init__()
        self.ce_weight, self.dice_weight, self.gamma = ce_weight, dice_weight, gamma
        w = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", w if w is not None else torch.ones(0))
        self._has_w = w is not None

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        w = self.class_weights if self._has_w else None
        loss = logits.new_zeros(())
        if self.ce_weight:
            loss = loss + self.ce_weight * focal_ce(logits, target, w, self.gamma)
        if self.dice_weight:
            loss = loss + self.dice_weight * soft_dice(logits, target)
        return loss
