"""The part of a backend that is the same for every runtime of exported graphs (ONNX, TensorRT).

An exported backend holds one *step runner* per available part (encoder, decoder). A runner
knows its :class:`~vaekit.runtime.graph_spec.GraphSpec` and executes one streaming step; this
class turns a pair of runners into the :class:`~vaekit.runtime.backend.Backend` interface: the
model's identity and geometry (read from the graphs, so latent files made with it carry the same
fingerprint as with the torch model), zero caches in the graph's dtype, and a clear error when a
part was not exported.
"""

from __future__ import annotations

from typing import Protocol

import torch

from ..dtypes import torch_dtypes
from ..errors import InputError
from .backend import Cache
from .graph_spec import GraphSpec, check_same_model

TORCH_DTYPES = torch_dtypes()


class StepRunner(Protocol):
    spec: GraphSpec

    def __call__(self, x: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]: ...


class ExportedBackend:
    """Backend over exported step graphs; subclasses build the runners for their runtime."""

    name = "exported"

    def __init__(self, runners: dict[str, StepRunner], device: torch.device, where: str):
        if not runners:
            raise InputError(f"{where} holds no exported step graphs")
        specs = [r.spec for r in runners.values()]
        if len(specs) == 2:
            check_same_model(specs[0], specs[1], where)
        first = specs[0]
        self._runners = runners
        self._where = where
        self.model_name = first.model_name
        self.model_sha256 = first.model_sha256
        self.latent_channels = first.latent_channels
        self.temporal_compression = first.temporal_compression
        self.spatial_compression = first.spatial_compression
        self.scaling = dict(first.scaling)
        self.dtype = TORCH_DTYPES[first.dtype]
        self.device = device

    def runner(self, part: str) -> StepRunner:
        try:
            return self._runners[part]
        except KeyError:
            raise InputError(
                f"{self._where} has no {part} step graph; export it with `vaekit export --part {part}` (or --part all)"
            ) from None

    def _zeros(self, part: str, batch: int, height: int, width: int) -> Cache:
        shapes = self.runner(part).spec.cache_shapes(batch, height, width)
        return [torch.zeros(s, dtype=self.dtype, device=self.device) for s in shapes]

    def init_encoder_cache(self, batch: int, height: int, width: int) -> Cache:
        return self._zeros("encoder", batch, height, width)

    def init_decoder_cache(self, batch: int, height: int, width: int) -> Cache:
        return self._zeros("decoder", batch, height, width)

    def encode_step(self, x: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        return self.runner("encoder")(x.to(self.device, self.dtype), cache)

    def decode_step(self, z: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        return self.runner("decoder")(z.to(self.device, self.dtype), cache)
