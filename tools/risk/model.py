"""A four-view risk model on Mirai's contract, with AsymMirai's left-right map and a density head.

Input (N, 4, 256, 208): the views in ``VIEW_ORDER`` (RCC, LCC, RMLO, LMLO), each a normalized view on the
reduced grid (runtime/risk/input.py). One small CNN encoder is shared by the four views (stride 16: a
16 x 13 map of ``4 * width`` channels). Then:

- **tokens**: each view's map, global max pooled, plus a view (CC/MLO) and a side (L/R) embedding; one
  transformer layer (4 heads) over the four tokens; their mean is the exam vector.
- **density**: BI-RADS a-d logits from the mean of the four pooled view vectors.
- **asymmetry** (AsymMirai): per projection, ``|f_L - f_R|`` of the two encoder maps (the right view is already
  mirrored onto the left by normalization), max pooled over 3 x 3 windows (about one fifth of the map, stride
  1), L2 norm over channels: a 14 x 11 heatmap; its maximum is the projection's score.
- **risk** (Mirai's additive hazard): ``logit_t = b + sum_{i<=t} ReLU(h_i)``, t = 1..5, from the exam vector,
  the density probabilities (the model's own density estimate is a risk factor it uses) and the two
  asymmetry scores; so the risk can only grow with t.

Only Conv, BatchNorm (folded at export), ReLU, MaxPool, MatMul, Softmax, LayerNorm and elementwise ops.
"""

from __future__ import annotations

import math

import torch
from torch import nn

YEARS = 5
DENSITY_CLASSES = 4
WINDOW = 3  #: asymmetry max-pool window on the 16 x 13 map (about 1/5 of it)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class Encoder(nn.Module):
    """(B, 1, 256, 208) -> (B, 4w, 16, 13): a 4 x 4 stride-4 stem (the input is already smooth at 1.1 mm), then
    two stride-2 stages of two 3 x 3 convs; about 6 M multiply-adds per view at width 8."""

    def __init__(self, width: int) -> None:
        super().__init__()
        w = width
        stem = nn.Sequential(nn.Conv2d(1, w, 4, stride=4, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        self.layers = nn.Sequential(stem, _block(w, 2 * w, 2), _block(2 * w, 2 * w, 1),
                                    _block(2 * w, 4 * w, 2), _block(4 * w, 4 * w, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TokenLayer(nn.Module):
    """One pre-norm transformer layer over the view tokens (explicit attention: exports to plain ONNX ops)."""

    def __init__(self, dim: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(dim // heads)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.norm1(x)).reshape(n, t, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
        attention = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        x = x + self.proj((attention @ v).transpose(1, 2).reshape(n, t, d))
        return x + self.ff(self.norm2(x))


class RiskNet(nn.Module):
    """Outputs: ``risk_logits`` (N, 5) cumulative by year, ``density_logits`` (N, 4), ``asymmetry`` (N, 2, 14, 11)
    (CC, MLO heatmaps)."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        dim = 4 * width
        self.encoder = Encoder(width)
        self.view_embedding = nn.Parameter(torch.zeros(2, dim))  # CC, MLO
        self.side_embedding = nn.Parameter(torch.zeros(2, dim))  # R, L
        self.tokens = TokenLayer(dim)
        self.density = nn.Linear(dim, DENSITY_CLASSES)
        self.hazard = nn.Sequential(nn.Linear(dim + DENSITY_CLASSES + 2, dim), nn.ReLU(), nn.Linear(dim, YEARS + 1))
        self.asym_pool = nn.MaxPool2d(WINDOW, stride=1)
        # views in VIEW_ORDER: RCC, LCC, RMLO, LMLO
        self.register_buffer("view_index", torch.tensor([0, 0, 1, 1]), persistent=False)
        self.register_buffer("side_index", torch.tensor([0, 1, 0, 1]), persistent=False)

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, v, rows, cols = views.shape
        maps = self.encoder(views.reshape(n * v, 1, rows, cols))
        c, mh, mw = maps.shape[1:]
        maps = maps.reshape(n, v, c, mh, mw)
        pooled = maps.amax(dim=(3, 4))  # (N, 4, C)
        density_logits = self.density(pooled.mean(dim=1))
        # AsymMirai: |f_L - f_R| per projection, windowed max, L2 over channels
        diff = torch.stack([(maps[:, 1] - maps[:, 0]).abs(), (maps[:, 3] - maps[:, 2]).abs()], dim=1)
        windows = self.asym_pool(diff.reshape(n * 2, c, mh, mw))
        asymmetry = torch.sqrt((windows ** 2).sum(dim=1) + 1e-6).reshape(n, 2, mh - WINDOW + 1, mw - WINDOW + 1)
        asym_scores = asymmetry.amax(dim=(2, 3))  # (N, 2)
        tokens = pooled + self.view_embedding[self.view_index] + self.side_embedding[self.side_index]
        exam = self.tokens(tokens).mean(dim=1)
        features = torch.cat([exam, torch.softmax(density_logits, dim=1), torch.log1p(asym_scores)], dim=1)
        h = self.hazard(features)
        risk_logits = h[:, :1] + torch.cumsum(torch.relu(h[:, 1:]), dim=1)
        return risk_logits, density_logits, asymmetry
