"""rec_loss: in phase 1 its level against its best; in phase 2 the spike at disc_start and its
recovery by the deadline."""

from __future__ import annotations

from typing import Any

from ..stats import median, median_at, rolling_median, trend
from .base import Context, PhaseData, Verdict


def _phase1(
    ph: PhaseData, ctx: Context, vals: list[float], ev: dict[str, Any], facts: dict[str, Any]
) -> Verdict:
    rules = ctx.rules
    cur, rising = ev["recent_median"], ev["trend"] == "rising"
    head = vals[: -min(len(vals), ctx.window)]
    k = max(3, ctx.window // 2)
    # the rolling median is only needed when the recent level could be a rise at all
    if len(head) >= k and cur > rules.rec_loss_rise_watch * min(head) and rising:
        best = min(rolling_median(head, k)[k - 1 :])
        if best and cur > rules.rec_loss_rise_watch * best:
            ev["best_earlier"] = best
            return Verdict("rec_loss", "watch", "climbing", ev, ph.name, facts)
    return Verdict("rec_loss", "ok", "phase1", ev, ph.name, facts)


def _recovery(
    ph: PhaseData,
    ctx: Context,
    steps: list[int],
    vals: list[float],
    ev: dict[str, Any],
    facts: dict[str, Any],
) -> Verdict:
    """Phase 2 after a spike: recovered, still within the deadline (expected), or not recovered."""
    rules = ctx.rules
    thr, peak = ev["recovered_below"], ev["peak"]
    k = max(3, min(9, ctx.window // 4))
    pk = vals.index(peak)
    rec_idx = next((i for i in range(pk, len(vals)) if median_at(vals, i, k) <= thr), None)
    if rec_idx is not None:
        ev["recovered_step"] = steps[rec_idx]
        ev["recovery_steps"] = steps[rec_idx] - ctx.disc_start
        if ev["recent_median"] <= thr:
            return Verdict("rec_loss", "ok", "recovered", ev, ph.name, facts)
    deadline = ctx.in_units(rules.rec_loss_deadline_steps)
    facts["deadline"] = deadline
    if deadline is None:
        ev["expected"] = True
        ev["deadline_unknown"] = True
        return Verdict("rec_loss", "watch", "adapting_no_deadline", ev, ph.name, facts)
    if ev["steps_since_disc_start"] <= deadline:
        ev["expected"] = True
        return Verdict("rec_loss", "watch", "adapting", ev, ph.name, facts)
    return Verdict("rec_loss", "act", "not_recovered", ev, ph.name, facts)


def judge(ph: PhaseData, ctx: Context) -> Verdict | None:
    rules = ctx.rules
    steps, vals = ph.series("rec_loss")
    if not vals:
        return None
    rv = vals[-ctx.window :]
    tr = trend(rv, rules.trend_flat)
    ev: dict[str, Any] = {
        "first": vals[0],
        "first_step": steps[0],
        "last": vals[-1],
        "last_step": steps[-1],
        "recent_median": median(rv),
        "trend": tr.label,
    }
    facts: dict[str, Any] = {"trend": tr, "disc_start": ctx.disc_start}
    if ph.name == "vae":
        return _phase1(ph, ctx, vals, ev, facts)
    # phase 2: the spike at disc_start and its recovery
    base = ctx.baseline.get("rec_loss")
    if not base or ctx.disc_start is None:
        level = "watch" if tr.label == "rising" else "ok"
        return Verdict("rec_loss", level, "no_phase1", ev, ph.name, facts)
    peak = max(vals)
    ev.update(
        {
            "phase1_level": base,
            "peak": peak,
            "peak_step": steps[vals.index(peak)],
            "spike_ratio": peak / base,
            "recovered_below": rules.rec_loss_recovered * base,
            "steps_since_disc_start": steps[-1] - ctx.disc_start,
        }
    )
    if peak < rules.rec_loss_spike * base:
        return Verdict("rec_loss", "ok", "no_spike", ev, ph.name, facts)
    return _recovery(ph, ctx, steps, vals, ev, facts)
