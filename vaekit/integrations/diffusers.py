"""A diffusers-compatible wrapper: ``AutoencoderKLVaekit`` behaves like diffusers' video VAEs.

    from vaekit.integrations.diffusers import AutoencoderKLVaekit
    vae = AutoencoderKLVaekit.from_vaekit("tiny")          # or .from_pretrained(diffusers_folder)
    posterior = vae.encode(video).latent_dist              # video: B, 3, T, H, W in [-1, 1]
    frames = vae.decode(posterior.sample()).sample
    vae.enable_tiling(); vae.save_pretrained("out/")

It is a ``ModelMixin``/``ConfigMixin`` (save/load, dtype/device moves, pipelines' ``vae.config``
lookups: ``scaling_factor``, ``latents_mean``, ``latents_std``, ``z_dim``, ``scale_factor_temporal``,
``scale_factor_spatial``). Tiled and sliced paths run through vaekit's streaming engine, which
also streams over time, so long clips decode in bounded memory. Needs ``pip install diffusers``.
"""

from __future__ import annotations

import os
import warnings

import torch

try:
    from diffusers.configuration_utils import ConfigMixin, register_to_config
    from diffusers.models.autoencoders.vae import (
        AutoencoderMixin,
        DecoderOutput,
        DiagonalGaussianDistribution,
    )
    from diffusers.models.modeling_outputs import AutoencoderKLOutput
    from diffusers.models.modeling_utils import ModelMixin
except ImportError as e:  # pragma: no cover - exercised only without diffusers
    from ..errors import MissingDependencyError

    raise MissingDependencyError(
        f"the diffusers adapter needs diffusers ({e}); install it with: pip install diffusers"
    ) from None

from ..model import CausalVideoVAE, VAEConfig, load_model
from ..model.folder import UntrainedWeightsWarning
from ..runtime.backend import TorchBackend
from ..runtime.streaming import decode_all, encode_all
from ..runtime.tiling import TileSpec


class AutoencoderKLVaekit(ModelMixin, AutoencoderMixin, ConfigMixin):
    """A vaekit causal video VAE with the interface of diffusers' ``AutoencoderKL*`` video VAEs."""

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        name: str = "tiny",
        in_channels: int = 3,
        latent_channels: int = 16,
        patch_size: int = 4,
        channels: tuple[int, ...] = (64, 128, 256),
        down_factors: tuple[tuple[int, int], ...] = ((2, 2), (1, 2)),
        encoder_blocks: tuple[int, ...] = (1, 1, 2),
        decoder_blocks: tuple[int, ...] = (2, 2, 2),
        temporal_kernel: int = 3,
        scaling_factor: float = 1.0,
        shift_factor: float = 0.0,
        latents_mean: list[float] | None = None,
        latents_std: list[float] | None = None,
        init_seed: int = 0,
        resample_kernel: int = 1,
        motion_levels: tuple[int, ...] = (),
        group_mixing: bool = False,
        lead_in: str = "zeros",
        z_dim: int | None = None,
        scale_factor_temporal: int | None = None,
        scale_factor_spatial: int | None = None,
    ):
        """vaekit's ``VAEConfig`` fields; ``z_dim``/``scale_factor_*`` are derived (kept in
        config.json for pipelines) and checked when given."""
        super().__init__()
        cfg = VAEConfig(
            name=name,
            in_channels=in_channels,
            latent_channels=latent_channels,
            patch_size=patch_size,
            channels=list(channels),
            down_factors=[list(f) for f in down_factors],
            encoder_blocks=list(encoder_blocks),
            decoder_blocks=list(decoder_blocks),
            temporal_kernel=temporal_kernel,
            scaling_factor=scaling_factor,
            shift_factor=shift_factor,
            latents_mean=latents_mean,
            latents_std=latents_std,
            init_seed=init_seed,
            resample_kernel=resample_kernel,
            motion_levels=list(motion_levels),
            group_mixing=group_mixing,
            lead_in=lead_in,
        )
        derived = (latent_channels, cfg.temporal_compression, cfg.spatial_compression)
        given = (z_dim, scale_factor_temporal, scale_factor_spatial)
        if any(g is not None and g != d for g, d in zip(given, derived)):
            raise ValueError(
                f"z_dim/scale_factor_temporal/scale_factor_spatial {given} contradict the architecture {derived}"
            )
        # Register the keys pipelines read (WanPipeline and friends) next to vaekit's own.
        self.register_to_config(
            z_dim=latent_channels,
            scale_factor_temporal=cfg.temporal_compression,
            scale_factor_spatial=cfg.spatial_compression,
        )
        self.model = CausalVideoVAE(cfg)
        self.use_tiling = False
        self.use_slicing = False
        self.tile = TileSpec(mode="on")
        self.chunk_frames = 16

    @classmethod
    def from_vaekit(cls, name_or_path: str | os.PathLike = "tiny", **load_kwargs) -> AutoencoderKLVaekit:
        """Wrap a vaekit model folder or preset (``config.json`` + ``model.safetensors``)."""
        with warnings.catch_warnings():
            warnings.simplefilter("always", UntrainedWeightsWarning)
            src = load_model(name_or_path, **load_kwargs)
        kwargs = src.config.to_dict()  # v2 fields only where set, so a v1 config gives v1 keys
        kwargs.pop("format")
        wrapper = cls(**kwargs)
        wrapper.model.load_state_dict(src.state_dict())
        dtype = next(src.parameters()).dtype
        return wrapper if dtype == torch.float32 else wrapper.to(dtype)

    # -- diffusers interface -----------------------------------------------------------------
    def enable_tiling(self, tile_sample_min_size: int | None = None, tile_overlap: int | None = None) -> None:
        """Tile frames larger than ``tile_sample_min_size`` pixels (default 512, overlap 128)."""
        size = tile_sample_min_size or self.tile.size
        self.tile = TileSpec(
            mode="on", size=size, overlap=tile_overlap if tile_overlap is not None else size // 4
        )
        self.use_tiling = True

    def _streamed(self) -> bool:
        return self.use_tiling or self.use_slicing

    def encode(self, x: torch.Tensor, return_dict: bool = True):
        """``x``: ``B, 3, T, H, W`` in ``[-1, 1]`` -> ``AutoencoderKLOutput(latent_dist=...)``."""
        if self._streamed():
            tile = self.tile if self.use_tiling else TileSpec(mode="off")
            moments = encode_all(TorchBackend(self.model), x, self.chunk_frames, tile)
        else:
            moments = self.model.encode(x).moments
        dist = DiagonalGaussianDistribution(moments)
        return AutoencoderKLOutput(latent_dist=dist) if return_dict else (dist,)

    def decode(self, z: torch.Tensor, return_dict: bool = True):
        """``z``: ``B, C, n, h, w`` -> ``DecoderOutput(sample=B, 3, 1 + 4(n-1), 8h, 8w)``."""
        if self._streamed():
            tile = self.tile if self.use_tiling else TileSpec(mode="off")
            sample = decode_all(TorchBackend(self.model), z, self.chunk_frames, tile)
        else:
            sample = self.model.decode(z)
        return DecoderOutput(sample=sample) if return_dict else (sample,)

    def forward(
        self, sample: torch.Tensor, sample_posterior: bool = False, return_dict: bool = True, generator=None
    ):
        dist = self.encode(sample).latent_dist
        z = dist.sample(generator=generator) if sample_posterior else dist.mode()
        dec = self.decode(z).sample[:, :, : sample.shape[2], : sample.shape[3], : sample.shape[4]]
        return DecoderOutput(sample=dec) if return_dict else (dec,)
