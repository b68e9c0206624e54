"""Words for the rec_loss verdict (see ``checks/rec_loss.py``)."""

from __future__ import annotations

from ...stats import num
from ..base import Context, Verdict
from .common import from_to

#: how a healthy phase-1 rec_loss ends its sentence, by the trend of the recent window
PHASE1_TAIL = {
    "falling": " Still improving.",
    "rising": " Drifting up a little, not enough to worry about; watch if it keeps climbing.",
}
PHASE1_STEADY = " Steady; the moves between lines are clip-to-clip noise."


def _spike(v: Verdict) -> str:
    ev, ds = v.evidence, v.facts["disc_start"]
    return (
        f"rec_loss jumped from {num(ev['phase1_level'])} (end of phase 1) to {num(ev['peak'])} at step "
        f"{ev['peak_step']}, {num(ev['peak'] / ev['phase1_level'])}x, {ev['peak_step'] - ds} steps after the "
        f"discriminator started at step {ds}."
    )


def _recovery(v: Verdict, ctx: Context) -> tuple[str, str]:
    """The phase-2 cases after a spike."""
    ev, rules, tr, unit = v.evidence, ctx.rules, v.facts["trend"], ctx.unit
    cur, thr, since = ev["recent_median"], ev["recovered_below"], ev["steps_since_disc_start"]
    ratio = num(rules.rec_loss_recovered)
    if v.case == "recovered":
        back = ev["recovered_step"]
        return (
            _spike(v)
            + f" That is the expected reaction to the new adversarial term, and it recovered: back under "
            f"{num(thr)} ({ratio}x the phase-1 level) at step {back}, {ev['recovery_steps']} steps after disc_start "
            f"({back - ev['peak_step']} after the peak). Now {num(cur)} ({tr.words()}).",
            "",
        )
    relapse = ""
    if "recovered_step" in ev:
        relapse = f" It was back under {num(thr)} at step {ev['recovered_step']} but has climbed again."
    level = f"{num(thr)} ({ratio}x the phase-1 level)"
    steps_allowed = num(rules.rec_loss_deadline_steps)
    if v.case == "adapting_no_deadline":
        return (
            _spike(v)
            + f" {since} {unit}s into phase 2 it is at {num(cur)} ({tr.words()}), above {level}. The log "
            f"does not say how many optimizer steps a {unit} is, so the recovery deadline of {steps_allowed} steps "
            "cannot be placed." + relapse,
            f"Let it run; rec_loss should be back under {num(thr)} within about {steps_allowed} optimizer steps of "
            "disc_start.",
        )
    if v.case == "adapting":
        deadline = v.facts["deadline"]
        return (
            _spike(v) + " That is expected: the decoder is adapting to the discriminator. "
            f"{since} {unit}s into phase 2 it is at {num(cur)} ({tr.words()}); it should get back under {level} "
            f"within about {num(deadline)} {unit}s of disc_start." + relapse,
            f"Let it run; check that rec_loss is under {num(thr)} by {unit} {int(v.facts['disc_start'] + deadline)}.",
        )
    return (
        _spike(v) + f" {since} steps later it has still not recovered: {num(cur)} now "
        f"({num(cur / ev['phase1_level'])}x the phase-1 level, {tr.words()}), above {num(thr)}."
        + relapse
        + " The adversarial term is winning over reconstruction.",
        "Lower disc_weight (or the discriminator's lr), or restart phase 2 from the checkpoint at disc_start with "
        "a later or softer discriminator start.",
    )


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev, tr = v.evidence, v.facts["trend"]
    cur = ev["recent_median"]
    course = (
        f"{from_to(ev['first'], ev['first_step'], ev['last'], ev['last_step'])} (recent median {num(cur)}, "
    )
    if v.case == "climbing":
        best = ev["best_earlier"]
        return (
            course
            + f"{tr.words()}). It has climbed to {num(cur / best)}x its best level of {num(best)} in this "
            "phase.",
            "Check the lr schedule and the data (a new, harder shard?) if it keeps rising.",
        )
    if v.case == "phase1":
        return course + f"{tr.words()})." + PHASE1_TAIL.get(ev["trend"], PHASE1_STEADY), ""
    if v.case == "no_phase1":
        msg = (
            course
            + f"{tr.words()}). The log has no phase-1 lines, so the spike at disc_start cannot be measured."
        )
        return msg, "Watch whether it keeps rising." if v.level == "watch" else ""
    if v.case == "no_spike":
        return (
            f"No real spike when the discriminator started: at most {num(ev['peak'])} (step {ev['peak_step']}) "
            f"against {num(ev['phase1_level'])} before; now {num(cur)} ({tr.words()}).",
            "",
        )
    return _recovery(v, ctx)
