"""LPIPS for the perceptual loss and for evaluation, without ever triggering a download.

The ``lpips`` package ships its small linear heads but asks torchvision for the VGG/AlexNet
backbone. Here the backbone file is looked up (``lpips_backbone_path``, else torchvision's cache
in ``$TORCH_HOME/hub/checkpoints``, where ``vaekit weights lpips`` puts it), loaded with
``weights_only=True`` and accepted only after the known-answer check of
:mod:`vaekit.lpips_weights`. ``random_backbone`` keeps the random backbone for tests and
says loudly that its numbers are not LPIPS.

``frames`` limits how many frames of each clip LPIPS sees (``lpips_frames`` in a recipe): LPIPS
on every frame dominates a CPU training step. The frames are drawn per clip from a generator the
caller seeds per step, so a step's loss is reproducible; without a generator (validation,
evaluation) LPIPS sees every frame.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from .lpips_weights import build_lpips, find_backbone, load_verified_lpips


class PerFrameLPIPS(nn.Module):
    """Mean LPIPS over the frames of ``B, 3, T, H, W`` clips in [-1, 1]; frozen, no gradients kept.

    ``is_lpips`` is False for the random backbone: its numbers must not be reported as LPIPS.
    """

    def __init__(self, net: str = "vgg", backbone_path: str = "", random_backbone: bool = False, frames: int = 0):
        super().__init__()
        self.net, self.frames = net, frames
        if random_backbone:
            self.lpips = build_lpips(net, None)
            warnings.warn(
                "LPIPS runs with a RANDOM backbone (lpips_random_backbone = true): perception_loss is "
                "not LPIPS, only a test signal",
                stacklevel=2,
            )
        else:
            self.lpips = load_verified_lpips(net, find_backbone(net, backbone_path))
        self.is_lpips = not random_backbone
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True):  # always in eval mode (dropout in the heads stays off)
        return super().train(False)

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean LPIPS over all frames; over ``frames`` frames per clip drawn with ``generator`` when
        one is given (training steps). Without a generator (validation, evaluation) every frame
        counts, so those numbers are deterministic."""
        b, _, t = x.shape[:3]
        if generator is not None and 0 < self.frames < t:
            picks = torch.stack([torch.randperm(t, generator=generator)[: self.frames] for _ in range(b)])
            index = picks.to(x.device)[:, None, :, None, None].expand(-1, x.shape[1], -1, *x.shape[3:])
            x_hat, x = x_hat.gather(2, index), x.gather(2, index)
        frames = [v.transpose(1, 2).flatten(0, 1) for v in (x_hat, x)]  # B*T, 3, H, W
        return self.lpips(*frames).mean()
