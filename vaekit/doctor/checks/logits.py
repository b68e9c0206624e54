"""The gap between logits_real and logits_fake in phase 2: balanced, pulling ahead, winning
outright, or upside down (the discriminator not learning)."""

from __future__ import annotations

import math

from ..stats import median
from .base import Context, PhaseData, Verdict


def judge(ph: PhaseData, ctx: Context) -> Verdict | None:
    rules = ctx.rules
    if ph.name != "adversarial":
        return None
    pairs = [
        (int(r.step or 0), r.values["logits_real"], r.values["logits_fake"])
        for r in ph.records
        if math.isfinite(r.values.get("logits_real", math.nan))
        and math.isfinite(r.values.get("logits_fake", math.nan))
    ]
    if not pairs:
        return None
    recent = pairs[-ctx.window :]
    gaps = [p[1] - p[2] for p in recent]
    gap = median(gaps)
    half = len(gaps) // 2
    widening = half >= 2 and (median(gaps[-half:]) - median(gaps[:half])) > rules.logits_gap_watch / 2
    ev = {
        "logits_real": median([p[1] for p in recent]),
        "logits_fake": median([p[2] for p in recent]),
        "gap": gap,
        "widening": widening,
    }
    facts = {"lines": len(recent)}
    if gap >= rules.logits_gap_act:
        return Verdict("logits", "act", "winning", ev, ph.name, facts)
    if gap >= rules.logits_gap_watch or (widening and gap > rules.logits_gap_watch / 2):
        return Verdict("logits", "watch", "pulling_ahead", ev, ph.name, facts)
    if gap <= -rules.logits_gap_watch:
        return Verdict("logits", "watch", "not_learning", ev, ph.name, facts)
    return Verdict("logits", "ok", "balanced", ev, ph.name, facts)
