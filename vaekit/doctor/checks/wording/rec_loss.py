"""Words for the rec_loss verdict (see ``checks/rec_loss.py``)."""

from __future__ import annotations

from ...stats import num
from ..base import Context, Verdict
from .common import fill, from_to

#: how a healthy phase-1 rec_loss ends its sentence, by the trend of the recent window
PHASE1_TAIL = {
    "falling": " Still improving.",
    "rising": " Drifting up a little, not enough to worry about; watch if it keeps climbing.",
}
PHASE1_STEADY = " Steady; the moves between lines are clip-to-clip noise."
#: per phase-2 case after a spike: (message, advice), filled by :func:`_recovery`
RECOVERY = {
    "recovered": (
        "{spike} That is the expected reaction to the new adversarial term, and it recovered: back under {level} at "
        "step {back}, {recovery_steps} steps after disc_start ({after_peak} after the peak). Now {cur} ({trend}).",
        "",
    ),
    "adapting_no_deadline": (
        "{spike} {since} {unit}s into phase 2 it is at {cur} ({trend}), above {level}. The log does not say how "
        "many optimizer steps a {unit} is, so the recovery deadline of {steps_allowed} steps cannot be "
        "placed.{relapse}",
        "Let it run; rec_loss should be back under {thr} within about {steps_allowed} optimizer steps of disc_start.",
    ),
    "adapting": (
        "{spike} That is expected: the decoder is adapting to the discriminator. {since} {unit}s into phase 2 it is "
        "at {cur} ({trend}); it should get back under {level} within about {deadline} {unit}s of "
        "disc_start.{relapse}",
        "Let it run; check that rec_loss is under {thr} by {unit} {due}.",
    ),
    "not_recovered": (
        "{spike} {since} steps later it has still not recovered: {cur} now ({ratio}x the phase-1 level, {trend}), "
        "above {thr}.{relapse} The adversarial term is winning over reconstruction.",
        "Lower disc_weight (or the discriminator's lr), or restart phase 2 from the checkpoint at disc_start with "
        "a later or softer discriminator start.",
    ),
}


def _recovery(v: Verdict, ctx: Context) -> tuple[str, str]:
    """The phase-2 cases after a spike."""
    ev, f, rules = v.evidence, v.facts, ctx.rules
    ds, base, thr = f["disc_start"], ev["phase1_level"], num(ev["recovered_below"])
    spike = (
        f"rec_loss jumped from {num(base)} (end of phase 1) to {num(ev['peak'])} at step {ev['peak_step']}, "
        f"{num(ev['peak'] / base)}x, {ev['peak_step'] - ds} steps after the discriminator started at step {ds}."
    )
    back = ev.get("recovered_step")
    deadline = f.get("deadline")
    return fill(
        RECOVERY,
        v.case,
        spike=spike,
        cur=num(ev["recent_median"]),
        trend=f["trend"].words(),
        thr=thr,
        level=f"{thr} ({num(rules.rec_loss_recovered)}x the phase-1 level)",
        since=ev["steps_since_disc_start"],
        unit=ctx.unit,
        back=back,
        recovery_steps=ev.get("recovery_steps"),
        after_peak=back - ev["peak_step"] if back is not None else None,
        relapse=f" It was back under {thr} at step {back} but has climbed again." if back is not None else "",
        steps_allowed=num(rules.rec_loss_deadline_steps),
        deadline=num(deadline),
        due=int(ds + deadline) if deadline is not None else None,
        ratio=num(ev["recent_median"] / base),
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
