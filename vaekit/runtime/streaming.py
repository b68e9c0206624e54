"""The streaming engine: encode and decode videos chunk by chunk with the causal cache.

Frames go in as they are decoded from disk, latents come out as soon as a chunk is complete, and
the only state kept between chunks is the cache (a few frames per causal conv) and a partial chunk.
Because the model's step functions are exactly whole-clip consistent, the results equal whole-clip
processing for every chunk size; peak memory depends on the chunk size, not the video length.
Large frames are additionally split into tiles (:mod:`.tiling`), each with its own cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F

from ..errors import InputError
from .backend import Backend
from .tiling import TileGrid, TileSpec

DEFAULT_CHUNK_FRAMES = 16


def check_chunk_frames(chunk_frames: int, temporal_compression: int) -> int:
    if chunk_frames <= 0 or chunk_frames % temporal_compression:
        raise ValueError(
            f"--chunk-frames must be a positive multiple of {temporal_compression} (got {chunk_frames})"
        )
    return chunk_frames


class _Tiled:
    """Runs one step function over a tile grid, keeping one cache per tile."""

    def __init__(
        self, step, init_cache, grid: TileGrid | None, height: int, width: int, scale: float, batch: int
    ):
        self.step, self.grid, self.scale = step, grid, scale
        if grid is None:
            self.caches = [init_cache(batch, height, width)]
        else:
            self.caches = [init_cache(batch, t.h, t.w) for t in grid.tiles]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.grid is None:
            out, self.caches[0] = self.step(x, self.caches[0])
            return out
        outs = []
        for i, tile in enumerate(self.grid.tiles):
            out, self.caches[i] = self.step(self.grid.crop(x, tile), self.caches[i])
            outs.append(out)
        return self.grid.blend(outs, self.scale)


class StreamingEncoder:
    """Pixels (``B, 3, t, H, W`` in ``[-1, 1]``, any ``t`` per piece) -> moments chunks.

    After :meth:`run` is exhausted, ``frame_count`` and ``size`` describe the input.
    """

    def __init__(
        self, backend: Backend, chunk_frames: int = DEFAULT_CHUNK_FRAMES, tile: TileSpec | None = None
    ):
        self.backend = backend
        self.chunk = check_chunk_frames(chunk_frames, backend.temporal_compression)
        self.tile = tile or TileSpec()
        self.frame_count = 0
        self.size: tuple[int, int] | None = None
        self.padded_size: tuple[int, int] | None = None
        self.tiled = False

    def _setup(self, x: torch.Tensor) -> _Tiled:
        b, _, _, h, w = x.shape
        sc = self.backend.spatial_compression
        ph, pw = -(-h // sc) * sc, -(-w // sc) * sc
        self.size, self.padded_size = (h, w), (ph, pw)
        grid = None
        if self.tile.enabled_for(ph, pw):
            size, overlap = self.tile.scaled(1, sc)
            grid = TileGrid(ph, pw, size, overlap)
            self.tiled = len(grid) > 1
        return _Tiled(self.backend.encode_step, self.backend.init_encoder_cache, grid, ph, pw, 1 / sc, b)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if (h, w) != self.size:
            raise InputError(f"frame size changed mid-video from {self.size[1]}x{self.size[0]} to {w}x{h}")
        ph, pw = self.padded_size
        if (ph, pw) != (h, w):
            x = F.pad(x, (0, pw - w, 0, ph - h, 0, 0), mode="replicate")
        return x

    def run(self, frames: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        tc = self.backend.temporal_compression
        step = None
        pending: list[torch.Tensor] = []
        buffered = 0
        last = None
        for x in frames:
            if step is None:
                step = self._setup(x)
                b, c = x.shape[:2]
                # zero lead-in; an encoder with lead_in="replicate" turns it into copies of frame 0
                # on its first step (a flag in its cache), so every backend agrees with encode()
                lead = x.new_zeros(b, c, tc - 1, *self.padded_size)
                pending, buffered = [lead], tc - 1
            x = self._pad(x.to(self.backend.device, self.backend.dtype))
            pending.append(x)
            buffered += x.shape[2]
            self.frame_count += x.shape[2]
            last = x[:, :, -1:]
            while buffered >= self.chunk:
                chunk, pending, buffered = _split(pending, self.chunk)
                yield step(chunk)
        if step is None:
            raise InputError("the video has no frames")
        tail = (-buffered) % tc  # repeat the last frame up to a full latent step: 1 + tc*k frames
        if tail:
            pending.append(last.expand(-1, -1, tail, -1, -1))
            buffered += tail
        if buffered:
            yield step(torch.cat(pending, dim=2))


def _split(pending: list[torch.Tensor], n: int) -> tuple[torch.Tensor, list[torch.Tensor], int]:
    """Take the first ``n`` frames off a list of frame tensors."""
    cat = torch.cat(pending, dim=2)
    rest = cat[:, :, n:]
    return cat[:, :, :n], ([rest] if rest.shape[2] else []), rest.shape[2]


class StreamingDecoder:
    """Latent chunks (``B, C, n, h, w``) -> pixel chunks (``B, 3, t, H, W``), lead-in frames dropped.

    Outputs have the padded size and ``1 + tc*(N-1)`` frames in all; crop/trim to the source.
    """

    def __init__(
        self, backend: Backend, chunk_frames: int = DEFAULT_CHUNK_FRAMES, tile: TileSpec | None = None
    ):
        self.backend = backend
        tc = backend.temporal_compression
        self.chunk = check_chunk_frames(chunk_frames, tc) // tc
        self.tile = tile or TileSpec()
        self.tiled = False

    def _setup(self, z: torch.Tensor) -> _Tiled:
        b, _, _, h, w = z.shape
        sc = self.backend.spatial_compression
        grid = None
        if self.tile.enabled_for(h * sc, w * sc):
            size, overlap = self.tile.scaled(sc, 1)
            grid = TileGrid(h, w, size, overlap)
            self.tiled = len(grid) > 1
        return _Tiled(self.backend.decode_step, self.backend.init_decoder_cache, grid, h, w, sc, b)

    def run(self, latents: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        skip = self.backend.temporal_compression - 1
        step = None
        pending: list[torch.Tensor] = []
        buffered = 0
        for z in latents:
            if step is None:
                step = self._setup(z)
            pending.append(z)
            buffered += z.shape[2]
            while buffered >= self.chunk:
                chunk, pending, buffered = _split(pending, self.chunk)
                out = step(chunk)
                yield out[:, :, skip:]
                skip = 0
        if step is None:
            raise InputError("there are no latent frames to decode")
        if buffered:
            yield step(torch.cat(pending, dim=2))[:, :, skip:]


def encode_all(
    backend: Backend, x: torch.Tensor, chunk_frames: int = DEFAULT_CHUNK_FRAMES, tile: TileSpec | None = None
) -> torch.Tensor:
    """Stream a whole ``B, 3, T, H, W`` tensor through the encoder: moments ``B, 2C, n, h, w``."""
    enc = StreamingEncoder(backend, chunk_frames, tile)
    return torch.cat(list(enc.run(x.split(1, dim=2))), dim=2)


def decode_all(
    backend: Backend, z: torch.Tensor, chunk_frames: int = DEFAULT_CHUNK_FRAMES, tile: TileSpec | None = None
) -> torch.Tensor:
    """Stream latents through the decoder: pixels ``B, 3, 1 + tc*(n-1), H, W`` (padded size)."""
    dec = StreamingDecoder(backend, chunk_frames, tile)
    return torch.cat(list(dec.run(z.split(1, dim=2))), dim=2)
