"""Backends run the model's two step functions; the streaming engine only talks to this interface.

A backend exposes the geometry of its model and ``encode_step`` / ``decode_step`` on one aligned
chunk with an explicit cache (a list of tensors in a fixed order). The torch backend lives here;
exported backends (ONNX Runtime, TensorRT) implement the same four methods.
"""

from __future__ import annotations

from functools import cached_property
from typing import Protocol

import torch

from ..model import CausalVideoVAE, weights_sha256

Cache = list[torch.Tensor]


class Backend(Protocol):
    name: str
    model_name: str
    model_sha256: str
    latent_channels: int
    temporal_compression: int
    spatial_compression: int
    device: torch.device
    dtype: torch.dtype
    #: latent normalisation of the model (scaling_factor, shift_factor, latents_mean, latents_std)
    scaling: dict

    def init_encoder_cache(self, batch: int, height: int, width: int) -> Cache: ...

    def encode_step(self, x: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]: ...

    def init_decoder_cache(self, batch: int, height: int, width: int) -> Cache: ...

    def decode_step(self, z: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]: ...


class TorchBackend:
    """Runs a :class:`CausalVideoVAE` eagerly (no autograd) on its device and dtype."""

    name = "torch"

    def __init__(self, model: CausalVideoVAE):
        self.model = model.eval()
        p = next(model.parameters())
        self.device, self.dtype = p.device, p.dtype
        cfg = model.config
        self.model_name = cfg.name
        source = getattr(model, "source_dir", None)  # set by load_model
        self.model_dir = str(source.resolve()) if source is not None else ""
        self.latent_stats_computed = cfg.latent_stats_computed
        self.latent_channels = cfg.latent_channels
        self.temporal_compression = cfg.temporal_compression
        self.spatial_compression = cfg.spatial_compression

    @property
    def scaling(self) -> dict:
        cfg = self.model.config
        return {k: getattr(cfg, k) for k in ("scaling_factor", "shift_factor", "latents_mean", "latents_std")}

    @cached_property
    def model_sha256(self) -> str:
        """The fingerprint of the fp32 weights (latent files record it), computed on first use.

        A model loaded at fp16/bf16 keeps the fingerprint of the fp32 weights it was loaded from,
        so the same model at any ``--dtype`` writes and accepts the same latent files.
        """
        loaded = getattr(self.model, "fp32_fingerprint", None)  # set by load_model
        if loaded is not None and self.dtype != torch.float32:
            return loaded
        return weights_sha256(self.model)

    def init_encoder_cache(self, batch: int, height: int, width: int) -> Cache:
        return self.model.encoder.init_cache(batch, height, width, self.dtype, self.device)

    def init_decoder_cache(self, batch: int, height: int, width: int) -> Cache:
        return self.model.decoder.init_cache(batch, height, width, self.dtype, self.device)

    @torch.inference_mode()
    def encode_step(self, x: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        return self.model.encode_step(x.to(self.device, self.dtype), cache)

    @torch.inference_mode()
    def decode_step(self, z: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        return self.model.decode_step(z.to(self.device, self.dtype), cache)
