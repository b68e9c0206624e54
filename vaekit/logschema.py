"""The contract of a training log line, owned by the trainer and read by the doctor.

``vaekit train`` writes ``metrics.jsonl`` (:data:`METRICS_NAME`), one JSON object per line:

- a training line: the bookkeeping keys :data:`TRAIN_BOOKKEEPING_KEYS` (``step``, ``epoch``,
  ``phase``, ``lr``, ``samples_per_s``, ``global_batch_size``), then the loss keys
  :data:`LOSS_KEYS` in the order of the identities in docs/DESIGN.md ("Training");
- a validation line: ``step``, ``epoch`` and keys with the :data:`VAL_PREFIX` (``val/psnr``, ...).

This module is plain Python (no torch), so the doctor imports it without pulling the trainer in;
``vaekit.train.losses`` computes the values, ``vaekit.train.runlog`` writes the lines.
"""

from __future__ import annotations

from collections.abc import Iterable

METRICS_NAME = "metrics.jsonl"

#: The loss keys of docs/DESIGN.md ("Training"), logged by ``vaekit train`` on every training line.
LOSS_KEYS = (
    "rec_loss",
    "perception_loss",
    "kl_loss",
    "nll_loss",
    "vae_loss",
    "d_weight",
    "disc_factor",
    "g_loss",
    "total_loss",
    "disc_loss",
    "logits_real",
    "logits_fake",
    "grad_norm",
)
#: The keys a training line carries before its loss keys, in this order.
TRAIN_BOOKKEEPING_KEYS = ("step", "epoch", "phase", "lr", "samples_per_s", "global_batch_size")
#: The prefix of every validation key.
VAL_PREFIX = "val/"


def train_record(
    step: int, epoch: int, phase: str, lr: float, samples_per_s: float, global_batch: int, values: Iterable
) -> dict:
    """A training line: the bookkeeping keys, then the loss keys in docs/DESIGN.md order."""
    record = dict(
        zip(TRAIN_BOOKKEEPING_KEYS, (step, epoch, phase, lr, samples_per_s, global_batch), strict=True)
    )
    record.update(zip(LOSS_KEYS, (float(v) for v in values), strict=True))
    return record
