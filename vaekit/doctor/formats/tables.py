"""CSV logs: PyTorch Lightning's ``metrics.csv`` (CSVLogger) and wandb exports.

Each row becomes one ``{column: value}`` mapping; empty cells are skipped (Lightning writes the
step rows and the epoch rows of a run into one table with the other columns empty). A wandb
chart export names its columns ``"<run> - <key>"`` and adds ``<key>__MIN`` / ``<key>__MAX``
envelope columns: the run name is dropped and the envelopes are set aside (counted in a note).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ..errors import DoctorError
from . import PrintedFloat


def read_csv_rows(path: Path) -> tuple[list[tuple[dict[str, Any], int]], list[str]]:
    """The rows of a CSV log as ``(mapping, line number)`` pairs, and notes on what was set aside."""
    rows: list[tuple[dict[str, Any], int]] = []
    envelopes: set[str] = set()
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise DoctorError(f"{path} is an empty CSV file (no header row)")
        for i, row in enumerate(reader, 2):
            out: dict[str, Any] = {}
            for col, cell in row.items():
                if col is None or cell is None or cell.strip() == "":
                    continue
                if col.endswith(("__MIN", "__MAX")):
                    envelopes.add(col)
                    continue
                text = cell.strip()
                try:
                    out[col] = PrintedFloat(text)
                except ValueError:
                    out[col] = text
            if out:
                rows.append((out, i))
    notes = []
    if envelopes:
        notes.append(f"{len(envelopes)} wandb min/max envelope columns (__MIN/__MAX) were set aside")
    return rows, notes


