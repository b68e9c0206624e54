"""Building blocks of the causal video VAE.

Two rules make every block streamable (see DESIGN.md, "Streaming"):

* only :class:`CausalTemporalConv` mixes frames, and it only looks back: its left context comes
  from an explicit cache tensor (the last ``kernel - 1`` input frames of the previous chunk);
* every normalisation is per frame and per pixel (:class:`ChannelRMSNorm`), so no statistic is
  shared across time or space.

Frame-count changes (temporal down/up sampling) are pure reshapes of frame groups that never
straddle a chunk boundary, because the streaming engine feeds the encoder multiples of 4 frames.
Blocks are functional in their cache: ``forward(x, cache) -> (y, new_cache)``; the caller owns the
state, which is what lets the same code run whole-clip, chunked, checkpointed or exported to ONNX.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelRMSNorm(nn.Module):
    """RMS normalisation over channels, independently for every frame and pixel.

    Computed in at least float32 whatever the input dtype, then cast back (fp16/bf16 safe).
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = torch.promote_types(x.dtype, torch.float32)  # fp16/bf16 -> fp32, fp64 stays
        xa = x.to(acc)
        y = xa * torch.rsqrt(xa.pow(2).mean(dim=1, keepdim=True) + self.eps)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        y = y * self.weight.to(acc).view(shape) + self.bias.to(acc).view(shape)
        return y.to(x.dtype)


class SpatialConv(nn.Conv3d):
    """A per-frame 2D convolution (kernel ``1 x k x k``) on ``B, C, T, H, W`` tensors."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3):
        super().__init__(c_in, c_out, (1, kernel, kernel), padding=(0, kernel // 2, kernel // 2))


class CausalTemporalConv(nn.Module):
    """A convolution over time only (kernel ``k x 1 x 1``) that never looks at future frames.

    ``cache`` holds the last ``k - 1`` input frames that came before ``x`` (zeros at the start of
    a video). Returns the output (same frame count as ``x``) and the cache for the next chunk.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3):
        super().__init__()
        self.c_in = c_in
        self.context = kernel - 1
        self.conv = nn.Conv3d(c_in, c_out, (kernel, 1, 1))

    def forward(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xx = torch.cat([cache.to(x.dtype), x], dim=2)
        return self.conv(xx), xx[:, :, xx.shape[2] - self.context :]


class ResBlock(nn.Module):
    """A (2+1)D residual block: spatial conv, causal temporal conv, spatial conv."""

    def __init__(self, c_in: int, c_out: int, temporal_kernel: int = 3):
        super().__init__()
        self.norm1 = ChannelRMSNorm(c_in)
        self.conv1 = SpatialConv(c_in, c_out)
        self.tconv = CausalTemporalConv(c_out, c_out, temporal_kernel)
        self.norm2 = ChannelRMSNorm(c_out)
        self.conv2 = SpatialConv(c_out, c_out)
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv1(F.silu(self.norm1(x)))
        h, cache = self.tconv(F.silu(h), cache)
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h, cache


def space_time_to_channels(x: torch.Tensor, s: int, t: int) -> torch.Tensor:
    """Fold ``t x s x s`` blocks of frames/pixels into channels: ``B,C,T,H,W -> B,C*t*s*s,T/t,H/s,W/s``.

    Frames are grouped in consecutive runs of ``t`` (never across a chunk boundary, since chunks
    are multiples of ``t``). Channel order is ``(C, t, s, s)``.
    """
    b, c, n, h, w = x.shape
    x = x.reshape(b, c, n // t, t, h // s, s, w // s, s)
    x = x.permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(b, c * t * s * s, n // t, h // s, w // s)


def channels_to_space_time(x: torch.Tensor, s: int, t: int) -> torch.Tensor:
    """Inverse of :func:`space_time_to_channels`."""
    b, c, n, h, w = x.shape
    co = c // (t * s * s)
    x = x.reshape(b, co, t, s, s, n, h, w)
    x = x.permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, co, n * t, h * s, w * s)


class Downsample(nn.Module):
    """Space/time-to-channel folding plus a 1x1 projection, with a parameter-free shortcut.

    The shortcut averages groups of folded channels down to ``c_out`` (as in DC-AE's residual
    autoencoding), so the block starts close to a lossless reshuffle and trains fast.
    """

    def __init__(self, c_in: int, c_out: int, spatial: int, temporal: int):
        super().__init__()
        self.s, self.t = spatial, temporal
        folded = c_in * spatial * spatial * temporal
        if folded % c_out:
            raise ValueError(f"Downsample: {folded} folded channels do not group into {c_out}")
        self.group = folded // c_out
        self.proj = nn.Conv3d(folded, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = space_time_to_channels(x, self.s, self.t)
        b, c, n, h, w = x.shape
        shortcut = x.reshape(b, c // self.group, self.group, n, h, w).mean(dim=2)
        return self.proj(x) + shortcut


class Upsample(nn.Module):
    """A 1x1 projection then channel-to-space/time unfolding, with a repeat shortcut."""

    def __init__(self, c_in: int, c_out: int, spatial: int, temporal: int):
        super().__init__()
        self.s, self.t = spatial, temporal
        unfolded = c_out * spatial * spatial * temporal
        if unfolded % c_in:
            raise ValueError(f"Upsample: {unfolded} channels are not a multiple of {c_in}")
        self.repeat = unfolded // c_in
        self.proj = nn.Conv3d(c_in, unfolded, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(x) + x.repeat_interleave(self.repeat, dim=1)
        return channels_to_space_time(y, self.s, self.t)
