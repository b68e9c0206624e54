"""A training run's EMA weights as a model folder with its own identity.

A run starts from a preset's ``config.json`` (architecture and all), but the weights it ends with
are new: the folder it exports is named after the run (or as the user says), never after the
preset, and its latent statistics are marked as not computed (``latent_stats_computed: false``,
no ``latents_mean``/``latents_std``, identity ``shift_factor``/``scaling_factor``) until
``vaekit stats VIDEOS --model DIR`` measures them. Nothing of the preset's ``name`` or statistics
is inherited, so a latent made by the trained model can never be taken for the preset's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import InputError
from ..model import VAEConfig, list_presets


def run_model_name(run_dir: str | Path, name: str | None = None) -> str:
    """``name`` if given, else the run folder's name (``runs/motion`` -> ``motion``); a name that
    is also a preset's gets ``-run`` appended, so it cannot pass for the preset."""
    if name is not None:
        if not name.strip() or "/" in name:
            raise InputError(f"--name {name!r}: give a plain model name such as my-tiny")
        return name
    base = Path(run_dir).resolve().name or "run"
    return f"{base}-run" if base in list_presets() else base


def trained_config(config: VAEConfig, name: str) -> VAEConfig:
    """``config`` of a run's model: renamed, latent statistics cleared and marked not computed."""
    return dataclasses.replace(
        config,
        name=name,
        latents_mean=None,
        latents_std=None,
        shift_factor=0.0,
        scaling_factor=1.0,
        latent_stats_computed=False,
    )


def export_run_model(source: str | Path, out_dir: str | Path, name: str | None = None) -> Path:
    """The EMA weights of a run's newest checkpoint (or of a checkpoint file) as a model folder."""
    from ..model import CausalVideoVAE, save_model
    from .checkpoint import checkpoint_dir, latest_checkpoint, load_checkpoint

    source = Path(source)
    path = source if source.is_file() else latest_checkpoint(source)
    if path is None:
        raise InputError(f"{source} has no checkpoints (looked in {checkpoint_dir(source)})")
    run_dir = source.parent.parent if source.is_file() else source
    state = load_checkpoint(path)
    config = trained_config(VAEConfig.from_dict(state["model_config"]), run_model_name(run_dir, name))
    model = CausalVideoVAE(config)
    model.load_state_dict(state["ema"]["weights"])
    return save_model(model, out_dir)


def rename_run_model(model_dir: str | Path, run_dir: str | Path, name: str | None = None) -> Path:
    """Give the model folder a finished run wrote (``RUN_DIR/model``) its own identity (see above)."""
    from ..io.atomic import atomic_write_bytes
    from ..model.folder import CONFIG_NAME

    path = Path(model_dir) / CONFIG_NAME
    config = trained_config(VAEConfig.from_json(path), run_model_name(run_dir, name))
    atomic_write_bytes(path, config.to_json().encode())
    return Path(model_dir)
