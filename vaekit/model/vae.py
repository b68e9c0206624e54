"""The causal video VAE: encoder, decoder and the streaming step functions.

Layout is ``B, C, T, H, W`` with pixels in ``[-1, 1]``. The model works on *aligned* clips:
``T`` a multiple of the temporal compression ``tc`` and ``H, W`` multiples of the spatial
compression. A real clip of ``1 + tc * k`` frames is aligned by prepending ``tc - 1`` lead-in
frames, so the first latent frame sees only the first video frame (an image encodes on its own)
and every later latent frame covers ``tc`` new frames. The lead-in is zeros (v1) or, with
``lead_in="replicate"``, copies of frame 0; callers may always prepend zeros (the streaming engine
and the exported clip graphs do): a replicating encoder overwrites the lead-in of the stream's
first step with copies of frame 0 itself, knowing "first step" from a flag in its cache, so every
path gives the same numbers. :meth:`CausalVideoVAE.encode` / :meth:`decode` do this padding for
whole tensors; the streaming engine in :mod:`vaekit.runtime` does it chunk by chunk with the same
step functions, so both give the same numbers.

Streaming rule (v1 and v2): the aligned stream is cut into *groups*, the ``tc`` frames that one
latent frame covers (counted from the first lead-in frame; at a lower level, the frames they
fold into). Across groups every layer is causal, and all look-back state is in the explicit
cache list (temporal convs, v2 motion branches, the v2 lead-in flag). Inside a group, mixing may
look both ways (the space/time folds, the v2 ``1 x k x k`` resample projections and the v2 group
mixing). Chunks are multiples of ``tc`` frames, so a group never straddles a chunk and chunked
processing equals whole-clip processing exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import LatentStatsMissingWarning, VAEConfig
from .distribution import DiagonalGaussian, join_moments
from .layers import (
    ChannelRMSNorm,
    Downsample,
    ResBlock,
    SpatialConv,
    Upsample,
    channels_to_space_time,
    space_time_to_channels,
)

Cache = list[torch.Tensor]


class _Coder(nn.Module):
    """Shared machinery: run residual blocks with an explicit cache, optionally checkpointed."""

    gradient_checkpointing = False

    def _run_block(self, block: ResBlock, x: torch.Tensor, *caches: torch.Tensor):
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, x, *caches, use_reentrant=False)
        return block(x, *caches)

    def _run_levels(
        self, h: torch.Tensor, cache: Cache, resamplers: nn.ModuleList
    ) -> tuple[torch.Tensor, Cache]:
        """Each level's residual blocks (their cache entries in order), then its resampler."""
        new_cache: Cache = []
        it = iter(cache)
        for i, blocks in enumerate(self.levels):
            for block in blocks:
                h, *c = self._run_block(block, h, *(next(it) for _ in block.cache_layout()))
                new_cache += c
            if i < len(resamplers):
                h = resamplers[i](h)
        return h, new_cache

    def _cache_spec(self, batch: int, sizes: list[tuple[int, int]], dtype, device) -> Cache:
        blocks = [b for b in self.modules() if isinstance(b, ResBlock)]
        return [
            torch.zeros(batch, c, frames, h, w, dtype=dtype, device=device)
            for b, (h, w) in zip(blocks, sizes, strict=True)
            for c, frames in b.cache_layout()
        ]


class Encoder(_Coder):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        p = cfg.patch_size
        self.conv_in = SpatialConv(cfg.in_channels * p * p, ch[0])
        self.levels = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i, c in enumerate(ch):
            motion = i in cfg.motion_levels
            self.levels.append(
                nn.ModuleList(
                    ResBlock(c, c, cfg.temporal_kernel, motion) for _ in range(cfg.encoder_blocks[i])
                )
            )
            if i < len(ch) - 1:
                s, t = cfg.down_factors[i]
                mix = cfg.group_frames(i) if cfg.group_mixing and t > 1 else 0
                self.downs.append(Downsample(c, ch[i + 1], s, t, cfg.resample_kernel, mix))
        self.norm_out = ChannelRMSNorm(ch[-1])
        self.conv_out = SpatialConv(ch[-1], 2 * cfg.latent_channels)
        if ch[-1] % cfg.latent_channels:
            raise ValueError("the last encoder width must be a multiple of latent_channels")

    @property
    def replicates_lead_in(self) -> bool:
        return self.cfg.lead_in == "replicate"

    def forward(self, x: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        """Aligned frames ``B, 3, tc*n, H, W`` -> moments ``B, 2*latent, n, H/sc, W/sc``.

        With ``lead_in="replicate"`` the cache ends with a *started* flag (zeros before frame 0,
        ones after the first step): on the first step the ``tc - 1`` lead-in frames that open
        ``x`` are replaced by copies of frame 0, whatever the caller put there."""
        flag: Cache = []
        if self.replicates_lead_in:
            cache, started = cache[:-1], cache[-1]
            x = _replicate_lead_in(x, started, self.cfg.temporal_compression - 1)
            flag = [torch.ones_like(started)]
        h = self.conv_in(space_time_to_channels(x, self.cfg.patch_size, 1))
        h, new_cache = self._run_levels(h, cache, self.downs)
        moments = self.conv_out(F.silu(self.norm_out(h)))
        b, c, n, hh, ww = h.shape
        lc = self.cfg.latent_channels
        shortcut = h.reshape(b, lc, c // lc, n, hh, ww).mean(dim=2)
        moments = moments + join_moments(shortcut, torch.zeros_like(shortcut))
        return moments, new_cache + flag

    def init_cache(self, batch: int, height: int, width: int, dtype=torch.float32, device=None) -> Cache:
        """Zero cache for a video of aligned size ``height x width`` (the state before frame 0)."""
        sizes, scale = [], self.cfg.patch_size
        for i, n in enumerate(self.cfg.encoder_blocks):
            sizes += [(height // scale, width // scale)] * n
            if i < len(self.cfg.down_factors):
                scale *= self.cfg.down_factors[i][0]
        cache = self._cache_spec(batch, sizes, dtype, device)
        if self.replicates_lead_in:  # the started flag, one value per latent pixel
            sc = self.cfg.spatial_compression
            cache.append(torch.zeros(batch, 1, 1, height // sc, width // sc, dtype=dtype, device=device))
        return cache


class Decoder(_Coder):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        p = cfg.patch_size
        self.conv_in = SpatialConv(cfg.latent_channels, ch[-1])
        self.levels = nn.ModuleList()
        self.ups = nn.ModuleList()
        for i in reversed(range(len(ch))):
            motion = i in cfg.motion_levels
            self.levels.append(
                nn.ModuleList(
                    ResBlock(ch[i], ch[i], cfg.temporal_kernel, motion) for _ in range(cfg.decoder_blocks[i])
                )
            )
            if i > 0:
                s, t = cfg.down_factors[i - 1]
                mix = cfg.group_frames(i - 1) if cfg.group_mixing and t > 1 else 0
                self.ups.append(Upsample(ch[i], ch[i - 1], s, t, cfg.resample_kernel, mix))
        self.norm_out = ChannelRMSNorm(ch[0])
        self.conv_out = SpatialConv(ch[0], cfg.in_channels * p * p)
        self.repeat_in = ch[-1] // cfg.latent_channels

    def forward(self, z: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        """Latents ``B, latent, n, h, w`` -> aligned frames ``B, 3, tc*n, h*sc, w*sc``."""
        h = self.conv_in(z) + z.repeat_interleave(self.repeat_in, dim=1)
        h, new_cache = self._run_levels(h, cache, self.ups)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return channels_to_space_time(out, self.cfg.patch_size, 1), new_cache

    def init_cache(self, batch: int, height: int, width: int, dtype=torch.float32, device=None) -> Cache:
        """Zero cache for latents of size ``height x width``."""
        sizes, scale = [], 1
        n_levels = len(self.cfg.channels)
        for j, n in enumerate(reversed(self.cfg.decoder_blocks)):
            sizes += [(height * scale, width * scale)] * n
            level = n_levels - 1 - j
            if level > 0:
                scale *= self.cfg.down_factors[level - 1][0]
        return self._cache_spec(batch, sizes, dtype, device)


def _replicate_lead_in(x: torch.Tensor, started: torch.Tensor, lead: int) -> torch.Tensor:
    """``x`` with its first ``lead`` frames replaced by copies of frame ``lead`` where the stream
    has not started (``started`` is 0; exact, and traceable: a select, not arithmetic)."""
    if lead == 0:
        return x
    first = x[:, :, lead : lead + 1]
    fill = torch.where(started[:, :, :, :1, :1] > 0.5, x[:, :, :lead], first.expand(-1, -1, lead, -1, -1))
    return torch.cat([fill, x[:, :, lead:]], dim=2)


def _forget_fp32_fingerprint(module: nn.Module, _incompatible_keys) -> None:
    """Other weights loaded into the module: it is hashed as it then is."""
    module.fp32_fingerprint = None


class CausalVideoVAE(nn.Module):
    """A causal 3D-conv VAE whose encoder and decoder run whole-clip or chunk by chunk.

    ``encode(x)`` returns a :class:`DiagonalGaussian`; ``decode(z)`` returns pixels. Any frame count
    and size work: inputs are padded (last frame repeated, edges replicated) to the model's
    multiples; pass ``num_frames/height/width`` to :meth:`decode` to crop back.
    """

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        #: the fingerprint of the fp32 weights this model was loaded with (set by ``load_model``
        #: from the weights file's metadata, docs/DESIGN.md "Model folders"); it survives casts,
        #: so the same model at any precision writes and accepts the same latent files, and is
        #: forgotten when other weights are loaded
        self.fp32_fingerprint: str | None = None
        self.register_load_state_dict_post_hook(_forget_fp32_fingerprint)

    # -- geometry ---------------------------------------------------------------------------
    @property
    def temporal_compression(self) -> int:
        return self.config.temporal_compression

    @property
    def spatial_compression(self) -> int:
        return self.config.spatial_compression

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        sc = self.spatial_compression
        return math.ceil(height / sc) * sc, math.ceil(width / sc) * sc

    def pad_clip(self, x: torch.Tensor) -> torch.Tensor:
        """Pad ``B, C, T, H, W`` to ``1 + tc*k`` frames and to spatial multiples (replicate)."""
        t, h, w = x.shape[2:]
        ph, pw = self.padded_size(h, w)
        tt = 1 + self.temporal_compression * math.ceil((t - 1) / self.temporal_compression)
        if (ph, pw) != (h, w):
            # replicate-pad per frame (5D replicate padding pads the last three dims)
            x = F.pad(x, (0, pw - w, 0, ph - h, 0, 0), mode="replicate")
        if tt != t:
            x = torch.cat([x, x[:, :, -1:].expand(-1, -1, tt - t, -1, -1)], dim=2)
        return x

    def lead_in(self, x: torch.Tensor) -> torch.Tensor:
        """The ``tc - 1`` frames that precede frame 0 (``x[:, :, 0]``) in the aligned stream: zeros,
        or copies of frame 0 with ``lead_in="replicate"`` (whose encoder also fills them in itself
        when a caller prepends zeros)."""
        b, c, _, h, w = x.shape
        lead = self.temporal_compression - 1
        if self.config.lead_in == "replicate":
            return x[:, :, :1].expand(-1, -1, lead, -1, -1)
        return x.new_zeros(b, c, lead, h, w)

    # -- step functions (the streaming contract) --------------------------------------------
    def encode_step(self, x: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        return self.encoder(x, cache)

    def decode_step(self, z: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        return self.decoder(z, cache)

    # -- whole-clip API ---------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """Encode ``B, 3, T, H, W`` pixels in ``[-1, 1]`` (any ``T >= 1``, any ``H, W``)."""
        x = self.pad_clip(x)
        x = torch.cat([self.lead_in(x), x], dim=2)
        cache = self.encoder.init_cache(x.shape[0], *x.shape[3:], dtype=x.dtype, device=x.device)
        moments, _ = self.encoder(x, cache)
        return DiagonalGaussian(moments)

    def decode(
        self,
        z: torch.Tensor,
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
    ) -> torch.Tensor:
        """Decode ``B, C, n, h, w`` latents to ``B, 3, 1 + tc*(n-1), h*sc, w*sc`` pixels (cropped
        to ``num_frames/height/width`` when given)."""
        cache = self.decoder.init_cache(z.shape[0], *z.shape[3:], dtype=z.dtype, device=z.device)
        x, _ = self.decoder(z, cache)
        x = x[:, :, self.temporal_compression - 1 :]
        return x[:, :, :num_frames, :height, :width]

    def forward(self, x: torch.Tensor, sample: bool = True, generator=None):
        """Reconstruct ``x``: returns ``(x_hat, posterior)`` with ``x_hat`` cropped to ``x``'s shape."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample else posterior.mode()
        return self.decode(z, *x.shape[2:]), posterior

    # -- latent normalisation for diffusion models -----------------------------------------
    def _stats(self, z: torch.Tensor):
        cfg = self.config
        if not cfg.latent_stats_computed:
            import warnings

            warnings.warn(
                f"model {cfg.name!r} has no latent statistics yet (exported from a training run): normalize() "
                "is the identity; compute them with `vaekit stats VIDEOS --model DIR`",
                LatentStatsMissingWarning,
                stacklevel=3,
            )
        if cfg.latents_mean is not None and cfg.latents_std is not None:
            shape = (1, -1) + (1,) * (z.ndim - 2)
            mean = torch.tensor(cfg.latents_mean, dtype=z.dtype, device=z.device).view(shape)
            std = torch.tensor(cfg.latents_std, dtype=z.dtype, device=z.device).view(shape)
            return mean, 1.0 / std
        return cfg.shift_factor, cfg.scaling_factor

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """Map raw latents to the unit-scale space a diffusion model trains on."""
        shift, scale = self._stats(z)
        return (z - shift) * scale

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize`: back to what :meth:`decode` takes."""
        shift, scale = self._stats(z)
        return z / scale + shift


def upgrade_state_dict(
    old_state: dict[str, torch.Tensor], new_model: CausalVideoVAE
) -> dict[str, torch.Tensor]:
    """Map the weights of a v1 model (or any model with a subset of ``new_model``'s layers) into
    ``new_model``'s state dict, to warm-start a v2 architecture from trained v1 weights.

    Every tensor of ``old_state`` is copied; a 1x1 resample projection becomes the centre tap of a
    ``1 x k x k`` one (other taps zero); layers the old model lacks (motion and group-mixing
    branches) keep ``new_model``'s initialisation, in which their last conv is zero, so each
    branch is a no-op. With ``lead_in="zeros"`` the upgraded model computes what the old one did
    (up to float rounding of the wider convs). Raises ``ValueError`` on keys or shapes that do
    not fit. ``new_model`` itself is not changed: load the result with ``load_state_dict``.
    """
    new_state = new_model.state_dict()
    unexpected = sorted(set(old_state) - set(new_state))
    if unexpected:
        raise ValueError(f"upgrade_state_dict: the new model has no {unexpected[:3]}")
    out = {}
    for key, target in new_state.items():
        if key not in old_state:
            out[key] = target.detach().clone()
            continue
        old = old_state[key].to(target.dtype)
        if old.shape == target.shape:
            out[key] = old.clone()
        elif old.ndim == 5 and old.shape[:3] == target.shape[:3] and old.shape[3:] == (1, 1):
            kh, kw = target.shape[3:]
            if kh % 2 == 0 or kw % 2 == 0:
                raise ValueError(f"upgrade_state_dict: {key} has an even kernel {tuple(target.shape[2:])}")
            wide = torch.zeros_like(target)
            wide[:, :, :, kh // 2, kw // 2] = old[:, :, :, 0, 0]
            out[key] = wide
        else:
            raise ValueError(
                f"upgrade_state_dict: {key} has shape {tuple(old.shape)}, the new model {tuple(target.shape)}"
            )
    return out
