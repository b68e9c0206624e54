"""The health rules: each check reads a phase's series (or the whole log) and returns one
:class:`~vaekit.doctor.report.Finding`.

The same checks serve ``vaekit doctor`` (the whole log) and the trainer's live doctor (a bounded
recent history). A check judges the *current* state on the last ``window`` lines of the phase
and uses the rest of the phase for context (peaks, where a value left its band).

Every check is two halves (docs/DESIGN.md, Doctor): the ``judge`` function of the metric's
module (``rec_loss.judge`` ...) decides the level and the evidence and writes no prose; ``say``
of the module of the same name in ``wording/`` turns that :class:`Verdict` into the message and
the advice. :class:`Check` joins them; :data:`CHECKS` lists them in report order.
"""

from __future__ import annotations

from . import (
    bookkeeping,
    d_weight,
    disc_loss,
    grad_norm,
    kl,
    logits,
    nonfinite,
    perception,
    phases,
    rec_loss,
    total_loss,
    validation,
)
from .base import Check, Context, KLWeight, PhaseData, Verdict
from .bookkeeping import infer_kl_weight
from .wording.common import PHASE_NAMES

#: judged once on the whole log, (phase boundaries as a dict, records, ctx): only ``vaekit doctor``
#: sees a whole run, so the live doctor does not run these
LOG_CHECKS = (Check.of(phases),)
#: judged on any run of training lines, (records, ctx): the whole log offline, each new line live
LINE_CHECKS = tuple(Check.of(m) for m in (bookkeeping, nonfinite))
#: judged on the validation lines, (validation records, ctx)
VAL_CHECKS = (Check.of(validation),)
#: the rules judged on the whole log, in report order
RUN_CHECKS = LOG_CHECKS + LINE_CHECKS + VAL_CHECKS
#: the rules judged on each phase, (PhaseData, ctx), in the order their findings are reported
PHASE_CHECKS = tuple(
    Check.of(m) for m in (rec_loss, perception, kl, grad_norm, d_weight, disc_loss, logits, total_loss)
)
#: every rule, in report order (the per-phase ones run once per phase)
CHECKS = RUN_CHECKS + PHASE_CHECKS

check_phases, check_bookkeeping, check_nonfinite, check_val = RUN_CHECKS
(
    check_rec_loss,
    check_perception,
    check_kl,
    check_grad_norm,
    check_d_weight,
    check_disc_loss,
    check_logits,
    check_total_loss,
) = PHASE_CHECKS

__all__ = [
    "CHECKS",
    "LINE_CHECKS",
    "LOG_CHECKS",
    "PHASE_CHECKS",
    "PHASE_NAMES",
    "RUN_CHECKS",
    "VAL_CHECKS",
    "Check",
    "Context",
    "KLWeight",
    "PhaseData",
    "Verdict",
    "check_bookkeeping",
    "check_d_weight",
    "check_disc_loss",
    "check_grad_norm",
    "check_kl",
    "check_logits",
    "check_nonfinite",
    "check_perception",
    "check_phases",
    "check_rec_loss",
    "check_total_loss",
    "check_val",
    "infer_kl_weight",
]
