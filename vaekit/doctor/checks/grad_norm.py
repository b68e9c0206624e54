"""grad_norm against its bands, with what the recipe (pixelloss_weight, batch_size, clip_grad) and
phase 1 say about its size."""

from __future__ import annotations

from typing import Any

from ..stats import median, trend
from .base import Context, PhaseData, Verdict


def _level(ev: dict[str, Any], facts: dict[str, Any], ctx: Context) -> tuple[str, str]:
    """(level, case) from the recent window and the phase's peak."""
    rules = ctx.rules
    med, hi, peak = ev["recent_median"], ev["recent_max"], ev["phase_max"]
    if hi > rules.grad_norm_act:
        return "act", "above_act"
    if med > rules.grad_norm_watch or hi > rules.grad_norm_watch:
        return "watch", "above_safe"
    if peak > rules.grad_norm_act and ctx.judge_history:
        return "watch", "settled"
    if peak > 1.5 * med and ev["phase_max_step"] < facts["window_start"]:
        return "ok", "came_down"
    return "ok", "in_band"


def _recipe_notes(
    ph: PhaseData, ctx: Context, ev: dict[str, Any], facts: dict[str, Any], rv: list[float]
) -> None:
    """What the recipe explains about the norm's size (evidence and facts, in the order said)."""
    base = ctx.baseline.get("grad_norm")
    if ph.name == "adversarial" and base and ev["recent_median"] > 1.5 * base:
        ev["phase1_median"] = base
    w = ctx.recipe.get("pixelloss_weight")
    bs = ctx.recipe.get("batch_size")
    clip = ctx.recipe.get("clip_grad")
    # in phase 2, what phase 1 said about the recipe is only referred to
    facts["as_in_phase1"] = bool(ph.name == "adversarial" and base)
    if w is not None and w > 1:
        ev["pixelloss_weight"] = w
    if bs is not None and int(bs) == 1:
        ev["batch_size"] = 1
    if clip is not None and clip > 0:
        frac = sum(v > clip for v in rv) / len(rv)
        ev["clip_grad"] = clip
        ev["clipped_fraction"] = frac
        facts["clipped"] = "all" if frac >= 0.999 else "some" if frac > 0 else "none"


def judge(ph: PhaseData, ctx: Context) -> Verdict | None:
    steps, vals = ph.series("grad_norm")
    if not vals:
        return None
    rs, rv = steps[-ctx.window :], vals[-ctx.window :]
    hi = max(rv)
    peak = max(vals)
    tr = trend(rv, ctx.rules.trend_flat)
    ev: dict[str, Any] = {
        "recent_median": median(rv),
        "recent_min": min(rv),
        "recent_max": hi,
        "phase_max": peak,
        "phase_max_step": steps[vals.index(peak)],
        "trend": tr.label,
        "lines": len(rv),
    }
    facts: dict[str, Any] = {"trend": tr, "window_start": rs[0], "max_step": rs[rv.index(hi)]}
    level, case = _level(ev, facts, ctx)
    _recipe_notes(ph, ctx, ev, facts, rv)
    return Verdict("grad_norm", level, case, ev, ph.name, facts)
