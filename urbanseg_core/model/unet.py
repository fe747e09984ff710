"""The UNet of the original project, with the same state-dict keys and shapes.

Architecture (Ronneberger et al. 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI; in the layout of the widely used PyTorch implementation the original
project followed): ``inc`` DoubleConv, four ``down`` steps (max-pool 2 + DoubleConv), four
``up`` steps (bilinear x2 or transposed conv, pad, concatenate the skip, DoubleConv) and a 1x1
``outc``. DoubleConv = (3x3 conv without bias, BatchNorm, ReLU) x 2, then Dropout2d.

``UNet(n_channels=15, n_classes=3, base_width=64, bilinear=True)`` has exactly the 110
state-dict entries of the original checkpoint ``final_model.pth`` (17.27 M parameters), so it
loads with ``strict=True``. The original ``OutConv`` applied dropout even at inference; here
dropout follows ``model.training``, so inference is deterministic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Module):
    """(3x3 conv, BN, ReLU) x 2, then Dropout2d. Input ``(N, in, H, W)`` -> ``(N, out, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None,
                 dropout: float = 0.1):
        super().__init__()
        mid = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    """Max-pool 2 then DoubleConv: ``(N, in, H, W)`` -> ``(N, out, H/2, W/2)``."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.1):
        super().__init__()
        self.maxpool_conv = nn.Sequential(
            nn.MaxPool2d(2), DoubleConv(in_channels, out_channels, dropout=dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upsample x2, pad to the skip's size, concatenate, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = True,
                 align_corners: bool = True, dropout: float = 0.1):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=align_corners)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2, dropout=dropout)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels, dropout=dropout)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        dy = x2.size(2) - x1.size(2)
        dx = x2.size(3) - x1.size(3)
        if dy or dx:
            x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class OutConv(nn.Module):
    """1x1 convolution to class logits; dropout only while training."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dropout:
            x = F.dropout2d(x, self.dropout, training=self.training)
        return self.conv(x)


class UNet(nn.Module):
    """UNet for semantic segmentation of multispectral tiles.

    Args:
        n_channels: input channels (15: 11 Sentinel-2 bands + 4 indices).
        n_classes: output classes (3: other, non-residential, residential).
        base_width: channels of the first block (64 in the original; widths double per level).
        bilinear: bilinear upsampling (original) or transposed convolutions.
        align_corners: for bilinear upsampling; the original used ``True``. ``False`` makes
            the network shift-equivariant (for offsets that are multiples of 16), which tiled
            inference relies on for seamless mosaics.
        dropout: Dropout2d probability after each DoubleConv (0.1 in the original).
        out_dropout: dropout before ``outc`` while training (0.3 in the original).

    Input ``(N, n_channels, H, W)`` float32, H and W multiples of 16 for exact skip
    alignment (other sizes are padded internally); output ``(N, n_classes, H, W)`` logits.
    """

    def __init__(self, n_channels: int = 15, n_classes: int = 3, base_width: int = 64,
                 bilinear: bool = True, align_corners: bool = True, dropout: float = 0.1,
                 out_dropout: float = 0.3):
        super().__init__()
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.bilinear = bilinear
        w = base_width
        factor = 2 if bilinear else 1
        self.inc = DoubleConv(n_channels, w, dropout=dropout)
        self.down1 = Down(w, w * 2, dropout)
        self.down2 = Down(w * 2, w * 4, dropout)
        self.down3 = Down(w * 4, w * 8, dropout)
        self.down4 = Down(w * 8, w * 16 // factor, dropout)
        self.up1 = Up(w * 16, w * 8 // factor, bilinear, align_corners, dropout)
        self.up2 = Up(w * 8, w * 4 // factor, bilinear, align_corners, dropout)
        self.up3 = Up(w * 4, w * 2 // factor, bilinear, align_corners, dropout)
        self.up4 = Up(w * 2, w, bilinear, align_corners, dropout)
        self.outc = OutConv(w, n_classes, out_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
