"""NaN / inf anywhere in the log: still there in the recent window (act) or passed (watch)."""

from __future__ import annotations

import math

from ..logs import Record
from .base import Context, Verdict


def judge(records: list[Record], ctx: Context) -> Verdict:
    bad: dict[str, list[int]] = {}
    total = 0
    for r in records:
        for k, v in r.values.items():
            total += 1
            if not math.isfinite(v):
                bad.setdefault(k, []).append(int(r.step or 0))
    if not bad:
        return Verdict("nonfinite", "ok", "finite", {"values": total})
    recent_steps = {int(r.step or 0) for r in records[-ctx.window :]}
    last_bad = max(s for steps in bad.values() for s in steps)
    evidence = {
        "keys": {k: len(v) for k, v in bad.items()},
        "first_step": min(s for steps in bad.values() for s in steps),
        "last_step": last_bad,
        "last_logged_step": int(records[-1].step or 0),
    }
    facts = {"steps": bad}
    if last_bad in recent_steps:
        return Verdict("nonfinite", "act", "still_there", evidence, facts=facts)
    return Verdict("nonfinite", "watch", "passed", evidence, facts=facts)
