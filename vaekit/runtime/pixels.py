"""The pixel contract: how a video's frames become model input and come back.

One place for what every path from a file to the model and back agrees on (docs/DESIGN.md,
"Tensors and latents"):

- frames on disk are ``H, W, 3`` uint8 RGB; the model takes ``B, 3, T, H, W`` in ``[-1, 1]``:
  ``x = u / 127.5 - 1`` and back ``u = round((clamp(x, -1, 1) + 1) * 127.5)``;
- frames are padded (edges replicated) to multiples of the spatial compression and cropped back
  to the source's size and frame count after decoding;
- precision names (``fp32``, ``fp16``, ``bf16``) are :mod:`vaekit.dtypes`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..dtypes import NAMES as DTYPE_NAMES  # noqa: F401  (the precision names, re-exported)
from ..dtypes import parse_dtype  # noqa: F401

#: the largest 8-bit pixel value (the data range of 8-bit quality metrics)
PIXEL_MAX = 255.0


def to_unit(u: torch.Tensor, *, clamp: bool = False) -> torch.Tensor:
    """uint8 values (any layout), or float values on that scale (resampled frames, which may
    overshoot) -> float32 in ``[-1, 1]`` (``clamp``: values outside cut to it)."""
    x = u.float() / 127.5 - 1.0
    return x.clamp(-1.0, 1.0) if clamp else x


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` (any layout) -> 0..255 as a float32 tensor of whole numbers, rounded and
    clamped (what a decoded 8-bit frame holds)."""
    return ((x.float() + 1.0) * 127.5).round().clamp(0, PIXEL_MAX)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` (any layout) -> uint8 values, rounded and clamped."""
    return to_levels(x).to(torch.uint8)


def frames_to_tensor(frame: np.ndarray) -> torch.Tensor:
    """``H, W, 3`` uint8 -> ``1, 3, 1, H, W`` float32 in ``[-1, 1]``."""
    t = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)
    return to_unit(t)[None, :, None]


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """``1, 3, t, H, W`` in ``[-1, 1]`` -> ``t, H, W, 3`` uint8 (rounded, clamped)."""
    return to_uint8(x[0]).permute(1, 2, 3, 0).cpu().numpy()


def frame_to_chw(frame: np.ndarray) -> torch.Tensor:
    """``H, W, 3`` uint8 -> ``1, 3, H, W`` uint8 (the layout the quality metrics take)."""
    return torch.from_numpy(frame).permute(2, 0, 1)[None]


def padded_size(height: int, width: int, spatial_compression: int) -> tuple[int, int]:
    """The size a frame is padded to: the next multiples of the spatial compression."""
    sc = spatial_compression
    return -(-height // sc) * sc, -(-width // sc) * sc


def pad_frames(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Replicate-pad ``B, C, T, h, w`` on the bottom and right to ``height x width``."""
    h, w = x.shape[-2:]
    if (h, w) == (height, width):
        return x
    # replicate-pad per frame (5D replicate padding pads the last three dims)
    return F.pad(x, (0, width - w, 0, height - h, 0, 0), mode="replicate")


def crop(x: torch.Tensor, frames: int | None, height: int | None, width: int | None) -> torch.Tensor:
    """``B, C, T, H, W`` cut to at most ``frames`` frames and ``height x width`` (None: keep)."""
    return x[:, :, :frames, :height, :width]


def latent_frames(frames: int, temporal_compression: int) -> int:
    """Latent frames for ``frames`` video frames: ``1 + ceil((frames - 1) / tc)``."""
    return 1 + -(-(frames - 1) // temporal_compression)
