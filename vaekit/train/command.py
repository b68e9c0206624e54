"""What ``vaekit train`` does with its options (the click command in :mod:`vaekit.cli` is a shell)."""

from __future__ import annotations

import sys

from .checkpoint import export_model
from .trainer import resolve_recipe, train


def run(config: str | None, overrides: dict, resume: bool, export: tuple[str, str] | None) -> None:
    """Export a run's EMA model, or train. A run stopped by a signal exits with 128 + the signal."""
    if export:
        run_dir, out_dir = export
        print(f"{export_model(run_dir, out_dir)}  (EMA weights of {run_dir})")
        return
    given = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items() if v not in (None, ())}
    summary = train(resolve_recipe(config, given, resume), resume=resume)
    if summary["interrupted"]:
        sys.exit(128 + summary["signal"])
