"""``vaekit info``: what a latent file or a model folder holds, as a flat dict."""

from __future__ import annotations

from pathlib import Path

from .io.latent_file import SUFFIX, LatentReader


def describe(target: str, typed: bool = False) -> dict:
    """What ``target`` holds. ``typed`` (``info --json``): shapes and sizes as lists, fps as the
    rational string ``encode --json`` prints (``"30000/1001"``) plus ``fps_value``, a number;
    otherwise text for people (``16x9x32x32``, ``30000/1001 (29.970)``)."""
    path = Path(target)
    if path.is_file() and (path.name.endswith(SUFFIX) or path.suffix == ".safetensors"):
        return describe_latent(path, typed)
    return describe_model(target, typed)


def describe_latent(path: Path, typed: bool = False) -> dict:
    reader = LatentReader(path, tensors=False)  # header + data check, no torch
    i = reader.info
    size = lambda w, h: [w, h] if typed else f"{w}x{h}"  # noqa: E731
    fps = f"{i.fps.numerator}/{i.fps.denominator}"
    return {
        "kind": "latent file",
        "path": str(path),
        "model": i.model_name,
        "model_sha256": i.model_sha256,
        "model_dir": i.model_dir or ("" if typed else "(not recorded)"),
        "latent_shape": list(i.latent_shape) if typed else "x".join(map(str, i.latent_shape)),
        "dtype": i.dtype,
        "has_logvar": i.has_logvar,
        "source": i.source,
        "source_size": size(i.source_width, i.source_height),
        "padded_size": size(i.padded_width, i.padded_height),
        "frame_count": i.frame_count,
        "fps": fps if typed else f"{fps} ({float(i.fps):.3f})",
        **({"fps_value": float(i.fps)} if typed else {}),
        "scaling_factor": i.scaling_factor,
        "shift_factor": i.shift_factor,
        "per_channel_stats": i.latents_mean is not None,
        "data_blake2b": f"{reader.checksum} (verified)" if reader.checksum else "none (older file, not verified)",
        "vaekit_version": i.vaekit_version,
    }


def describe_model(name_or_path: str, typed: bool = False) -> dict:
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
        "latent_stats": "computed"
        if cfg.latent_stats_computed
        else f"not computed (a trained model): vaekit stats VIDEOS --model {model.source_dir}",
    }
