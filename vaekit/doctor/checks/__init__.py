"""The health rules: each check reads a phase's series (or the whole log) and returns one
:class:`~vaekit.doctor.report.Finding`.

The same checks serve ``vaekit doctor`` (the whole log) and the trainer's live doctor (a bounded
recent history). A check judges the *current* state on the last ``window`` lines of the phase
and uses the rest of the phase for context (peaks, where a value left its band).

Every check is two halves (docs/DESIGN.md, Doctor): a verdict function in the metric's module
(``rec_loss.judge`` ...) that decides the level and the evidence and writes no prose, and a
wording in ``wording/`` that turns the :class:`Verdict` into the message and the advice.
:class:`Check` joins them; :data:`CHECKS` lists them in the order their findings are reported.
"""

from __future__ import annotations

from . import (
    adversarial,
    bookkeeping,
    discriminator,
    grad_norm,
    kl,
    nonfinite,
    perception,
    phases,
    rec_loss,
    validation,
)
from .base import PHASE_NAMES, Check, Context, KLWeight, PhaseData, Verdict
from .bookkeeping import infer_kl_weight
from .wording import adversarial as adversarial_words
from .wording import bookkeeping as bookkeeping_words
from .wording import discriminator as discriminator_words
from .wording import grad_norm as grad_norm_words
from .wording import kl as kl_words
from .wording import nonfinite as nonfinite_words
from .wording import perception as perception_words
from .wording import phases as phases_words
from .wording import rec_loss as rec_loss_words
from .wording import validation as validation_words

# whole-run checks: (phases, records, ctx), (records, ctx), (records, ctx) and (val records, ctx)
check_phases = Check("phases", phases.judge, phases_words.say)
check_bookkeeping = Check("bookkeeping", bookkeeping.judge, bookkeeping_words.say)
check_nonfinite = Check("nonfinite", nonfinite.judge, nonfinite_words.say)
check_val = Check("val/psnr", validation.judge, validation_words.say)

# per-phase checks: (PhaseData, ctx)
check_rec_loss = Check("rec_loss", rec_loss.judge, rec_loss_words.say)
check_perception = Check("perception_loss", perception.judge, perception_words.say)
check_kl = Check("kl_loss", kl.judge, kl_words.say)
check_grad_norm = Check("grad_norm", grad_norm.judge, grad_norm_words.say)
check_d_weight = Check("d_weight", adversarial.judge_d_weight, adversarial_words.say_d_weight)
check_disc_loss = Check("disc_loss", discriminator.judge_disc_loss, discriminator_words.say_disc_loss)
check_logits = Check("logits", discriminator.judge_logits, discriminator_words.say_logits)
check_total_loss = Check("total_loss", adversarial.judge_total_loss, adversarial_words.say_total_loss)

#: the rules judged on each phase, in the order their findings are reported
PHASE_CHECKS = (
    check_rec_loss,
    check_perception,
    check_kl,
    check_grad_norm,
    check_d_weight,
    check_disc_loss,
    check_logits,
    check_total_loss,
)
#: every rule, in report order: the whole-run ones, then the per-phase ones (run once per phase)
CHECKS = (check_phases, check_bookkeeping, check_nonfinite, check_val, *PHASE_CHECKS)

__all__ = [
    "CHECKS",
    "PHASE_CHECKS",
    "PHASE_NAMES",
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
