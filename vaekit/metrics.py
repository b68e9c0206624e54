"""Image/video quality metrics shared by the runtime (roundtrip), the trainer and eval.

All functions take frames as float tensors ``N, C, H, W`` on a ``[0, data_range]`` scale. PSNR over a
whole video is computed from the pooled MSE of all its frames (not the mean of per-frame PSNRs);
SSIM is the mean of per-frame SSIMs (Gaussian window 11, sigma 1.5, as in Wang et al. 2004).
"""

from __future__ import annotations

import functools
import math

import torch

from .runtime.pixels import PIXEL_MAX


def psnr_from_mse(mse: float, data_range: float = PIXEL_MAX) -> float:
    return float("inf") if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


@functools.lru_cache(maxsize=16)
def _band(length: int, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """``length x (length - size + 1)`` matrix whose product applies a valid-mode Gaussian."""
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - size // 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    band = torch.zeros(length, length - size + 1, dtype=torch.float64)
    for i in range(length - size + 1):
        band[i : i + size, i] = g
    return band.float()


def ssim_per_frame(x: torch.Tensor, y: torch.Tensor, data_range: float = PIXEL_MAX) -> torch.Tensor:
    """SSIM of each frame pair (``N, C, H, W``), averaged over channels and pixels: shape ``N``.

    The Gaussian window is applied separably as two banded matrix products (fast on CPU), in
    float32 on ``[0, 1]``-scaled data. Frames smaller than the window use a window shrunk to fit.
    """
    x, y = x.float() / data_range, y.float() / data_range
    n, c, h, w = x.shape
    size = min(11, h, w)
    bw, bh = _band(w, size).to(x.device), _band(h, size).to(x.device)
    c1, c2 = 0.01**2, 0.03**2

    def blur(t):
        return bh.T @ (t @ bw)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.reshape(n, -1).double().mean(dim=1)


class VideoQuality:
    """Accumulates PSNR (pooled MSE) and SSIM (mean over frames) while frames stream past."""

    def __init__(self, data_range: float = PIXEL_MAX):
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
