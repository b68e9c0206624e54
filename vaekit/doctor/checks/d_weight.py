"""The adaptive weight of the adversarial term in phase 2: at its clamp, very large, always 0, or
in range, with how loud the term is against nll_loss."""

from __future__ import annotations

import math
from typing import Any

from ..stats import median
from .base import Context, PhaseData, Verdict, finite_vals


def _loudness(ph: PhaseData, ctx: Context, ev: dict[str, Any], facts: dict[str, Any]) -> None:
    """|d_weight x disc_factor x g_loss| against nll_loss over the recent window."""
    ratios = []
    for r in ph.records[-ctx.window :]:
        vv = finite_vals(r, "d_weight", "g_loss", "nll_loss")
        if vv and vv[2] > 0:
            df = r.values.get("disc_factor", 1.0)
            ratios.append(abs(vv[0] * (df if math.isfinite(df) else 1.0) * vv[1]) / vv[2])
    if ratios:
        lr = median(ratios)
        ev["adversarial_over_nll"] = lr
        facts["loudness"] = "louder" if lr > 1.2 else "quieter" if lr < 0.8 else "as_loud"


def judge(ph: PhaseData, ctx: Context) -> Verdict | None:
    rules = ctx.rules
    if ph.name != "adversarial":
        return None
    steps, vals = ph.series("d_weight")
    if not vals:
        return None
    cur = median(vals[-ctx.window :])
    peak = max(vals)
    ev: dict[str, Any] = {
        "first": vals[0],
        "first_step": steps[0],
        "last": vals[-1],
        "peak": peak,
        "peak_step": steps[vals.index(peak)],
        "recent_median": cur,
    }
    facts: dict[str, Any] = {"last_step": steps[-1]}
    _loudness(ph, ctx, ev, facts)
    clamp = ctx.conv.d_weight_clamp or rules.d_weight_clamp
    if ctx.conv.d_weight_at_clamp_is_normal and cur >= rules.d_weight_watch:
        ev["clamp"] = clamp
        return Verdict("d_weight", "ok", "clamp_normal", ev, ph.name, facts)
    if cur >= 0.999 * clamp * (ctx.recipe.get("disc_weight") or 1.0):
        return Verdict("d_weight", "act", "at_clamp", ev, ph.name, facts)
    if cur >= rules.d_weight_watch:
        return Verdict("d_weight", "watch", "very_large", ev, ph.name, facts)
    if peak <= 0:
        return Verdict("d_weight", "watch", "always_zero", ev, ph.name, facts)
    return Verdict("d_weight", "ok", "in_range", ev, ph.name, facts)
