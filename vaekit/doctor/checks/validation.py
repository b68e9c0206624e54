"""Validation PSNR: the latest against the best, a drop being expected right after disc_start."""

from __future__ import annotations

import math
from typing import Any

from ..logs import Record
from .base import Context, Verdict


def _last(val: list[Record], key: str) -> float | None:
    vals = [r.values[key] for r in val if math.isfinite(r.values.get(key, math.nan))]
    return vals[-1] if vals else None


def judge(val: list[Record], ctx: Context) -> Verdict | None:
    pts = [
        (int(r.step or 0), r.values["val/psnr"])
        for r in val
        if math.isfinite(r.values.get("val/psnr", math.nan))
    ]
    if not pts:
        return None
    best_step, best = max(pts, key=lambda p: p[1])
    last_step, last = pts[-1]
    ev: dict[str, Any] = {
        "last": last,
        "last_step": last_step,
        "best": best,
        "best_step": best_step,
        "points": len(pts),
    }
    for key, name in (("val/psnr_ema", "last_ema"), ("val/ssim", "last_ssim")):
        value = _last(val, key)
        if value is not None:
            ev[name] = value
    drop = best - last
    if drop <= ctx.rules.val_psnr_drop:
        return Verdict("val/psnr", "ok", "held", ev)
    ds = ctx.disc_start
    deadline = ctx.in_units(ctx.rules.rec_loss_deadline_steps)
    ev["drop_db"] = drop
    if ds is not None and 0 <= last_step - ds <= (deadline if deadline is not None else math.inf):
        ev["expected"] = True
    return Verdict("val/psnr", "watch", "dropped", ev)
