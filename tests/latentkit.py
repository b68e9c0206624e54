"""Latent file metadata for writer tests (imported by test modules; pytest puts tests/ on sys.path)."""

from fractions import Fraction

from vaekit.io.latent_file import LatentInfo


def latent_info(frames=9, channels=4, **kw) -> LatentInfo:
    """The metadata of a small latent: ``frames`` source frames of 30x20 (padded 32x24),
    ``channels`` latent channels with means 0, 1, 2, ..."""
    base = dict(
        model_name="m",
        model_sha256="ab" * 32,
        source_width=30,
        source_height=20,
        padded_width=32,
        padded_height=24,
        frame_count=frames,
        fps=Fraction(30000, 1001),
        dtype="",
        latent_channels=channels,
        temporal_compression=4,
        spatial_compression=8,
        latents_mean=[float(i) for i in range(channels)],
    )
    return LatentInfo(**(base | kw))
