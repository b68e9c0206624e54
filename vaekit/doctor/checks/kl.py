"""The KL term: its share of vae_loss over the recent window (silenced, active, outweighing or
dominating reconstruction), with kl_weight from the recipe or inferred from the log."""

from __future__ import annotations

import math
from typing import Any

from ..stats import median, trend
from .base import Context, KLWeight, PhaseData, Verdict, finite_vals, tol


def _kl_terms(ph: PhaseData, ctx: Context, kl: KLWeight) -> tuple[list[float], list[float], int]:
    """Per recent line: the KL term (vae_loss - nll_loss, or kl_weight x kl_loss where the two are
    equal to the printed precision), its share of vae_loss, and how many lines were such."""
    shares, terms = [], []
    silenced_lines = 0
    for r in ph.records[-ctx.window :]:
        vals = finite_vals(r, "vae_loss", "nll_loss")
        if vals is None:
            continue
        v, n = vals
        d = v - n
        if abs(d) <= tol(ctx.rules, r.q("vae_loss") + r.q("nll_loss"), v, n):
            silenced_lines += 1
            k = r.values.get("kl_loss")
            d = kl.value * k if kl.value and k is not None and math.isfinite(k) else 0.0
        terms.append(d)
        shares.append(d / v if v > 0 else math.nan)
    return terms, shares, silenced_lines


def judge(ph: PhaseData, ctx: Context) -> Verdict | None:
    rules = ctx.rules
    steps, kl_vals = ph.series("kl_loss")
    if not kl_vals:
        return None
    kl = ctx.kl or KLWeight(None, "unknown")
    terms, shares, silenced_lines = _kl_terms(ph, ctx, kl)
    kr = kl_vals[-ctx.window :]
    tr = trend(kr, rules.trend_flat)
    ev: dict[str, Any] = {
        "kl_loss_first": kl_vals[0],
        "kl_loss_last": kl_vals[-1],
        "kl_loss_trend": tr.label,
        "kl_weight": kl.value,
        "kl_weight_source": kl.source,
    }
    facts = {"trend": tr, "first_step": steps[0], "last_step": steps[-1], "upper_bound": kl.upper_bound}
    if not shares:
        if kl.value is None:
            return Verdict("kl_loss", "ok", "weight_unknown", ev, ph.name, facts)
        ev["kl_term"] = kl.value * median(kr)
        return Verdict("kl_loss", "ok", "nothing_to_weigh", ev, ph.name, facts)
    share = median(shares)
    ev.update({"kl_share_of_vae_loss": share, "kl_term": median(terms) if terms else math.nan})
    if kl.source == "silenced":
        ev["kl_weight_upper_bound"] = kl.upper_bound
    if silenced_lines == len(shares) or share < rules.kl_silenced:
        ev["silenced"] = True
        return Verdict("kl_loss", "ok", "silenced", ev, ph.name, facts)
    ev["nll_loss"] = median(
        [r.values["nll_loss"] for r in ph.records[-ctx.window :] if "nll_loss" in r.values]
    )
    if share > rules.kl_dominant_act:
        ev["dominant"] = True
        return Verdict("kl_loss", "act", "dominant", ev, ph.name, facts)
    if share > rules.kl_dominant_watch:
        ev["dominant"] = True
        return Verdict("kl_loss", "watch", "outweighs", ev, ph.name, facts)
    return Verdict("kl_loss", "ok", "active", ev, ph.name, facts)
