"""TensorBoard event files, read with the ``tensorboard`` package's event reader.

A path is an ``events.out.tfevents.*`` file or a folder holding them (searched recursively, as
TensorBoard does). Every scalar tag becomes a key; scalars of one global step form one record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DoctorError


def is_event_file(path: Path) -> bool:
    return path.is_file() and "tfevents" in path.name


def event_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*tfevents*") if p.is_file())


def read_event_rows(path: Path) -> list[tuple[dict[str, Any], int]]:
    """``(mapping, step)`` pairs: one mapping per global step, tag -> value, plus ``step``."""
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError as exc:  # pragma: no cover - tensorboard is a dependency
        raise DoctorError("reading TensorBoard event files needs the tensorboard package") from exc
    files = [path] if path.is_file() else event_files(path)
    if not files:
        raise DoctorError(f"no TensorBoard event files (events.out.tfevents.*) under {path}")
    by_step: dict[int, dict[str, Any]] = {}
    for f in files:
        acc = event_accumulator.EventAccumulator(str(f), size_guidance={event_accumulator.SCALARS: 0})
        try:
            acc.Reload()
        except Exception as exc:  # the reader raises its own error types for damaged files
            raise DoctorError(f"cannot read the TensorBoard event file {f}: {exc}") from exc
        for tag in acc.Tags().get("scalars", []):
            for ev in acc.Scalars(tag):
                row = by_step.setdefault(int(ev.step), {"step": int(ev.step)})
                row[tag] = float(ev.value)
    return [(by_step[s], s) for s in sorted(by_step)]
