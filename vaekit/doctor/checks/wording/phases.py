"""Words for the phase verdict (see ``checks/phases.py``)."""

from __future__ import annotations

from ..base import Context, Verdict


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev = v.evidence
    ds = ev["recipe_disc_start"]
    if v.case == "never_began":
        return (
            f"The recipe starts the discriminator at step {ds}, but disc_factor is still 0 at step "
            f"{ev['last_step']}: phase 2 never began.",
            "Check that disc_start is read from the recipe and that disc_factor switches on.",
        )
    if v.case == "phase1_only":
        return (
            f"Phase 1 only so far; the recipe starts the discriminator at step {ds}, {ds - ev['last_step']} "
            "steps after the last logged line.",
            f"At step {ds} the discriminator starts: expect rec_loss and grad_norm to jump for a few hundred "
            "steps, then settle.",
        )
    return (
        f"The discriminator switched on at step {ev['disc_start']}, but the recipe says disc_start = {ds}.",
        "Check how the trainer counts steps for disc_start (global vs per-epoch, resumed runs).",
    )
