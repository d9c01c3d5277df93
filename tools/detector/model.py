"""A small fully convolutional calcification detector (PyTorch; training only).

Input 1x1xHxW standardized image at 0.1 mm; output ``prob``: 1x1x(H/4)x(W/4)
calcification probability, one cell per 0.4 mm. With ``cluster_head`` a second
output ``cluster`` at the same stride: the probability that a cell lies in a
calcification cluster, judged at stride 8 over ~19 mm so that specks too faint
to trust one by one count together. Only Conv, BatchNorm (folded at export),
ReLU, MaxPool, nearest Resize and Sigmoid: operators every OpenVINO plugin and
onnxruntime support.
"""

from __future__ import annotations

import torch
from torch import nn

STRIDE = 4


def _block(cin: int, cout: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CalcDetector(nn.Module):
    """Stride-4 encoder with a dilated context stage and a 1x1 head; optionally a cluster-scale head."""

    def __init__(self, width: int = 8, cluster_head: bool = False) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 3 * width
        self.stem = _block(1, w1)  # the only full-resolution layer: most of the cost per pixel
        self.down1 = nn.Sequential(nn.MaxPool2d(2), _block(w1, w2), _block(w2, w2))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), _block(w2, w3), _block(w3, w3))
        self.context = nn.Sequential(_block(w3, w3, dilation=2), _block(w3, w3, dilation=4))
        self.head = nn.Conv2d(2 * w3, 1, 1)
        nn.init.constant_(self.head.bias, -4.0)  # start near the background prior (focal-loss practice)
        self.cluster = None
        if cluster_head:
            # stride 8, receptive field ~19 mm: wider than a BI-RADS grouped cluster's 1 cm core
            self.cluster = nn.Sequential(nn.MaxPool2d(2), _block(2 * w3, w3), _block(w3, w3, dilation=2),
                                         _block(w3, w3, dilation=4), nn.Conv2d(w3, 1, 1),
                                         nn.Upsample(scale_factor=2, mode="nearest"))
            nn.init.constant_(self.cluster[-2].bias, -3.0)

    def all_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[calcification logits] or [calcification, cluster logits], each at stride 4."""
        f = self.down2(self.down1(self.stem(x)))
        features = torch.cat([f, self.context(f)], dim=1)
        out = [self.head(features)]
        if self.cluster is not None:
            out.append(self.cluster(features))
        return out

    def trunk_eval(self) -> None:
        """Everything but the cluster head in eval mode (frozen BatchNorm statistics)."""
        for module in (self.stem, self.down1, self.down2, self.context, self.head):
            module.eval()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.all_logits(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        probs = [torch.sigmoid(t) for t in self.all_logits(x)]
        return probs[0] if len(probs) == 1 else tuple(probs)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
