"""``vaekit info``: what a latent file or a model folder holds, as a flat dict."""

from __future__ import annotations

from pathlib import Path

from .io.latent_file import SUFFIX, LatentReader


def describe(target: str) -> dict:
    path = Path(target)
    if path.is_file() and (path.name.endswith(SUFFIX) or path.suffix == ".safetensors"):
        return describe_latent(path)
    return describe_model(target)


def describe_latent(path: Path) -> dict:
    reader = LatentReader(path)
    i = reader.info
    return {
        "kind": "latent file",
        "path": str(path),
        "model": i.model_name,
        "model_sha256": i.model_sha256,
        "latent_shape": "x".join(map(str, i.latent_shape)),
        "dtype": i.dtype,
        "has_logvar": i.has_logvar,
        "source": i.source,
        "source_size": f"{i.source_width}x{i.source_height}",
        "padded_size": f"{i.padded_width}x{i.padded_height}",
        "frame_count": i.frame_count,
        "fps": f"{i.fps.numerator}/{i.fps.denominator} ({float(i.fps):.3f})",
        "scaling_factor": i.scaling_factor,
        "shift_factor": i.shift_factor,
        "per_channel_stats": i.latents_mean is not None,
        "data_blake2b": f"{reader.checksum} (verified)" if reader.checksum else "none (older file, not verified)",
        "vaekit_version": i.vaekit_version,
    }


def describe_model(name_or_path: str) -> dict:
    import warnings

    from .model import load_model, weights_sha256
    from .model.folder import UntrainedWeightsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedWeightsWarning)
        model = load_model(name_or_path)
    cfg = model.config
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {
        "kind": "model",
        "name": cfg.name,
        "folder": str(model.source_dir),
        "trained_weights": model.trained,
        "weights_sha256": weights_sha256(model),
        "parameters": f"{count(model) / 1e6:.2f}M (encoder {count(model.encoder) / 1e6:.2f}M, "
        f"decoder {count(model.decoder) / 1e6:.2f}M)",
        "compression": f"{cfg.temporal_compression}x{cfg.spatial_compression}x{cfg.spatial_compression} (t x h x w)",
        "latent_channels": cfg.latent_channels,
        "frames": f"1 + {cfg.temporal_compression}k frames -> 1 + k latent frames",
        "scaling_factor": cfg.scaling_factor,
        "shift_factor": cfg.shift_factor,
        "per_channel_stats": cfg.latents_mean is not None,
    }
