"""What ``vaekit train`` does with its options (the click command in :mod:`vaekit.cli` is a shell)."""

from __future__ import annotations

import sys

from ..errors import EXIT_SIGNAL_BASE
from .checkpoint import export_model
from .model_export import rename_run_model, run_model_name
from .trainer import resolve_recipe, train


def run(config: str | None, overrides: dict, resume: bool, name: str | None = None) -> None:
    """Train. A run stopped by a signal exits with 128 + the signal.

    The model folder the run writes is named after the run (or ``name``), with its latent
    statistics marked as not computed (run ``vaekit stats`` on it)."""
    given = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items() if v not in (None, ())}
    recipe = resolve_recipe(config, given, resume)
    run_model_name(recipe.out, name)  # a bad --name fails before the run, not after it
    summary = train(recipe, resume=resume)
    if summary["interrupted"]:
        sys.exit(EXIT_SIGNAL_BASE + summary["signal"])
    if summary.get("model"):
        folder = rename_run_model(summary["model"], recipe.out, name)
        print(f"{folder}: {_stats_hint(folder, recipe.out, name)}", flush=True)


def write_run_model(run_dir: str, out_dir: str, name: str | None = None) -> None:
    """``vaekit model-from-run``: a run's (or a checkpoint's) EMA weights as a model folder."""
    folder = export_model(run_dir, out_dir, name)
    print(f"{folder}  (EMA weights of {run_dir}; {_stats_hint(folder, run_dir, name)})")


def _stats_hint(folder, run_dir, name) -> str:
    return (
        f"model name {run_model_name(run_dir, name)!r}; latent statistics not computed: "
        f"`vaekit stats VIDEOS --model {folder}`"
    )
