"""Spatial tiling with overlap blending, for frames too large to process in one piece.

Tiles are laid out on a grid (the last tile of a row or column sits flush with the edge) and each
tile keeps its own streaming cache, so tiling composes with temporal chunking. Overlaps are
blended with linear ramps; since the model's norms are per pixel, the only tiling error comes from
the receptive field being cut at tile edges (measured by ``benchmarks/bench_runtime.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TileSpec:
    """How to tile: ``mode`` is ``auto`` (tile when a frame side exceeds ``auto_above`` pixels),
    ``on`` or ``off``; ``size`` and ``overlap`` are in pixels."""

    mode: str = "auto"
    size: int = 512
    overlap: int = 128
    auto_above: int = 768

    @classmethod
    def parse(cls, text: str | None) -> TileSpec:
        """``auto`` | ``off`` | ``SIZE`` | ``SIZE:OVERLAP`` (the ``--tile`` option)."""
        text = (text or "auto").strip().lower()
        if text in ("auto", "off"):
            return cls(mode=text)
        size, _, overlap = text.partition(":")
        try:
            size_i = int(size)
            overlap_i = int(overlap) if overlap else size_i // 4
        except ValueError:
            raise ValueError(f"--tile takes auto, off, SIZE or SIZE:OVERLAP, not {text!r}") from None
        if size_i <= 0 or not 0 <= overlap_i < size_i:
            raise ValueError(f"--tile {text}: need SIZE > 0 and 0 <= OVERLAP < SIZE")
        return cls(mode="on", size=size_i, overlap=overlap_i)

    def enabled_for(self, height: int, width: int) -> bool:
        if self.mode == "off":
            return False
        if self.mode == "on":
            return height > self.size or width > self.size
        return max(height, width) > self.auto_above

    def scaled(self, factor: int, multiple: int) -> tuple[int, int]:
        """Tile size and overlap divided by ``factor`` and rounded down to ``multiple``."""
        size = max(multiple, (self.size // factor) // multiple * multiple)
        overlap = min(size - multiple, (self.overlap // factor) // multiple * multiple)
        return size, max(0, overlap)


def tile_starts(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``size`` overlapping by ``overlap``."""
    if length <= size:
        return [0]
    stride = size - overlap
    starts = list(range(0, length - size, stride))
    starts.append(length - size)
    return starts


def _ramp(start: int, size: int, total: int, overlap: int) -> torch.Tensor:
    """1D blend weights of one tile: ramps up over the overlap unless at the image's edge."""
    w = torch.ones(size, dtype=torch.float64)
    if overlap > 0:
        r = (torch.arange(overlap, dtype=torch.float64) + 0.5) / overlap
        if start > 0:
            w[:overlap] = r
        if start + size < total:
            w[size - overlap :] = torch.minimum(w[size - overlap :], r.flip(0))
    return w


@dataclass(frozen=True)
class Tile:
    y: int
    x: int
    h: int
    w: int


class TileGrid:
    """The tiles of a ``height x width`` plane; :meth:`blend` joins per-tile outputs at any scale."""

    def __init__(self, height: int, width: int, size: int, overlap: int):
        self.height, self.width = height, width
        self.size, self.overlap = size, overlap
        self.tiles = [
            Tile(y, x, min(size, height), min(size, width))
            for y in tile_starts(height, size, overlap)
            for x in tile_starts(width, size, overlap)
        ]

    def __len__(self) -> int:
        return len(self.tiles)

    def crop(self, t: torch.Tensor, tile: Tile) -> torch.Tensor:
        return t[..., tile.y : tile.y + tile.h, tile.x : tile.x + tile.w]

    def blend(self, outputs: list[torch.Tensor], scale: float) -> torch.Tensor:
        """Blend per-tile outputs (``..., h*scale, w*scale``) into the full plane."""
        first = outputs[0]
        lead = first.shape[:-2]
        H, W = round(self.height * scale), round(self.width * scale)
        acc = torch.zeros(*lead, H, W, dtype=torch.float64, device=first.device)
        norm = torch.zeros(H, W, dtype=torch.float64, device=first.device)
        ov = round(self.overlap * scale)
        for tile, out in zip(self.tiles, outputs, strict=True):
            y, x, h, w = (round(v * scale) for v in (tile.y, tile.x, tile.h, tile.w))
            wy = _ramp(y, h, H, min(ov, h))
            wx = _ramp(x, w, W, min(ov, w))
            weight = (wy[:, None] * wx[None, :]).to(first.device)
            acc[..., y : y + h, x : x + w] += out.double() * weight
            norm[y : y + h, x : x + w] += weight
        return (acc / norm).to(first.dtype)
