"""A small fully convolutional calcification detector (PyTorch; training only).

Input 1x1xHxW standardized image at 0.1 mm; output ``prob``: 1x1x(H/4)x(W/4)
calcification probability, one cell per 0.4 mm. Only Conv, BatchNorm (folded at
export), ReLU, MaxPool, Concat and Sigmoid: operators every OpenVINO plugin and
onnxruntime support.
"""

from __future__ import annotations

import torch
from torch import nn

from .data import STRIDE

__all__ = ["STRIDE", "CalcDetector"]


def _block(cin: int, cout: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CalcDetector(nn.Module):
    """Stride-4 encoder with a dilated context stage and a 1x1 head."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 3 * width
        self.stem = _block(1, w1)  # the only full-resolution layer: most of the cost per pixel
        self.down1 = nn.Sequential(nn.MaxPool2d(2), _block(w1, w2), _block(w2, w2))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), _block(w2, w3), _block(w3, w3))
        self.context = nn.Sequential(_block(w3, w3, dilation=2), _block(w3, w3, dilation=4))
        self.head = nn.Conv2d(2 * w3, 1, 1)
        assert self.head.bias is not None
        nn.init.constant_(self.head.bias, -4.0)  # start near the background prior (focal-loss practice)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        f = self.down2(self.down1(self.stem(x)))
        return self.head(torch.cat([f, self.context(f)], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))
