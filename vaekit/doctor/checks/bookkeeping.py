"""The loss identities (nll = rec + perception, vae = nll + kl_weight x kl, total = vae +
d_weight x disc_factor x g_loss, non-negative means, the discriminator's bound) and the
kl_weight the log implies."""

from __future__ import annotations

import math
from typing import Any

from ..logs import Record
from ..rules import Rules
from ..stats import median
from .base import Context, KLWeight, Verdict, finite_vals, tol


def infer_kl_weight(records: list[Record], ctx: Context) -> KLWeight:
    rules = ctx.rules
    kw = ctx.recipe.get("kl_weight")
    if kw is not None:
        return KLWeight(float(kw), "recipe")
    diffs = []
    for r in records:
        vals = finite_vals(r, "vae_loss", "nll_loss", "kl_loss")
        if vals is None or vals[2] <= 0:
            continue
        v, n, k = vals
        diffs.append((v - n, tol(rules, r.q("vae_loss") + r.q("nll_loss"), v, n), k, r.q("kl_loss")))
    if not diffs:
        return KLWeight(None, "unknown")
    if all(abs(d) <= t for d, t, _, _ in diffs):
        return KLWeight(0.0, "silenced", upper_bound=min(t / k for _, t, k, _ in diffs), lines=len(diffs))
    ests = [d / k for d, t, k, _ in diffs if abs(d) > t]
    est = median(ests)
    consistent = all(
        abs(d - est * k) <= t + est * qk + rules.bookkeeping_rtol * abs(est * k) for d, t, k, qk in diffs
    )
    return KLWeight(est, "inferred", consistent=consistent, spread=(min(ests), max(ests)), lines=len(diffs))


class _Tally:
    """Per identity: lines checked, lines that break it, and the first break."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.results: dict[str, dict[str, Any]] = {}
        self.pixel_ratios: list[float] = []

    def note(self, name: str, ok: bool, r: Record, logged: float, expected: float) -> None:
        res = self.results.setdefault(name, {"checked": 0, "violations": 0})
        res["checked"] += 1
        if not ok:
            res["violations"] += 1
            if "first" not in res:
                res["first"] = {"step": r.step, "logged": logged, "expected": expected}

    def nll(self, r: Record, convention: str) -> None:
        if convention == "rec_includes_perception":
            vals = finite_vals(r, "nll_loss", "rec_loss")
            if vals:
                n, a = vals
                ok = abs(n - a) <= tol(self.rules, r.q("nll_loss") + r.q("rec_loss"), n, a)
                self.note("nll_folded", ok, r, n, a)
        elif convention == "summed_over_pixels":
            vals = finite_vals(r, "nll_loss", "rec_loss")
            if vals and vals[1] > 0:
                self.pixel_ratios.append(vals[0] / vals[1])
        else:
            vals = finite_vals(r, "nll_loss", "rec_loss", "perception_loss")
            if vals:
                n, a, p = vals
                q = r.q("nll_loss") + r.q("rec_loss") + r.q("perception_loss")
                self.note("nll", abs(n - (a + p)) <= tol(self.rules, q, n, a, p), r, n, a + p)

    def vae(self, r: Record, kw: float) -> None:
        vals = finite_vals(r, "vae_loss", "nll_loss", "kl_loss")
        if vals:
            v, n, k = vals
            q = r.q("vae_loss") + r.q("nll_loss") + kw * r.q("kl_loss")
            self.note("vae", abs(v - (n + kw * k)) <= tol(self.rules, q, v, n, kw * k), r, v, n + kw * k)

    def total(self, r: Record) -> None:
        vals = finite_vals(r, "total_loss", "vae_loss", "d_weight", "disc_factor", "g_loss")
        if vals:
            t, v, dw, df, g = vals
            adv = dw * df * g
            q = (
                r.q("total_loss")
                + r.q("vae_loss")
                + abs(df * g) * r.q("d_weight")
                + abs(dw * g) * r.q("disc_factor")
                + abs(dw * df) * r.q("g_loss")
            )
            self.note("total", abs(t - (v + adv)) <= tol(self.rules, q, t, v, adv), r, t, v + adv)

    def nonneg(self, r: Record) -> None:
        for key in ("rec_loss", "perception_loss", "kl_loss", "nll_loss", "vae_loss"):
            v = r.values.get(key)
            if v is not None and math.isfinite(v):
                self.note(f"nonneg:{key}", v >= -(r.q(key) + self.rules.bookkeeping_atol), r, v, 0.0)

    def disc_bound(self, r: Record, gan: str) -> None:
        vals = finite_vals(r, "disc_loss", "disc_factor", "logits_real", "logits_fake")
        if vals and vals[1] > 0:
            d, df, lr, lf = vals
            if gan == "hinge":
                bound = df * 0.5 * (max(0.0, 1 - lr) + max(0.0, 1 + lf))
            else:
                bound = df * 0.5 * (math.log1p(math.exp(-lr)) + math.log1p(math.exp(lf)))
            q = r.q("disc_loss") + df * 0.5 * (r.q("logits_real") + r.q("logits_fake"))
            self.note("disc_bound", d >= bound - tol(self.rules, q, d, bound), r, d, bound)


def _tally(records: list[Record], ctx: Context) -> _Tally:
    kw = ctx.recipe.get("kl_weight")
    gan = ctx.recipe.get("gan_loss")
    tally = _Tally(ctx.rules)
    for r in records:
        tally.nll(r, ctx.conv.nll)
        if kw is not None:
            tally.vae(r, kw)
        tally.total(r)
        tally.nonneg(r)
        if gan in ("hinge", "vanilla"):
            tally.disc_bound(r, gan)
    return tally


def _kl_not_applied(records: list[Record], results: dict[str, dict[str, Any]], rules: Rules) -> bool:
    """Whether, at the first line that breaks the vae identity, vae_loss equals nll_loss."""
    if not results.get("vae", {}).get("violations") or results.get("nll") is None:
        return False
    f = results["vae"]["first"]
    r0 = next(r for r in records if r.step == f["step"])
    n0 = r0.values.get("nll_loss")
    return n0 is not None and abs(f["logged"] - n0) <= tol(rules, r0.q("vae_loss") + r0.q("nll_loss"), n0)


def judge(records: list[Record], ctx: Context) -> Verdict:
    tally = _tally(records, ctx)
    results, kl = tally.results, ctx.kl
    evidence: dict[str, Any] = {"identities": results}
    if kl is not None:
        evidence["kl_weight"] = {"value": kl.value, "source": kl.source, "upper_bound": kl.upper_bound}
    evidence["trainer"] = ctx.conv.trainer
    evidence["nll_convention"] = ctx.conv.nll
    pixels = median(tally.pixel_ratios) if tally.pixel_ratios else None
    facts: dict[str, Any] = {
        "pixel_ratio": pixels,
        "kl_not_applied": _kl_not_applied(records, results, ctx.rules),
        "unchecked": [
            *(["nll"] if "nll" not in results and "nll_folded" not in results and pixels is None else []),
            *(["total"] if "total" not in results else []),
        ],
        "kl_inferred": kl.source if kl is not None and kl.source in ("inferred", "silenced") else None,
    }
    if any(res["violations"] for res in results.values()):
        if ctx.conv.trainer != "vaekit":
            return Verdict("bookkeeping", "watch", "foreign_mismatch", evidence, facts=facts)
        return Verdict("bookkeeping", "act", "mismatch", evidence, facts=facts)
    if kl is not None and kl.source == "inferred" and not kl.consistent and kl.spread:
        facts["kl_spread"] = kl.spread
        return Verdict("bookkeeping", "watch", "kl_weight_varies", evidence, facts=facts)
    if "vae" in results:
        facts["kl_inferred"] = None
    held = [name for name in results if not name.startswith("nonneg:")]
    if not held and pixels is None and facts["kl_inferred"] is None:
        return Verdict("bookkeeping", "ok", "nothing_to_check", evidence, facts=facts)
    return Verdict("bookkeeping", "ok", "adds_up", evidence, facts=facts)
