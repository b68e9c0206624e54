"""perception_loss: against the ceiling of a mean LPIPS, or by its trend where the log's term is
not known to be one; said plainly when it is off or measured with a random backbone."""

from __future__ import annotations

from typing import Any

from ..stats import median, trend
from .base import Context, PhaseData, Verdict


def _by_trend(
    ph: PhaseData, ctx: Context, steps: list[int], vals: list[float], ev: dict[str, Any], facts
) -> Verdict:
    """Perception of a log not known to hold a mean LPIPS (a raw p_loss sum, a weighted term, a
    VQ trainer's early epochs): judged by its trend and its level against its own best."""
    best = min(vals)
    ev.pop("ceiling", None)
    ev.update({"judged_by": "trend", "best": best, "best_step": steps[vals.index(best)]})
    head = vals[: -min(len(vals), ctx.window)]
    if ev["trend"] == "rising" and head and ev["recent_median"] > ctx.rules.rec_loss_rise_watch * min(head):
        facts["best_earlier"] = min(head)
        return Verdict("perception_loss", "watch", "trend_climbing", ev, ph.name, facts)
    return Verdict("perception_loss", "ok", "trend", ev, ph.name, facts)


def judge(ph: PhaseData, ctx: Context) -> Verdict | None:
    steps, vals = ph.series("perception_loss")
    if not vals:
        return None
    rv = vals[-ctx.window :]
    tr = trend(rv, ctx.rules.trend_flat)
    pw = ctx.recipe.get("perceptual_weight")
    ev = {
        "first": vals[0],
        "first_step": steps[0],
        "last": vals[-1],
        "last_step": steps[-1],
        "recent_median": median(rv),
        "ceiling": ctx.rules.perception_ceiling * (pw if pw else 1.0),
        "trend": tr.label,
    }
    facts = {"trend": tr, "perceptual_weight": pw}
    if pw == 0 and not any(vals):
        ev["perceptual_off"] = True
        return Verdict("perception_loss", "ok", "off", ev, ph.name, facts)
    if ctx.recipe.get("lpips_random_backbone"):
        ev["random_backbone"] = True
        return Verdict("perception_loss", "ok", "random_backbone", ev, ph.name, facts)
    if not ctx.conv.lpips_mean:
        return _by_trend(ph, ctx, steps, vals, ev, facts)
    if ev["recent_median"] > ev["ceiling"]:
        return Verdict("perception_loss", "watch", "above_ceiling", ev, ph.name, facts)
    return Verdict("perception_loss", "ok", "below_ceiling", ev, ph.name, facts)
