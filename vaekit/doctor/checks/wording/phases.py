"""Words for the phase verdict (see ``checks/phases.py``)."""

from __future__ import annotations

from ..base import Context, Verdict
from .common import fill

#: per case: (message, advice), filled with the evidence
TEXT = {
    "never_began": (
        "The recipe starts the discriminator at step {recipe_disc_start}, but disc_factor is still 0 at step "
        "{last_step}: phase 2 never began.",
        "Check that disc_start is read from the recipe and that disc_factor switches on.",
    ),
    "phase1_only": (
        "Phase 1 only so far; the recipe starts the discriminator at step {recipe_disc_start}, {to_go} steps after "
        "the last logged line.",
        "At step {recipe_disc_start} the discriminator starts: expect rec_loss and grad_norm to jump for a few "
        "hundred steps, then settle.",
    ),
    "elsewhere": (
        "The discriminator switched on at step {disc_start}, but the recipe says disc_start = {recipe_disc_start}.",
        "Check how the trainer counts steps for disc_start (global vs per-epoch, resumed runs).",
    ),
}


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev = v.evidence
    to_go = ev["recipe_disc_start"] - ev["last_step"] if "last_step" in ev else None
    return fill(TEXT, v.case, to_go=to_go, **ev)
