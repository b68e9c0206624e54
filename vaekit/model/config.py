"""Model configuration: what ``config.json`` in a model folder holds."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

CONFIG_FORMAT = "vaekit-causal-vae"


@dataclass
class VAEConfig:
    """Architecture and latent conventions of a causal video VAE.

    ``channels[i]`` is the width of level ``i``; ``down_factors[i] = (spatial, temporal)`` folds
    level ``i`` into level ``i + 1``. The stem folds ``patch_size x patch_size`` pixels into
    channels. Spatial compression is ``patch_size * prod(spatial)``, temporal compression
    ``prod(temporal)``; a clip of ``1 + tc * k`` frames gives ``1 + k`` latent frames.
    """

    name: str = "tiny"
    in_channels: int = 3
    latent_channels: int = 16
    patch_size: int = 4
    channels: list[int] = field(default_factory=lambda: [64, 128, 256])
    down_factors: list[list[int]] = field(default_factory=lambda: [[2, 2], [1, 2]])
    encoder_blocks: list[int] = field(default_factory=lambda: [1, 1, 2])
    decoder_blocks: list[int] = field(default_factory=lambda: [2, 2, 2])
    temporal_kernel: int = 3
    # Latent normalisation for diffusion models: either per-channel mean/std, or shift + scale.
    scaling_factor: float = 1.0
    shift_factor: float = 0.0
    latents_mean: list[float] | None = None
    latents_std: list[float] | None = None
    # Seed of the deterministic random initialisation used when a folder ships no weights.
    init_seed: int = 0

    def __post_init__(self):
        levels = len(self.channels)
        if len(self.down_factors) != levels - 1:
            raise ValueError("down_factors needs one (spatial, temporal) pair per level transition")
        if len(self.encoder_blocks) != levels or len(self.decoder_blocks) != levels:
            raise ValueError("encoder_blocks and decoder_blocks need one entry per level")
        for stats in (self.latents_mean, self.latents_std):
            if stats is not None and len(stats) != self.latent_channels:
                raise ValueError("latents_mean/latents_std need one value per latent channel")

    @property
    def spatial_compression(self) -> int:
        return self.patch_size * math.prod(s for s, _ in self.down_factors)

    @property
    def temporal_compression(self) -> int:
        return math.prod(t for _, t in self.down_factors)

    def latent_frames(self, frames: int) -> int:
        """Latent frames for a clip of ``frames`` frames (padded up to ``1 + tc * k``)."""
        return 1 + math.ceil((frames - 1) / self.temporal_compression)

    def to_dict(self) -> dict:
        return {"format": CONFIG_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> VAEConfig:
        d = dict(d)
        fmt = d.pop("format", CONFIG_FORMAT)
        if fmt != CONFIG_FORMAT:
            raise InputError(f"config.json has format {fmt!r}, expected {CONFIG_FORMAT!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"config.json has unknown keys {unknown}; is it from a newer vaekit?")
        return cls(**d)

    @classmethod
    def from_json(cls, path: str | Path) -> VAEConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"cannot read model config {path}: {e}") from None
        return cls.from_dict(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"
