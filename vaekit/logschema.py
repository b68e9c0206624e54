"""The contract of a training log line, owned by the trainer and read by the doctor.

``vaekit train`` writes ``metrics.jsonl`` (:data:`METRICS_NAME`), one JSON object per line:

- a training line: the bookkeeping keys :data:`TRAIN_BOOKKEEPING_KEYS` (``step``, ``epoch``,
  ``phase``, ``lr``, ``samples_per_s``, ``global_batch_size``), then the loss keys
  :data:`LOSS_KEYS` in the order of the identities in docs/DESIGN.md ("Training"), then the
  parts of ``rec_loss`` the recipe turns on (:data:`REC_PART_KEYS`, absent when their weight is 0);
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
#: Optional parts of ``rec_loss`` (already weighted), logged only when the recipe's weight is > 0:
#: ``rec_loss = pixelloss_weight * mean|x - x_hat| + temporal_loss + pooled_loss``.
REC_PART_KEYS = ("temporal_loss", "pooled_loss")
#: The keys a training line carries before its loss keys, in this order.
TRAIN_BOOKKEEPING_KEYS = ("step", "epoch", "phase", "lr", "samples_per_s", "global_batch_size")
#: The prefix of every validation key.
VAL_PREFIX = "val/"


def train_record(
    step: int,
    epoch: int,
    phase: str,
    lr: float,
    samples_per_s: float,
    global_batch: int,
    values: Iterable,
    part_keys: tuple[str, ...] = (),
) -> dict:
    """A training line: the bookkeeping keys, the loss keys in docs/DESIGN.md order, then ``part_keys``.

    ``values`` holds the loss values followed by one value per name in ``part_keys``
    (a subset of :data:`REC_PART_KEYS`, in that order).
    """
    record = dict(
        zip(TRAIN_BOOKKEEPING_KEYS, (step, epoch, phase, lr, samples_per_s, global_batch), strict=True)
    )
    record.update(zip(LOSS_KEYS + tuple(part_keys), (float(v) for v in values), strict=True))
    return record
