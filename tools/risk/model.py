"""A four-view risk model on Mirai's contract, with AsymMirai's left-right map and a density head.

Input (N, 4, 256, 208): the views in ``VIEW_ORDER`` (RCC, LCC, RMLO, LMLO), each a normalized view on the
reduced grid (runtime/risk/input.py). One small CNN encoder is shared by the four views (stride 16: a
16 x 13 map of ``4 * width`` channels). Then:

- **tokens**: each view's map, global max pooled, plus a view (CC/MLO) and a side (L/R) embedding; one
  transformer layer (4 heads) over the four tokens; their mean is the exam vector.
- **density**: BI-RADS a-d logits from the mean of the four pooled view vectors.
- **asymmetry** (AsymMirai): per projection, ``|f_L - f_R|`` of the two views' texture maps (stride 8: 32 x 26;
  the right view is already mirrored onto the left by normalization, and both are registered to a shared
  breast-shape grid by runtime/risk/input.py), kept only on cells inside both breasts (the eroded intersection
  of the two masks), each breast's map first centred by its own mean over those cells; pooled over 6 x 6
  windows (about one fifth of the map, stride 1) as the mean of the window's max and its average (the average
  breaks the max's plateaus, so the argmax is the window centred on the difference);
  L2 norm over channels: a 27 x 21 heatmap; its maximum is the projection's score.
- **risk** (Mirai's additive hazard): ``logit_t = b + sum_{i<=t} ReLU(h_i)``, t = 1..5, from the exam vector,
  the density probabilities (the model's own density estimate is a risk factor it uses) and the two
  asymmetry scores; so the risk can only grow with t.

Only Conv, BatchNorm (folded at export), ReLU, MaxPool, MatMul, Softmax, LayerNorm and elementwise ops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

YEARS = 5
DENSITY_CLASSES = 4
WINDOW = 6  #: asymmetry window on the 32 x 26 texture map (about 1/5 of it)
ASYM_STRIDE = 8  #: input pixels per texture-map cell


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

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the stride-8 map after the first stage, the stride-16 map)."""
        half = self.layers[:3](x)
        return half, self.layers[3:](half)


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
    """Outputs: ``risk_logits`` (N, 5) cumulative by year, ``density_logits`` (N, 4), ``asymmetry`` (N, 2, 27, 21)
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
        self.texture = nn.Sequential(_block(2 * width, 2 * width, 1), nn.Conv2d(2 * width, 2 * width, 1))
        self.asym_max = nn.MaxPool2d(WINDOW, stride=1)
        self.asym_mean = nn.AvgPool2d(WINDOW, stride=1)
        self.cell_coverage = nn.AvgPool2d(ASYM_STRIDE)
        self.erode = nn.MaxPool2d(5, stride=1)
        #: training only (not in the forward pass): the asymmetry score -> "has a texture asymmetry" logit
        self.asym_logit = nn.Parameter(torch.tensor([1.0, -1.0]))
        # views in VIEW_ORDER: RCC, LCC, RMLO, LMLO
        self.register_buffer("view_index", torch.tensor([0, 0, 1, 1]), persistent=False)
        self.register_buffer("side_index", torch.tensor([0, 1, 0, 1]), persistent=False)

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, v, rows, cols = views.shape
        half, maps = self.encoder(views.reshape(n * v, 1, rows, cols))
        c, mh, mw = maps.shape[1:]
        maps = maps.reshape(n, v, c, mh, mw)
        pooled = maps.amax(dim=(3, 4))  # (N, 4, C)
        density_logits = self.density(pooled.mean(dim=1))
        asymmetry = self.asymmetry_maps(views, half)
        asym_scores = asymmetry.amax(dim=(2, 3))  # (N, 2)
        tokens = pooled + self.view_embedding[self.view_index] + self.side_embedding[self.side_index]
        exam = self.tokens(tokens).mean(dim=1)
        features = torch.cat([exam, torch.softmax(density_logits, dim=1), torch.log1p(asym_scores)], dim=1)
        h = self.hazard(features)
        risk_logits = h[:, :1] + torch.cumsum(torch.relu(h[:, 1:]), dim=1)
        return risk_logits, density_logits, asymmetry

    def asymmetry_maps(self, views: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
        """AsymMirai's heatmaps (N, 2, h, w) from the views (N, 4, H, W) and the encoder's stride-8 maps."""
        n, v = views.shape[:2]
        texture = self.texture(half)
        c, th, tw = texture.shape[1:]
        texture = texture.reshape(n, v, c, th, tw)
        # a cell is in the breast when the breast covers all of it; then eroded by two cells (16 px: the texture
        # features see about 20 px to each side, so no kept cell sees the outline), the image's edges (the chest
        # wall, the cut at the film's border) counted as outline
        coverage = self.cell_coverage((views > 0).to(views.dtype)).reshape(n, v, 1, th, tw)
        outside = F.pad(1.0 - (coverage > 0.99).to(views.dtype).reshape(n * v, 1, th, tw), (2, 2, 2, 2), value=1.0)
        inside = 1.0 - self.erode(outside)
        inside = inside.reshape(n, v, 1, th, tw)
        both = torch.stack([inside[:, 1] * inside[:, 0], inside[:, 3] * inside[:, 2]], dim=1)  # (N, 2, 1, h, w)
        cells = both.sum(dim=(3, 4), keepdim=True) + 1.0
        left, right = texture[:, 1::2], texture[:, 0::2]  # (N, 2, C, h, w): LCC, LMLO and RCC, RMLO
        # each breast centred by its own mean over the cells inside both, so a global level difference drops out
        left = left - (left * both).sum(dim=(3, 4), keepdim=True) / cells
        right = right - (right * both).sum(dim=(3, 4), keepdim=True) / cells
        diff = ((left - right).abs() * both).reshape(n * 2, c, th, tw)
        windows = 0.5 * (self.asym_max(diff) + self.asym_mean(diff))
        return torch.sqrt((windows ** 2).sum(dim=1) + 1e-6).reshape(n, 2, th - WINDOW + 1, tw - WINDOW + 1)
