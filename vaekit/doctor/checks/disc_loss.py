"""disc_loss in phase 2, per unit of the weights it is logged with, against the band around the GAN
loss's chance level: collapsed, broken, below or above the band."""

from __future__ import annotations

import math

from ..conventions import Conventions
from ..logs import Record
from ..stats import median, median_at, trend
from .base import Context, PhaseData, Verdict


def _disc_scale(r: Record, conv: Conventions) -> float:
    """What the logged disc_loss of a line is multiplied by: disc_factor, and the weights the
    trainer applies before logging (0 when it cannot be divided out)."""
    f = r.values.get("disc_factor")
    scale = f if f is not None and math.isfinite(f) and f > 0 else 1.0
    for key in conv.disc_scaled_by:
        w = r.values.get(key)
        if w is not None and math.isfinite(w) and w > 0:
            scale *= w
    return scale


def _left_band(steps: list[int], vals: list[float], lo: float, hi: float, k: int) -> int | None:
    """The step after which the rolling median stayed outside [lo, hi] until the end."""
    idx = None
    for i in range(len(vals) - 1, -1, -1):
        if lo <= median_at(vals, i, k) <= hi:
            break
        idx = i
    return steps[idx] if idx is not None else None


def _disc_level(cur: float, lo: float, hi: float, collapse: float, broken: float) -> tuple[str, str]:
    if cur < collapse:
        return "act", "collapsed"
    if cur > broken:
        return "act", "broken"
    if cur < lo:
        return "watch", "below_band"
    if cur > hi:
        return "watch", "above_band"
    return "ok", "in_band"


def judge(ph: PhaseData, ctx: Context) -> Verdict | None:
    rules, conv = ctx.rules, ctx.conv
    if ph.name != "adversarial":
        return None
    steps, raw = ph.series("disc_loss")
    if not raw:
        return None
    # disc_loss carries disc_factor (and, in some trainers, disc_weight); judge it per unit
    scale = {int(r.step or 0): _disc_scale(r, conv) for r in ph.records}
    vals = [v / scale[st] if scale.get(st) else v for st, v in zip(steps, raw)]
    rv = vals[-ctx.window :]
    cur = median(rv)
    tr = trend(rv, rules.trend_flat)
    chance = conv.chance
    lo, hi = rules.disc_loss_low * chance, rules.disc_loss_high * chance
    collapse, broken = rules.disc_loss_collapse * chance, rules.disc_loss_broken * chance
    ev = {
        "recent_median": cur,
        "recent_min": min(rv),
        "recent_max": max(rv),
        "trend": tr.label,
        "band": [lo, hi],
        "gan_loss": conv.gan_loss,
        "gan_loss_source": conv.gan_source,
        "chance_level": chance,
    }
    scaled = [k for k in conv.disc_scaled_by if any(k in r.values for r in ph.records)]
    if scaled:
        ev["divided_by"] = scaled
    left = _left_band(steps, vals, lo, hi, max(3, ctx.window // 4))
    facts = {
        "trend": tr,
        "lines": len(rv),
        "first_step": steps[0],
        "left_band": left,
        "collapse": collapse,
        "broken": broken,
    }
    level, case = _disc_level(cur, lo, hi, collapse, broken)
    return Verdict("disc_loss", level, case, ev, ph.name, facts)
