"""Training checkpoints: everything an exact resume needs, written atomically, read without pickle.

A checkpoint is ``RUN_DIR/checkpoints/step_NNNNNNNN.pt``: a ``torch.save`` of plain containers
and tensors (model, discriminator, both optimizers, the gradient scaler, the EMA, the step, each
rank's RNG states, the data position, the model config and the recipe). It is written to a
temporary file and renamed, so a crash or a signal mid-write never leaves a half checkpoint, and
it is read with ``torch.load(weights_only=True)``, which refuses arbitrary pickled objects. Only
the newest ``keep_last`` checkpoints stay on disk.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from ..errors import InputError
from ..io.atomic import atomic_output, make_folder

FORMAT = "vaekit-train-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's checkpoints, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(run_dir: str | Path, state: dict, keep_last: int) -> Path:
    """Write ``state`` (which must hold ``step``) atomically; delete all but the newest ``keep_last``."""
    folder = checkpoint_dir(run_dir)
    make_folder(folder)
    path = folder / f"step_{state['step']:08d}.pt"
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        torch.save({"format": FORMAT, "version": VERSION, **state}, f)
        f.flush()
        os.fsync(f.fileno())
    for old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint (tensors and plain containers only). InputError if it is not one."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"checkpoint {path} does not exist") from None
    except Exception as e:  # truncated file, foreign pickle, ...: one line, never a traceback
        raise InputError(f"cannot read checkpoint {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{path} is not a vaekit training checkpoint")
    if state.get("version") != VERSION:
        raise InputError(f"{path} has checkpoint version {state.get('version')}; this vaekit reads {VERSION}")
    return state


def export_model(source: str | Path, out_dir: str | Path, name: str | None = None) -> Path:
    """Write the EMA weights of a run's latest checkpoint (or of a checkpoint file) as a model folder.

    The folder (``config.json`` + ``model.safetensors``) opens with ``vaekit.load``; it is named
    after the run (or ``name``) and its latent statistics are marked as not computed
    (:mod:`vaekit.train.model_export`).
    """
    from .model_export import export_run_model

    return export_run_model(source, out_dir, name)
