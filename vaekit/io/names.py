"""File names vaekit reads and writes: which suffixes are videos, images and latent files, and
where each command's output goes by default. No heavy imports (torch, PyAV), so the command line
can check its inputs and outputs before it loads them."""

from __future__ import annotations

import os
from pathlib import Path

#: File suffixes that commands and the trainer treat as videos / still images when they expand folders.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".ts", ".y4m", ".flv"}
)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
#: the suffix of latent files
LATENT_SUFFIX = ".latent.safetensors"


def default_latent_path(video: str | os.PathLike) -> Path:
    """``clip.mp4 -> clip.latent.safetensors`` (beside the input)."""
    p = Path(video)
    return p.with_name(p.stem + LATENT_SUFFIX)


def default_video_path(latent: str | os.PathLike, suffix: str = ".mp4") -> Path:
    """``clip.latent.safetensors -> clip.decoded.mp4``: never the name of the source video."""
    p = Path(latent)
    name = p.name[: -len(LATENT_SUFFIX)] if p.name.endswith(LATENT_SUFFIX) else p.stem
    return p.with_name(name + ".decoded" + suffix)


def default_roundtrip_path(video: str | os.PathLike) -> Path:
    """``clip.mp4 -> clip.roundtrip.mp4``, ``photo.jpg -> photo.roundtrip.png`` (beside the input)."""
    p = Path(video)
    return p.with_name(
        p.stem + (".roundtrip.png" if p.suffix.lower() in IMAGE_SUFFIXES else ".roundtrip.mp4")
    )
