"""Building blocks of the causal video VAE.

Three rules make every block streamable (see docs/DESIGN.md, "Streaming"):

* across frame groups, mixing only looks back: :class:`CausalTemporalConv` and the v2
  :class:`MotionMix` take their left context from an explicit cache tensor (the last
  ``kernel - 1`` input frames of the previous chunk);
* inside a group, mixing may look both ways: a *group* is the run of frames that one latent
  frame covers, counted from the start of the aligned stream (at level ``i``, frames
  ``[g*k, g*(k+1))`` with ``g = VAEConfig.group_frames(i)``). The folds of
  :class:`Downsample`/:class:`Upsample` and the v2 :class:`GroupMix` mix only inside a group,
  and a group never straddles a chunk, because the streaming engine feeds the encoder multiples
  of ``tc`` frames;
* every normalisation is per frame and per pixel (:class:`ChannelRMSNorm`), so no statistic is
  shared across time or space.

Blocks are functional in their cache: ``forward(x, *caches) -> (y, *new_caches)``; the caller
owns the state, which is what lets the same code run whole-clip, chunked, checkpointed or exported
to ONNX. New v2 branches start as no-ops (their last conv is zero-initialised), so weights of the
v1 model warm-start a v2 model.
"""

from __future__ import annotations

import math

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


class MotionMix(nn.Module):
    """A residual branch that moves content spatially from frame to frame, causally (v2).

    RMS norm, a depthwise ``kernel x 3 x 3`` conv whose ``kernel - 1`` frames of look-back come
    from the cache (as in :class:`CausalTemporalConv`), SiLU, then a pointwise conv that starts
    at zero (the branch is a no-op until trained).
    """

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.c_in = channels
        self.context = kernel - 1
        self.norm = ChannelRMSNorm(channels)
        self.depthwise = nn.Conv3d(channels, channels, (kernel, 3, 3), padding=(0, 1, 1), groups=channels)
        self.pointwise = nn.Conv3d(channels, channels, 1)
        zero_(self.pointwise)

    def forward(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.norm(x)
        hh = torch.cat([cache.to(h.dtype), h], dim=2)
        return x + self.pointwise(F.silu(self.depthwise(hh))), hh[:, :, hh.shape[2] - self.context :]


class ResBlock(nn.Module):
    """A (2+1)D residual block: spatial conv, causal temporal conv, spatial conv.

    With ``motion`` (v2), a :class:`MotionMix` branch follows; the block then takes and returns
    two caches (temporal conv, motion branch) instead of one. :meth:`cache_layout` lists them.
    """

    def __init__(self, c_in: int, c_out: int, temporal_kernel: int = 3, motion: bool = False):
        super().__init__()
        self.norm1 = ChannelRMSNorm(c_in)
        self.conv1 = SpatialConv(c_in, c_out)
        self.tconv = CausalTemporalConv(c_out, c_out, temporal_kernel)
        self.norm2 = ChannelRMSNorm(c_out)
        self.conv2 = SpatialConv(c_out, c_out)
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.motion = MotionMix(c_out) if motion else None

    def cache_layout(self) -> list[tuple[int, int]]:
        """``(channels, frames)`` of each cache tensor the block takes, in order."""
        stateful = [self.tconv] + ([self.motion] if self.motion is not None else [])
        return [(m.c_in, m.context) for m in stateful]

    def forward(self, x: torch.Tensor, cache: torch.Tensor, motion_cache: torch.Tensor | None = None):
        h = self.conv1(F.silu(self.norm1(x)))
        h, cache = self.tconv(F.silu(h), cache)
        h = self.conv2(F.silu(self.norm2(h)))
        y = self.skip(x) + h
        if self.motion is None:
            return y, cache
        y, motion_cache = self.motion(y, motion_cache)
        return y, cache, motion_cache


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


class GroupMix(nn.Module):
    """A residual branch that mixes the ``group`` frames of each group both ways (v2).

    The frames of a group (consecutive runs of ``group`` frames, which is what one latent frame
    covers at this level) are folded into channels; a depthwise ``1 x k x k`` conv then gives
    every frame, per channel, a spatial window on that channel in *all* frames of its group
    (moving content across the frames of a latent), and a pointwise conv, zero at the start,
    mixes channels per frame. No cache: a group never straddles a chunk.
    """

    def __init__(self, channels: int, group: int, kernel: int = 3):
        super().__init__()
        self.group = group
        self.norm = ChannelRMSNorm(channels)
        folded = channels * group  # channel order (C, group): channel c of every frame is adjacent
        pad = (0, kernel // 2, kernel // 2)
        self.depthwise = nn.Conv3d(folded, folded, (1, kernel, kernel), padding=pad, groups=channels)
        self.pointwise = nn.Conv3d(channels, channels, 1)
        zero_(self.pointwise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = space_time_to_channels(self.norm(x), 1, self.group)
        h = channels_to_space_time(self.depthwise(h), 1, self.group)
        return x + self.pointwise(F.silu(h))


def zero_(conv: nn.Conv3d) -> nn.Conv3d:
    """Zero a conv's weight and bias (the last conv of a new residual branch: a no-op at first)."""
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def projection(c_in: int, c_out: int, kernel: int) -> nn.Conv3d:
    """A ``1 x k x k`` projection initialised like a 1x1 conv in its centre tap, zero elsewhere.

    ``kernel == 1`` is a plain ``nn.Conv3d(c_in, c_out, 1)`` (the v1 layer, same initialisation).
    """
    if kernel == 1:
        return nn.Conv3d(c_in, c_out, 1)
    conv = nn.Conv3d(c_in, c_out, (1, kernel, kernel), padding=(0, kernel // 2, kernel // 2))
    centre = torch.empty(c_out, c_in, 1, 1, 1)
    nn.init.kaiming_uniform_(centre, a=math.sqrt(5))  # nn.Conv3d's own init, with a 1x1 fan-in
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :, :, kernel // 2, kernel // 2] = centre[:, :, :, 0, 0]
        nn.init.uniform_(conv.bias, -1 / math.sqrt(c_in), 1 / math.sqrt(c_in))
    return conv


class Downsample(nn.Module):
    """Space/time-to-channel folding plus a projection, with a parameter-free shortcut.

    The shortcut averages groups of folded channels down to ``c_out`` (as in DC-AE's residual
    autoencoding), so the block starts close to a lossless reshuffle and trains fast. The
    projection is 1x1 (v1) or ``1 x k x k`` (``kernel``, v2). With ``group_mix`` (v2, the frames one
    latent covers), a :class:`GroupMix` branch runs on the input before the fold.
    """

    def __init__(
        self, c_in: int, c_out: int, spatial: int, temporal: int, kernel: int = 1, group_mix: int = 0
    ):
        super().__init__()
        self.s, self.t = spatial, temporal
        folded = c_in * spatial * spatial * temporal
        if folded % c_out:
            raise ValueError(f"Downsample: {folded} folded channels do not group into {c_out}")
        self.group = folded // c_out
        self.mix = GroupMix(c_in, group_mix) if group_mix else None
        self.proj = projection(folded, c_out, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mix is not None:
            x = self.mix(x)
        x = space_time_to_channels(x, self.s, self.t)
        b, c, n, h, w = x.shape
        shortcut = x.reshape(b, c // self.group, self.group, n, h, w).mean(dim=2)
        return self.proj(x) + shortcut


class Upsample(nn.Module):
    """A projection then channel-to-space/time unfolding, with a repeat shortcut.

    The projection is 1x1 (v1) or ``1 x k x k`` (``kernel``, v2). With ``group_mix`` (v2), a
    :class:`GroupMix` branch runs on the unfolded output.
    """

    def __init__(
        self, c_in: int, c_out: int, spatial: int, temporal: int, kernel: int = 1, group_mix: int = 0
    ):
        super().__init__()
        self.s, self.t = spatial, temporal
        unfolded = c_out * spatial * spatial * temporal
        if unfolded % c_in:
            raise ValueError(f"Upsample: {unfolded} channels are not a multiple of {c_in}")
        self.repeat = unfolded // c_in
        self.proj = projection(c_in, unfolded, kernel)
        self.mix = GroupMix(c_out, group_mix) if group_mix else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(x) + x.repeat_interleave(self.repeat, dim=1)
        y = channels_to_space_time(y, self.s, self.t)
        return y if self.mix is None else self.mix(y)
