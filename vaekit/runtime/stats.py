"""Latent normalisation statistics over real videos (``vaekit stats``).

Diffusion models train on latents scaled to roughly unit variance. We stream videos through the
encoder, pool per-channel first and second moments of the posterior means, and write
``latents_mean``/``latents_std`` (and the matching global ``scaling_factor``/``shift_factor``)
into the model folder's ``config.json``.
"""

from __future__ import annotations

import json
import math
import os
import sysconfig
from pathlib import Path

import torch

from ..errors import OutputError
from ..io.atomic import atomic_write_bytes
from ..model.folder import CONFIG_NAME, presets_dirs
from .backend import Backend
from .pipeline import StreamOptions, VideoSource, encode_stream


class LatentMoments:
    """Running per-channel sums in float64 (exact enough for millions of elements)."""

    def __init__(self, channels: int):
        self.n = 0
        self.s1 = torch.zeros(channels, dtype=torch.float64)
        self.s2 = torch.zeros(channels, dtype=torch.float64)

    def update(self, mean: torch.Tensor) -> None:
        """Add latent means ``B, C, n, h, w``."""
        m = mean.double().transpose(0, 1).flatten(1)
        self.n += m.shape[1]
        self.s1 += m.sum(dim=1)
        self.s2 += m.pow(2).sum(dim=1)

    def result(self) -> dict:
        mean = self.s1 / self.n
        var = (self.s2 / self.n - mean.pow(2)).clamp_min(1e-12)
        overall_mean = float(self.s1.sum() / (self.n * len(self.s1)))
        overall_var = float(self.s2.sum() / (self.n * len(self.s1))) - overall_mean**2
        return {
            "latents_mean": [round(float(v), 6) for v in mean],
            "latents_std": [round(float(v), 6) for v in var.sqrt()],
            "shift_factor": round(overall_mean, 6),
            "scaling_factor": round(1.0 / math.sqrt(max(overall_var, 1e-12)), 6),
            "latent_elements": self.n * len(self.s1),
        }


def latent_stats(
    backend: Backend, videos: list[Path], opts: StreamOptions, max_frames: int | None = None
) -> dict:
    """Per-channel statistics of the posterior means over ``videos`` (each capped at ``max_frames``)."""
    moments = LatentMoments(backend.latent_channels)
    tick = opts.progress(None, "stats")
    for video in videos:
        stream = encode_stream(backend, VideoSource(video, max_frames=max_frames).frames(), opts)
        for chunk in stream:
            moments.update(chunk.posterior.mean)
        tick(stream.geometry.frame_count)
    result = moments.result()
    result["videos"] = len(videos)
    return result


def _protected_roots() -> list[tuple[Path, str]]:
    """Folders whose model folders are never modified in place: the preset folders and the
    Python installation's package folders."""
    roots = [(d, "a shipped preset") for d in presets_dirs()]
    for key in ("purelib", "platlib"):
        roots.append((Path(sysconfig.get_path(key)), "inside an installed package"))
    return roots


def check_writable_model(model_dir: str | os.PathLike) -> None:
    """Refuse (OutputError, one line) to write statistics into a preset or an installed package."""
    folder = Path(model_dir).resolve()
    for root, what in _protected_roots():
        try:
            root = root.resolve()
        except OSError:
            continue
        if folder == root or root in folder.parents:
            raise OutputError(
                f"{model_dir} is {what} ({folder}); vaekit stats does not modify it in place: copy the "
                f"folder (cp -r {folder} my-model) and pass --model my-model, or add --dry-run "
                "(with --json for one JSON object) to only print the statistics"
            )


def write_stats(model_dir: str | os.PathLike, stats: dict) -> Path:
    """Merge the normalisation keys of ``stats`` into ``model_dir/config.json`` (atomically); a
    preset or a folder inside an installed package is refused (:func:`check_writable_model`)."""
    check_writable_model(model_dir)
    path = Path(model_dir) / CONFIG_NAME
    config = json.loads(path.read_text())
    for key in ("latents_mean", "latents_std", "shift_factor", "scaling_factor"):
        config[key] = stats[key]
    config.pop("latent_stats_computed", None)  # computed now (the default)
    atomic_write_bytes(path, (json.dumps(config, indent=2) + "\n").encode())
    return path
