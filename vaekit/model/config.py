"""Model configuration: what ``config.json`` in a model folder holds."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

CONFIG_FORMAT = "vaekit-causal-vae"
LEAD_INS = ("zeros", "replicate")
#: fields added with the v2 architecture and their v1 values: written only when different
V2_DEFAULTS = {"resample_kernel": 1, "motion_levels": [], "group_mixing": False, "lead_in": "zeros"}


class LatentStatsMissingWarning(UserWarning):
    """The model's latent normalisation statistics were not computed (a freshly trained model;
    ``latent_stats_computed: false`` in config.json)."""


@dataclass
class VAEConfig:
    """Architecture and latent conventions of a causal video VAE.

    ``channels[i]`` is the width of level ``i``; ``down_factors[i] = (spatial, temporal)`` folds
    level ``i`` into level ``i + 1``. The stem folds ``patch_size x patch_size`` pixels into
    channels. Spatial compression is ``patch_size * prod(spatial)``, temporal compression
    ``prod(temporal)``; a clip of ``1 + tc * k`` frames gives ``1 + k`` latent frames.

    The last four fields select the v2 architecture; their defaults are the v1 model (the shipped
    presets), so a v1 ``config.json``, which lacks them, builds exactly the model it always did:

    * ``resample_kernel``: spatial kernel of the Downsample/Upsample projections (odd). ``1`` is a
      per-pixel projection of the folded channels; ``3`` a ``1 x 3 x 3`` conv, so a fold (or
      unfold) can take content from a neighbouring position of another frame of its group.
    * ``motion_levels``: levels whose residual blocks (encoder and decoder) end with a motion
      branch: a depthwise causal ``3 x 3 x 3`` conv (two frames of look-back in the cache) and a
      pointwise conv, which moves content spatially from frame to frame.
    * ``group_mixing``: a residual branch at every level that a temporal fold follows, in the
      encoder right before the fold and in the decoder right after the unfold, that mixes the
      frames of one latent both ways (a depthwise ``3 x 3`` conv over all frames of the group,
      then a pointwise conv).
    * ``lead_in``: what the ``tc - 1`` frames before frame 0 of the aligned stream are:
      ``"zeros"`` (v1) or ``"replicate"`` (copies of frame 0, so latent 0 sees only frame 0 and
      no slot of the first fold is biased towards black).

    New branches start as no-ops (their last conv is zero), so v1 weights warm-start a v2 model
    (see :func:`vaekit.model.upgrade_state_dict`). These fields are written to ``config.json``
    only when they differ from their defaults, so a v1 config stays byte-identical.
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
    # False for a model exported from a training run before `vaekit stats` measured its latents:
    # the normalisation fields above then hold no statistics (identity), written only when False.
    latent_stats_computed: bool = True
    # v2 architecture (see the class docstring); the defaults are the v1 model.
    resample_kernel: int = 1
    motion_levels: list[int] = field(default_factory=list)
    group_mixing: bool = False
    lead_in: str = "zeros"

    def __post_init__(self):
        levels = len(self.channels)
        if len(self.down_factors) != levels - 1:
            raise ValueError("down_factors needs one (spatial, temporal) pair per level transition")
        if len(self.encoder_blocks) != levels or len(self.decoder_blocks) != levels:
            raise ValueError("encoder_blocks and decoder_blocks need one entry per level")
        for stats in (self.latents_mean, self.latents_std):
            if stats is not None and len(stats) != self.latent_channels:
                raise ValueError("latents_mean/latents_std need one value per latent channel")
        if self.resample_kernel < 1 or self.resample_kernel % 2 == 0:
            raise ValueError(f"resample_kernel must be odd and positive (got {self.resample_kernel})")
        if any(not 0 <= i < levels for i in self.motion_levels) or len(set(self.motion_levels)) != len(
            self.motion_levels
        ):
            raise ValueError(f"motion_levels must be distinct level indices below {levels}")
        if self.lead_in not in LEAD_INS:
            raise ValueError(f"lead_in must be one of {LEAD_INS} (got {self.lead_in!r})")

    @property
    def spatial_compression(self) -> int:
        return self.patch_size * math.prod(s for s, _ in self.down_factors)

    @property
    def temporal_compression(self) -> int:
        return math.prod(t for _, t in self.down_factors)

    def latent_frames(self, frames: int) -> int:
        """Latent frames for a clip of ``frames`` frames (padded up to ``1 + tc * k``)."""
        return 1 + math.ceil((frames - 1) / self.temporal_compression)

    @property
    def is_v1(self) -> bool:
        """Whether every v2 field has its default (the architecture of the shipped presets)."""
        return all(getattr(self, k) == v for k, v in V2_DEFAULTS.items())

    def group_frames(self, level: int) -> int:
        """Frames of level ``level`` that one latent frame covers (``tc`` at level 0)."""
        return math.prod(t for _, t in self.down_factors[level:])

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in {**V2_DEFAULTS, "latent_stats_computed": True}.items():
            if d[k] == v:
                del d[k]
        return {"format": CONFIG_FORMAT, **d}

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
