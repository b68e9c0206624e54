"""Image/video quality metrics shared by the runtime (roundtrip), the trainer and eval.

All functions take frames as float tensors ``N, C, H, W`` on a ``[0, data_range]`` scale. PSNR over a
whole video is computed from the pooled MSE of all its frames (not the mean of per-frame PSNRs);
SSIM is the mean of per-frame SSIMs (Gaussian window 11, sigma 1.5, as in Wang et al. 2004).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr_from_mse(mse: float, data_range: float = 255.0) -> float:
    return float("inf") if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_window(channels: int, size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None):
    g = torch.exp(-((torch.arange(size, dtype=dtype, device=device) - size // 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim_per_frame(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """SSIM of each frame pair (``N, C, H, W``), averaged over channels and pixels: shape ``N``.

    Frames smaller than the 11-pixel window use a window shrunk to fit.
    """
    x, y = x.double(), y.double()
    c = x.shape[1]
    size = min(11, x.shape[-1], x.shape[-2])
    win = _gaussian_window(c, size, device=x.device)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(t):
        return F.conv2d(t, win, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(dim=1)


class VideoQuality:
    """Accumulates PSNR (pooled MSE) and SSIM (mean over frames) while frames stream past."""

    def __init__(self, data_range: float = 255.0):
        self.data_range = data_range
        self.frames = 0
        self._sq_err = 0.0
        self._elements = 0
        self._ssim_sum = 0.0

    def update(self, reference: torch.Tensor, reconstruction: torch.Tensor) -> None:
        """Add frames ``N, C, H, W`` (same scale as ``data_range``)."""
        ref, rec = reference.double(), reconstruction.double()
        self._sq_err += float((ref - rec).pow(2).sum())
        self._elements += ref.numel()
        self._ssim_sum += float(ssim_per_frame(ref, rec, self.data_range).sum())
        self.frames += ref.shape[0]

    @property
    def mse(self) -> float:
        return self._sq_err / max(self._elements, 1)

    @property
    def psnr(self) -> float:
        return psnr_from_mse(self.mse, self.data_range)

    @property
    def ssim(self) -> float:
        return self._ssim_sum / max(self.frames, 1)
