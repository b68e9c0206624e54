"""The torch modules that are exported, with their example inputs and dynamic shapes.

Per part (encoder, decoder) there are two graphs:

* **step**: one streaming step, ``(x, cache_in_0, ...) -> (out, cache_out_0, ...)``, exactly the
  model's ``encode_step``/``decode_step`` with the cache list flattened into named tensors. The
  streaming engine drives it chunk by chunk with constant memory.
* **clip**: a whole aligned clip in one call, with the zero cache and the lead-in frames inside
  the graph. The encoder takes ``1 + tc*k`` frames of ``H x W`` pixels (multiples of the spatial
  compression; pad like :meth:`CausalVideoVAE.pad_clip`) and returns the moments; the decoder
  takes ``n`` latent frames and returns ``1 + tc*(n-1)`` frames.

Sampling stays outside every graph: encoders output mean and log-variance stacked on channels.
Batch, frame count, height and width are dynamic. Example inputs use sizes of 2 or more in every
dynamic dimension (torch.export specialises dimensions whose example size is 0 or 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import nn
from torch.export import Dim

from ..model import CausalVideoVAE
from ..runtime.graph_spec import IO_NAMES, CacheSpec

# example sizes for tracing, in latent units; distinct so no two dynamic dims look equal
_EXAMPLE_BATCH, _EXAMPLE_STEPS, _EXAMPLE_H, _EXAMPLE_W = 2, 2, 3, 4


class StepGraph(nn.Module):
    """``encode_step`` / ``decode_step`` of one part with the cache as separate tensors."""

    def __init__(self, coder: nn.Module):
        super().__init__()
        self.coder = coder

    def forward(self, x: torch.Tensor, cache: list[torch.Tensor]):
        out, new_cache = self.coder(x, cache)
        return (out, *new_cache)


class EncoderClipGraph(nn.Module):
    """Aligned clip ``B, 3, 1 + tc*k, H, W`` -> moments ``B, 2C, 1 + k, H/sc, W/sc``."""

    def __init__(self, model: CausalVideoVAE):
        super().__init__()
        self.encoder = model.encoder
        self.lead = model.temporal_compression - 1

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b, c, _, h, w = video.shape
        # zeros; a lead_in="replicate" encoder replaces them by copies of frame 0 itself
        x = torch.cat([video.new_zeros(b, c, self.lead, h, w), video], dim=2)
        cache = self.encoder.init_cache(b, h, w, dtype=video.dtype, device=video.device)
        return self.encoder(x, cache)[0]


class DecoderClipGraph(nn.Module):
    """Latents ``B, C, n, h, w`` -> frames ``B, 3, 1 + tc*(n-1), h*sc, w*sc`` (lead-in dropped)."""

    def __init__(self, model: CausalVideoVAE):
        super().__init__()
        self.decoder = model.decoder
        self.lead = model.temporal_compression - 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, _, _, h, w = z.shape
        cache = self.decoder.init_cache(b, h, w, dtype=z.dtype, device=z.device)
        return self.decoder(z, cache)[0][:, :, self.lead :]


@dataclass
class Traceable:
    """Everything ``torch.onnx.export`` needs for one graph."""

    module: nn.Module
    args: tuple
    dynamic_shapes: tuple
    input_names: list[str]
    output_names: list[str]
    caches: tuple[CacheSpec, ...]
    #: readable names for the dynamic dims of the outputs (the exporter invents ``s12``-like ones)
    output_dims: dict[str, list[str | int]]


def _cache_specs(cache: list[torch.Tensor], height: int) -> tuple[CacheSpec, ...]:
    return tuple(
        CacheSpec(f"cache_in_{i}", f"cache_out_{i}", c.shape[1], c.shape[2], Fraction(c.shape[3], height))
        for i, c in enumerate(cache)
    )


def _times(factor: int, dim: Dim | str):
    """``factor * dim`` for a torch Dim or a readable dim name; ``dim`` itself when ``factor`` is 1."""
    if isinstance(dim, str):
        return dim if factor == 1 else f"{factor}*{dim}"
    return dim if factor == 1 else factor * dim


def traceable(model: CausalVideoVAE, part: str, kind: str) -> Traceable:
    """The module, example inputs and dynamic shapes of graph ``part.kind`` of ``model``."""
    p = next(model.parameters())
    cfg = model.config
    sc, tc = model.spatial_compression, model.temporal_compression
    b, n, h, w = _EXAMPLE_BATCH, _EXAMPLE_STEPS, _EXAMPLE_H, _EXAMPLE_W
    batch, steps, lh, lw = Dim("batch", min=1), Dim("n", min=1), Dim("h", min=1), Dim("w", min=1)
    # the encoder's input is in pixels (sc per latent unit), the decoder's in latent units
    unit = sc if part == "encoder" else 1
    channels = cfg.in_channels if part == "encoder" else cfg.latent_channels
    frames, frame_dim = (tc * n, tc * steps) if part == "encoder" else (n, steps)
    x_name, out_name = IO_NAMES[(part, kind)]

    def randn(*shape):
        return torch.randn(shape, dtype=p.dtype, device=p.device)

    if kind == "clip" and part == "encoder":
        video = randn(b, channels, 1 + tc * n, sc * h, sc * w)
        dims = {0: batch, 2: tc * steps + 1, 3: sc * lh, 4: sc * lw}
        out = {out_name: ["batch", 2 * cfg.latent_channels, "n + 1", "h", "w"]}
        return Traceable(EncoderClipGraph(model), (video,), (dims,), [x_name], [out_name], (), out)
    x = randn(b, channels, frames, unit * h, unit * w)
    x_dims = {0: batch, 2: frame_dim, 3: _times(unit, lh), 4: _times(unit, lw)}
    if kind == "clip":
        out = {out_name: ["batch", cfg.in_channels, f"{tc}*n - {tc - 1}", f"{sc}*h", f"{sc}*w"]}
        return Traceable(DecoderClipGraph(model), (x,), (x_dims,), [x_name], [out_name], (), out)

    coder = model.encoder if part == "encoder" else model.decoder
    cache = coder.init_cache(b, unit * h, unit * w, dtype=p.dtype, device=p.device)
    specs = _cache_specs(cache, unit * h)
    out = {
        out_name: ["batch", 2 * cfg.latent_channels, "n", "h", "w"]
        if part == "encoder"
        else ["batch", cfg.in_channels, f"{tc}*n", f"{sc}*h", f"{sc}*w"]
    }
    cache_dims = []
    for s in specs:
        factor = s.scale * unit  # cache size per latent unit
        if factor.denominator != 1:
            raise ValueError(f"{part} cache {s.input} is not a whole multiple of the latent size")
        f = int(factor)
        cache_dims.append({0: batch, 3: _times(f, lh), 4: _times(f, lw)})
        out[s.output] = ["batch", s.channels, s.frames, _times(f, "h"), _times(f, "w")]
    return Traceable(
        StepGraph(coder),
        (x, cache),
        (x_dims, cache_dims),
        [x_name, *(s.input for s in specs)],
        [out_name, *(s.output for s in specs)],
        specs,
        out,
    )
