"""Words for the grad_norm verdict (see ``checks/grad_norm.py``)."""

from __future__ import annotations

from typing import Any

from ...stats import num, pct
from ..base import Context, Verdict
from .common import value_range


def _head(v: Verdict, ctx: Context) -> str:
    ev, rules, tr = v.evidence, ctx.rules, v.facts["trend"]
    med, hi, n = num(ev["recent_median"]), num(ev["recent_max"]), ev["lines"]
    span = value_range(ev["recent_min"], ev["recent_max"])
    watch, act = num(rules.grad_norm_watch), num(rules.grad_norm_act)
    if v.case == "above_act":
        return (
            f"Reached {hi} (step {v.facts['max_step']}), above {act}: updates this large destabilize training. "
            f"Recent median {med}, {tr.words()}."
        )
    if v.case == "above_safe":
        return (
            f"Above the safe level of {watch}: {span} over the last {n} lines (median {med}, {tr.words()}); above "
            f"{act} it is time to act."
        )
    msg = f"{span} over the last {n} lines (median {med}, {tr.words()}); safe below {watch}, act above {act}."
    peak = f"{num(ev['phase_max'])} (step {ev['phase_max_step']})"
    if v.case == "settled":
        msg += f" Earlier in this phase it reached {peak} and has settled since."
    elif v.case == "came_down":
        msg += f" Earlier in this phase it peaked at {peak} and has come down."
    return msg


def _recipe(ev: dict[str, Any], facts: dict[str, Any]) -> str:
    said = []
    if facts["as_in_phase1"]:
        same = [f"pixelloss_weight = {num(ev['pixelloss_weight'])}"] if "pixelloss_weight" in ev else []
        same += ["batch_size = 1"] if "batch_size" in ev else []
        if same:
            said.append(f" What phase 1 says about {' and '.join(same)} holds here too.")
    else:
        if "pixelloss_weight" in ev:
            w = num(ev["pixelloss_weight"])
            said.append(
                f" pixelloss_weight = {w} multiplies the pixel term's gradient by {w}, so a norm of several units "
                "is expected where about 0.5-1.5 is usual at weight 1 (the perceptual and KL terms are not "
                f"scaled, so the total grows by less than {w}x)."
            )
        if "batch_size" in ev:
            said.append(
                " batch_size = 1: every step sees one clip, so the gradient is a noisy estimate and its norm jumps."
            )
    if "clip_grad" in ev:
        clip = num(ev["clip_grad"])
        said.append(f" The logged norm is taken before clipping: with clip_grad = {clip}, ")
        if facts["clipped"] == "all":
            said.append(
                f"every one of these steps was scaled down to length {clip}, so the optimizer takes fixed-length "
                "steps; the logged number shows how hard the losses pull, not how far the weights moved (raising "
                "a loss weight further only turns the direction)."
            )
        elif facts["clipped"] == "some":
            said.append(
                f"{pct(ev['clipped_fraction'])} of these steps were scaled down to length {clip}, which hides their "
                "true size."
            )
        else:
            said.append("no recent step was large enough to be clipped.")
    return "".join(said)


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev = v.evidence
    msg = _head(v, ctx)
    if "phase1_median" in ev:
        msg += (
            f" It went up from a median of {num(ev['phase1_median'])} in phase 1: the reconstruction and "
            "adversarial terms pull the decoder in different directions, so the gradients are larger and noisier."
        )
    msg += _recipe(ev, v.facts)
    advice = ""
    if v.level == "act":
        advice = (
            ("Lower disc_weight or the lr" if v.phase == "adversarial" else "Lower the lr")
            + ", make sure clip_grad is applied to the generator, and resume from a checkpoint before "
            f"step {v.facts['max_step']} if the losses jumped too."
        )
    elif v.level == "watch":
        advice = f"Keep an eye on it; act if it goes above {num(ctx.rules.grad_norm_act)}."
    return msg, advice
