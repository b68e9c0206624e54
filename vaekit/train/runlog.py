"""Where a run's numbers go: ``metrics.jsonl``, one console line, TensorBoard scalars.

Only rank 0 writes. ``metrics.jsonl`` holds one JSON object per line: training lines (``step``,
``epoch``, ``phase``, ``lr``, ``samples_per_s``, ``global_batch_size`` and the loss keys) and
validation lines (``step``, ``epoch`` and ``val/...`` keys); the schema is :mod:`vaekit.logschema`. Numbers are written at full double
precision, so the identities of docs/DESIGN.md can be checked on the file itself. On resume, lines
at or after the resumed step are dropped first, so a resumed run's file equals an uninterrupted
one's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..io.atomic import atomic_output
from ..logschema import METRICS_NAME, VAL_PREFIX


def truncate_metrics(path: Path, step: int) -> None:
    """Keep only the lines of ``path`` whose step is below ``step`` (atomic rewrite)."""
    if not path.is_file():
        return
    kept = [
        line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] < step
    ]
    with atomic_output(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in kept))


class RunLog:
    """Appends metrics lines, prints a short console line, mirrors scalars into ``RUN_DIR/tb``."""

    def __init__(self, run_dir: Path, start_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / METRICS_NAME
        truncate_metrics(self.path, start_step)
        self._file = self.path.open("a")
        self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step)

    def write(self, record: dict) -> None:
        """Append one line and mirror its numbers to TensorBoard."""
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        for key, value in record.items():
            if key not in ("step", "epoch") and isinstance(value, (int, float)):
                self.tb.add_scalar(key if key.startswith(VAL_PREFIX) else f"train/{key}", value, record["step"])

    def console(self, record: dict, max_steps: int) -> None:
        r = record
        if "rec_loss" in r:
            text = (
                f"step {r['step']}/{max_steps} {r['phase']:<11} rec {r['rec_loss']:.4g} perc {r['perception_loss']:.4g} "
                f"kl {r['kl_loss']:.4g} total {r['total_loss']:.4g} | d_w {r['d_weight']:.3g} g {r['g_loss']:.3g} "
                f"disc {r['disc_loss']:.3g} | gnorm {r['grad_norm']:.3g} lr {r['lr']:.3g} | {r['samples_per_s']:.3g} clips/s"
            )
        else:
            text = f"step {r['step']}/{max_steps} validation " + " ".join(
                f"{k[4:]} {v:.4f}" for k, v in r.items() if k.startswith(VAL_PREFIX)
            )
        print(text, file=sys.stdout, flush=True)

    def close(self) -> None:
        self._file.close()
        self.tb.close()

