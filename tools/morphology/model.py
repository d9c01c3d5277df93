"""A small CNN over a cluster ROI: per-output logits with class activation maps.

The morphology model has 13 outputs (12 morphologies, then a malignancy logit).

Input N x 1 x 96 x 96 (standardized image at 0.1 mm). The last layer is a 1x1
conv giving one map per output (12 morphologies, then malignancy) at stride 8;
``logits`` is their spatial mean, so each map is that output's class
activation map (Zhou et al. 2016): the saliency comes with every inference,
gradient-free. Only Conv, BatchNorm (folded at export), ReLU, MaxPool and
ReduceMean.
"""

from __future__ import annotations

import torch
from torch import nn

from .data import CLASSES, OUTPUTS

__all__ = ["CLASSES", "OUTPUTS", "RoiNet"]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class RoiNet(nn.Module):
    def __init__(self, width: int = 8, outputs: int = OUTPUTS) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _block(1, w), nn.MaxPool2d(2),
            _block(w, 2 * w), _block(2 * w, 2 * w), nn.MaxPool2d(2),
            _block(2 * w, 4 * w), _block(4 * w, 4 * w), nn.MaxPool2d(2),
            _block(4 * w, 6 * w), _block(6 * w, 6 * w),
        )
        self.maps = nn.Conv2d(6 * w, outputs, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.maps(self.features(x))
        return maps.mean(dim=(2, 3)), maps

