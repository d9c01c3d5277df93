"""Small fully convolutional calcification detectors (PyTorch; training only).

Input 1x1xHxW standardized image at 0.1 mm; output ``prob``: 1x1x(H/4)x(W/4)
calcification probability, one cell per 0.4 mm. Only Conv, BatchNorm (folded at
export), ReLU, MaxPool, Concat, Resize (bilinear), Add and Sigmoid: operators every
OpenVINO plugin and onnxruntime support.

``Arch.V1`` (``CalcDetector``) is the shipped v1.0 architecture; ``Arch.CONTEXT``
(``ContextDetector``) adds a low-resolution context branch (issue 23).
"""

from __future__ import annotations

import enum

import torch
import torch.nn.functional as F
from torch import nn

from .data import STRIDE

__all__ = ["STRIDE", "Arch", "CalcDetector", "ContextDetector", "build"]


class Arch(enum.StrEnum):
    """The detector architectures ``train detector --arch`` offers."""

    V1 = "v1"  #: stride-4 encoder, dilated context stage, 1x1 head (v1.0.0)
    CONTEXT = "context"  #: v1 plus a stride-8/16/32 context branch (receptive field ~50 mm)


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

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(stride-4 features, the dilated stage's output)."""
        f = self.down2(self.down1(self.stem(x)))
        return f, self.context(f)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat(self.features(x), dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


class ContextDetector(CalcDetector):
    """``CalcDetector`` (same layers and names, so v1.0's weights load into it) plus a context branch.

    The branch pools v1's stride-4 features to stride 8, 16 and 32 (wider channels there: the cost per input
    pixel is small), merges stride 32 into 16, and resizes the result back to stride 4 (bilinear). A second
    head (1x1, hidden 16, 1x1) reads the local features with that context and ADDS to v1's logit; its last
    layer starts at zero, so an initialized net computes exactly what v1 does.
    """

    def __init__(self, width: int = 8, context_width: int = 48) -> None:
        super().__init__(width)
        w3, c = 3 * width, context_width
        self.to8 = nn.Sequential(nn.MaxPool2d(2), _block(w3, c // 2 + c // 4))
        self.to16 = nn.Sequential(nn.MaxPool2d(2), _block(c // 2 + c // 4, c), _block(c, c, dilation=2))
        self.to32 = nn.Sequential(nn.MaxPool2d(2), _block(c, c), _block(c, c, dilation=2))
        self.merge = _block(2 * c, c // 2)
        self.fuse = nn.Sequential(nn.Conv2d(2 * w3 + c // 2, 16, 1), nn.ReLU(inplace=True), nn.Conv2d(16, 1, 1))
        last = self.fuse[2]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        f, local = self.features(x)
        s16 = self.to16(self.to8(f))
        s32 = self.to32(s16)
        s16 = self.merge(torch.cat([s16, F.interpolate(s32, size=s16.shape[-2:], mode="bilinear",
                                                       align_corners=False)], dim=1))
        wide = F.interpolate(s16, size=f.shape[-2:], mode="bilinear", align_corners=False)
        both = torch.cat([f, local], dim=1)
        return self.head(both) + self.fuse(torch.cat([both, wide], dim=1))


def build(arch: Arch | str, width: int = 8) -> CalcDetector:
    """A fresh detector of ``arch``."""
    return ContextDetector(width) if Arch(arch) is Arch.CONTEXT else CalcDetector(width)
