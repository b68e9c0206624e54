"""The 3D PatchGAN discriminator of phase 2.

A stack of strided 3D convolutions (as in taming-transformers' NLayerDiscriminator, extended to
time) that scores overlapping space-time patches of a clip: the output is a map of logits, one
per patch, and the losses average over it. Differences from the reference trainers:

* the temporal kernel is 3 with padding 1 and only the first two layers stride in time, so any
  clip length works, 1-frame images included (a 4-frame temporal kernel fails on short clips);
* GroupNorm instead of BatchNorm: the score of a clip does not depend on the rest of its batch,
  real and fake clips can share one forward pass, and DDP needs no SyncBatchNorm.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4) or 1, channels)


class PatchDiscriminator3D(nn.Module):
    """``B, 3, T, H, W`` clips in [-1, 1] -> ``B, 1, T', H', W'`` patch logits (real > 0)."""

    def __init__(self, in_channels: int = 3, channels: int = 64, layers: int = 3):
        super().__init__()
        seq: list[nn.Module] = [
            nn.Conv3d(in_channels, channels, (3, 4, 4), stride=(2, 2, 2), padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = channels
        for n in range(1, layers + 1):
            out = channels * min(2**n, 8)
            last = n == layers
            stride = (2 if n == 1 else 1, 1 if last else 2, 1 if last else 2)
            seq += [
                nn.Conv3d(width, out, (3, 4, 4), stride=stride, padding=1, bias=False),
                _norm(out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width = out
        seq.append(nn.Conv3d(width, 1, (3, 4, 4), stride=1, padding=1))
        self.net = nn.Sequential(*seq)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _init_weights(m: nn.Module) -> None:
    """N(0, 0.02) convolutions and N(1, 0.02) norm scales, the usual PatchGAN start."""
    if isinstance(m, nn.Conv3d):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.GroupNorm):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
