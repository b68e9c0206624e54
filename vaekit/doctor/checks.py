"""The health rules: each check reads a phase's series and returns one :class:`Finding`.

The same functions serve ``vaekit doctor`` (the whole log) and the trainer's live doctor (a
bounded recent history). A check judges the *current* state on the last ``window`` lines of the
phase and uses the rest of the phase for context (peaks, where a value left its band).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .conventions import GAN_WORDS, Conventions
from .logs import Record
from .report import Finding
from .rules import Rules
from .stats import median, median_at, num, pct, rolling_median, trend

PHASE_NAMES = {"vae": "phase 1", "adversarial": "phase 2"}


@dataclass
class PhaseData:
    """The training lines of one phase (``vae`` before disc_start, ``adversarial`` after)."""

    name: str
    records: list[Record]
    _cache: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict, repr=False)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """Steps and finite values of ``key`` (cached: the records do not change)."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        steps, vals = [], []
        isfinite = math.isfinite
        for r in self.records:
            v = r.values.get(key)
            if v is not None and isfinite(v):
                steps.append(r.step or 0)
                vals.append(v)
        self._cache[key] = (steps, vals)
        return steps, vals

    def recent(self, key: str, window: int) -> tuple[list[int], list[float]]:
        steps, vals = self.series(key)
        return steps[-window:], vals[-window:]

    def has(self, key: str) -> bool:
        return any(key in r.values for r in self.records)

    @property
    def first_step(self) -> int:
        return int(self.records[0].step or 0)

    @property
    def last_step(self) -> int:
        return int(self.records[-1].step or 0)


@dataclass
class KLWeight:
    """What the log says about kl_weight: from the recipe, inferred, or bounded (silenced)."""

    value: float | None
    source: str  # "recipe" | "inferred" | "silenced" | "unknown"
    upper_bound: float | None = None
    consistent: bool = True
    spread: tuple[float, float] | None = None
    lines: int = 0


@dataclass
class Context:
    rules: Rules
    window: int
    recipe: dict[str, Any] = field(default_factory=dict)
    disc_start: int | None = None
    baseline: dict[str, float] = field(default_factory=dict)  # phase-1 level of the last window
    kl: KLWeight | None = None
    # offline, a settled spike earlier in the phase still earns a 'watch'; live, an incident is
    # over once the recent window is healthy again
    judge_history: bool = True
    # how the log's numbers are to be read (vaekit's own conventions unless the log says otherwise)
    conv: Conventions = field(default_factory=Conventions)
    unit: str = "step"  # what a record's step counts: "step", "epoch" or "line"
    steps_per_unit: float | None = 1.0  # optimizer steps per unit (None: unknown)

    def in_units(self, steps: float) -> float | None:
        """A number of optimizer steps in the log's unit (None when the log cannot tell)."""
        if self.unit == "step":
            return steps
        if not self.steps_per_unit:
            return None
        return steps / self.steps_per_unit


def _tol(rules: Rules, quanta: float, *mags: float) -> float:
    return quanta + rules.bookkeeping_rtol * max((abs(m) for m in mags), default=0.0) + rules.bookkeeping_atol


def _finite_vals(r: Record, *keys: str) -> list[float] | None:
    out = []
    for k in keys:
        v = r.values.get(k)
        if v is None or not math.isfinite(v):
            return None
        out.append(v)
    return out


# ----------------------------------------------------------------------------------------------
# whole-run checks


def check_nonfinite(records: list[Record], ctx: Context) -> Finding:
    bad: dict[str, list[int]] = {}
    total = 0
    for r in records:
        for k, v in r.values.items():
            total += 1
            if not math.isfinite(v):
                bad.setdefault(k, []).append(int(r.step or 0))
    if not bad:
        return Finding("nonfinite", "ok", f"All {total:,} logged values are finite.", {"values": total})
    recent_steps = {int(r.step or 0) for r in records[-ctx.window :]}
    last_bad = max(s for steps in bad.values() for s in steps)
    first_bad = min(s for steps in bad.values() for s in steps)
    parts = []
    for k, steps in sorted(bad.items(), key=lambda kv: kv[1][0]):
        where = f"step {steps[0]}" if len(steps) == 1 else f"{len(steps)} lines, steps {steps[0]}-{steps[-1]}"
        parts.append(f"{k} ({where})")
    evidence = {
        "keys": {k: len(v) for k, v in bad.items()},
        "first_step": first_bad,
        "last_step": last_bad,
        "last_logged_step": int(records[-1].step or 0),
    }
    text = "NaN or inf in " + ", ".join(parts) + "."
    if last_bad in recent_steps:
        return Finding(
            "nonfinite",
            "act",
            text + f" It is still there in the last {ctx.window} lines: the run has diverged or a step "
            "overflowed.",
            evidence,
            advice=f"Restart from a checkpoint before step {first_bad} with a lower lr (or bf16/fp32 instead "
            "of fp16); look at grad_norm just before it.",
        )
    return Finding(
        "nonfinite",
        "watch",
        text + f" All values are finite again after step {last_bad}, so the trainer skipped those steps.",
        evidence,
        advice=f"Check what happened around step {first_bad}; if it repeats, lower the lr.",
    )


def infer_kl_weight(records: list[Record], ctx: Context) -> KLWeight:
    rules = ctx.rules
    kw = ctx.recipe.get("kl_weight")
    if kw is not None:
        return KLWeight(float(kw), "recipe")
    diffs = []
    for r in records:
        vals = _finite_vals(r, "vae_loss", "nll_loss", "kl_loss")
        if vals is None or vals[2] <= 0:
            continue
        v, n, k = vals
        tol = _tol(rules, r.q("vae_loss") + r.q("nll_loss"), v, n)
        diffs.append((v - n, tol, k, r.q("kl_loss")))
    if not diffs:
        return KLWeight(None, "unknown")
    if all(abs(d) <= tol for d, tol, _, _ in diffs):
        return KLWeight(0.0, "silenced", upper_bound=min(tol / k for _, tol, k, _ in diffs), lines=len(diffs))
    ests = [d / k for d, tol, k, _ in diffs if abs(d) > tol]
    est = median(ests)
    consistent = all(
        abs(d - est * k) <= tol + est * qk + rules.bookkeeping_rtol * abs(est * k) for d, tol, k, qk in diffs
    )
    return KLWeight(est, "inferred", consistent=consistent, spread=(min(ests), max(ests)), lines=len(diffs))


def check_bookkeeping(records: list[Record], ctx: Context) -> Finding:
    rules = ctx.rules
    kw = ctx.recipe.get("kl_weight")
    gan = ctx.recipe.get("gan_loss")
    results: dict[str, dict[str, Any]] = {}

    def note(name: str, ok: bool, r: Record, logged: float, expected: float) -> None:
        res = results.setdefault(name, {"checked": 0, "violations": 0})
        res["checked"] += 1
        if not ok:
            res["violations"] += 1
            if "first" not in res:
                res["first"] = {"step": r.step, "logged": logged, "expected": expected}

    nll_conv = ctx.conv.nll
    pixel_ratios: list[float] = []
    for r in records:
        if nll_conv == "rec_includes_perception":
            vals = _finite_vals(r, "nll_loss", "rec_loss")
            if vals:
                n, a = vals
                note("nll_folded", abs(n - a) <= _tol(rules, r.q("nll_loss") + r.q("rec_loss"), n, a), r, n, a)
        elif nll_conv == "summed_over_pixels":
            vals = _finite_vals(r, "nll_loss", "rec_loss")
            if vals and vals[1] > 0:
                pixel_ratios.append(vals[0] / vals[1])
        else:
            vals = _finite_vals(r, "nll_loss", "rec_loss", "perception_loss")
            if vals:
                n, a, p = vals
                q = r.q("nll_loss") + r.q("rec_loss") + r.q("perception_loss")
                note("nll", abs(n - (a + p)) <= _tol(rules, q, n, a, p), r, n, a + p)
        if kw is not None:
            vals = _finite_vals(r, "vae_loss", "nll_loss", "kl_loss")
            if vals:
                v, n, k = vals
                q = r.q("vae_loss") + r.q("nll_loss") + kw * r.q("kl_loss")
                note("vae", abs(v - (n + kw * k)) <= _tol(rules, q, v, n, kw * k), r, v, n + kw * k)
        vals = _finite_vals(r, "total_loss", "vae_loss", "d_weight", "disc_factor", "g_loss")
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
            note("total", abs(t - (v + adv)) <= _tol(rules, q, t, v, adv), r, t, v + adv)
        for key in ("rec_loss", "perception_loss", "kl_loss", "nll_loss", "vae_loss"):
            v = r.values.get(key)
            if v is not None and math.isfinite(v):
                note(f"nonneg:{key}", v >= -(r.q(key) + rules.bookkeeping_atol), r, v, 0.0)
        if gan in ("hinge", "vanilla"):
            vals = _finite_vals(r, "disc_loss", "disc_factor", "logits_real", "logits_fake")
            if vals and vals[1] > 0:
                d, df, lr, lf = vals
                if gan == "hinge":
                    bound = df * 0.5 * (max(0.0, 1 - lr) + max(0.0, 1 + lf))
                else:
                    bound = df * 0.5 * (math.log1p(math.exp(-lr)) + math.log1p(math.exp(lf)))
                q = r.q("disc_loss") + df * 0.5 * (r.q("logits_real") + r.q("logits_fake"))
                note("disc_bound", d >= bound - _tol(rules, q, d, bound), r, d, bound)

    kl = ctx.kl
    broken, fine = [], []
    words = {
        "nll": "nll_loss = rec_loss + perception_loss",
        "vae": f"vae_loss = nll_loss + kl_weight x kl_loss (kl_weight {num(kw)} from the recipe)",
        "total": "total_loss = vae_loss + d_weight x disc_factor x g_loss",
        "disc_bound": f"disc_loss >= the {gan} loss of the mean logits (a lower bound, by convexity)",
        "nll_folded": "nll_loss = rec_loss (the taming convention: rec_loss already holds perceptual_weight x "
        "p_loss, so perception is not added again)",
    }
    if pixel_ratios:
        fine_pixels = (
            f"nll_loss is a sum over pixels, about {num(median(pixel_ratios))} x rec_loss (the {ctx.conv.trainer} "
            "convention), not a per-element mean, so it is not compared with rec_loss + perception_loss"
        )
    else:
        fine_pixels = ""
    for name, res in results.items():
        label = words.get(name, f"{name.split(':', 1)[-1]} >= 0")
        if res["violations"]:
            f = res["first"]
            if name.startswith("nonneg:"):
                broken.append(
                    f"{name.split(':', 1)[1]} is negative at {res['violations']} of {res['checked']} lines "
                    f"(first at step {f['step']}: {num(f['logged'])}), but it is a mean of non-negative terms"
                )
            else:
                extra = ""
                if name == "vae" and results.get("nll") is not None:
                    r0 = next(r for r in records if r.step == f["step"])
                    n0 = r0.values.get("nll_loss")
                    if n0 is not None and abs(f["logged"] - n0) <= _tol(
                        rules, r0.q("vae_loss") + r0.q("nll_loss"), n0
                    ):
                        extra = "; vae_loss equals nll_loss there, so the KL term is not applied at all"
                broken.append(
                    f"{label} fails at {res['violations']} of {res['checked']} lines (first at step "
                    f"{f['step']}: logged {num(f['logged'])}, the formula gives {num(f['expected'])}){extra}"
                )
        elif not name.startswith("nonneg:"):
            fine.append(f"{label} at all {res['checked']} lines")
    if fine_pixels:
        fine.append(fine_pixels)
    missing = []
    if "nll" not in results and "nll_folded" not in results and not fine_pixels:
        missing.append("nll_loss (needs rec_loss, perception_loss, nll_loss)")
    if "total" not in results:
        missing.append("total_loss (needs total_loss, vae_loss, d_weight, disc_factor, g_loss)")
    evidence: dict[str, Any] = {"identities": results}
    if kl is not None:
        evidence["kl_weight"] = {"value": kl.value, "source": kl.source, "upper_bound": kl.upper_bound}
    evidence["trainer"] = ctx.conv.trainer
    evidence["nll_convention"] = nll_conv
    if broken and ctx.conv.trainer != "vaekit":
        return Finding(
            "bookkeeping",
            "watch",
            "Read with vaekit's identities, the logged losses do not add up: " + "; ".join(broken) + ". This "
            f"log is not vaekit's ({ctx.conv.trainer_why}), and trainers book these terms differently, so this "
            "is a question, not a verdict.",
            evidence,
            advice="Check how this trainer defines each logged term (is perception inside rec_loss? is nll a sum "
            "over pixels?); if a key means something else, map it with an [aliases] table in --rules.",
        )
    if broken:
        return Finding(
            "bookkeeping",
            "act",
            "The logged losses do not add up: " + "; ".join(broken) + ". Every other verdict reads these "
            "numbers, so they cannot be trusted until the log is right.",
            evidence,
            advice="Fix the loss or logging code so the identities of docs/DESIGN.md (Training) hold in every "
            "line (a weight stored but not applied, or a term logged before/after scaling, are the usual "
            "causes).",
        )
    if kl is not None and kl.source == "inferred" and not kl.consistent and kl.spread:
        return Finding(
            "bookkeeping",
            "watch",
            f"(vae_loss - nll_loss) / kl_loss is not constant: the implied kl_weight ranges from "
            f"{num(kl.spread[0])} to {num(kl.spread[1])}. Expected if the trainer anneals the KL weight; "
            "otherwise the KL term is logged inconsistently.",
            evidence,
            advice="Put the run's config.toml beside the log so the doctor can check vae_loss against the "
            "recipe's kl_weight.",
        )
    if kl is not None and kl.source in ("inferred", "silenced") and "vae" not in results:
        fine.append(
            "vae_loss - nll_loss is a fixed multiple of kl_loss (no recipe, so kl_weight was inferred)"
            if kl.source == "inferred"
            else "vae_loss = nll_loss (no recipe; KL contributes nothing)"
        )
    if not fine:
        return Finding(
            "bookkeeping",
            "ok",
            "Could not check the loss identities: the log lacks the keys they need.",
            evidence,
        )
    msg = "The logged losses add up: " + "; ".join(fine) + "."
    if missing:
        msg += " Not checked: " + ", ".join(missing) + "."
    return Finding("bookkeeping", "ok", msg, evidence)


def check_phases(phases: dict[str, Any], records: list[Record], ctx: Context) -> Finding | None:
    ds_recipe = ctx.recipe.get("disc_start")
    last = int(records[-1].step or 0)
    p2 = phases.get("phase2")
    if ds_recipe is None or ctx.unit != "step":
        return None
    ds_recipe = int(ds_recipe)
    has_df = any("disc_factor" in r.values for r in records)
    if p2 is None and ds_recipe <= last and has_df:
        return Finding(
            "phases",
            "act",
            f"The recipe starts the discriminator at step {ds_recipe}, but disc_factor is still 0 at "
            f"step {last}: phase 2 never began.",
            {"recipe_disc_start": ds_recipe, "last_step": last},
            advice="Check that disc_start is read from the recipe and that disc_factor switches on.",
        )
    if p2 is None:
        return Finding(
            "phases",
            "ok",
            f"Phase 1 only so far; the recipe starts the discriminator at step {ds_recipe}, "
            f"{ds_recipe - last} steps after the last logged line.",
            {"recipe_disc_start": ds_recipe, "last_step": last},
            advice=f"At step {ds_recipe} the discriminator starts: expect rec_loss and grad_norm to jump "
            "for a few hundred steps, then settle.",
        )
    ds = phases.get("disc_start")
    steps = [int(r.step or 0) for r in records]
    gaps = [b - a for a, b in zip(steps, steps[1:]) if b > a]
    interval = median(gaps) if gaps else 1
    if ds is not None and abs(ds - ds_recipe) > 2 * interval and phases.get("phase1"):
        return Finding(
            "phases",
            "watch",
            f"The discriminator switched on at step {ds}, but the recipe says disc_start = {ds_recipe}.",
            {"recipe_disc_start": ds_recipe, "disc_start": ds},
            advice="Check how the trainer counts steps for disc_start (global vs per-epoch, resumed runs).",
        )
    return None


# ----------------------------------------------------------------------------------------------
# per-phase checks


def _range(vals: list[float]) -> str:
    lo, hi = min(vals), max(vals)
    return num(lo) if lo == hi else f"{num(lo)}-{num(hi)}"


def check_grad_norm(ph: PhaseData, ctx: Context) -> Finding | None:
    rules = ctx.rules
    steps, vals = ph.series("grad_norm")
    if not vals:
        return None
    rs, rv = steps[-ctx.window :], vals[-ctx.window :]
    med, hi = median(rv), max(rv)
    peak = max(vals)
    peak_step = steps[vals.index(peak)]
    tr = trend(rv, rules.trend_flat)
    ev: dict[str, Any] = {
        "recent_median": med,
        "recent_min": min(rv),
        "recent_max": hi,
        "phase_max": peak,
        "phase_max_step": peak_step,
        "trend": tr.label,
        "lines": len(rv),
    }
    msg = (
        f"{_range(rv)} over the last {len(rv)} lines (median {num(med)}, {tr.words()}); safe below "
        f"{num(rules.grad_norm_watch)}, act above {num(rules.grad_norm_act)}."
    )
    if hi > rules.grad_norm_act:
        level = "act"
        msg = (
            f"Reached {num(hi)} (step {rs[rv.index(hi)]}), above {num(rules.grad_norm_act)}: updates this large "
            f"destabilize training. Recent median {num(med)}, {tr.words()}."
        )
    elif med > rules.grad_norm_watch or hi > rules.grad_norm_watch:
        level = "watch"
        msg = (
            f"Above the safe level of {num(rules.grad_norm_watch)}: {_range(rv)} over the last {len(rv)} lines "
            f"(median {num(med)}, {tr.words()}); above {num(rules.grad_norm_act)} it is time to act."
        )
    elif peak > rules.grad_norm_act and ctx.judge_history:
        level = "watch"
        msg += f" Earlier in this phase it reached {num(peak)} (step {peak_step}) and has settled since."
    else:
        level = "ok"
        if peak > 1.5 * med and peak_step < rs[0]:
            msg += f" Earlier in this phase it peaked at {num(peak)} (step {peak_step}) and has come down."
    base = ctx.baseline.get("grad_norm")
    if ph.name == "adversarial" and base and med > 1.5 * base:
        msg += (
            f" It went up from a median of {num(base)} in phase 1: the reconstruction and adversarial "
            "terms pull the decoder in different directions, so the gradients are larger and noisier."
        )
        ev["phase1_median"] = base
    w = ctx.recipe.get("pixelloss_weight")
    bs = ctx.recipe.get("batch_size")
    clip = ctx.recipe.get("clip_grad")
    if ph.name == "adversarial" and base:
        same = []
        if w is not None and w > 1:
            same.append(f"pixelloss_weight = {num(w)}")
            ev["pixelloss_weight"] = w
        if bs is not None and int(bs) == 1:
            same.append("batch_size = 1")
            ev["batch_size"] = 1
        if same:
            msg += f" What phase 1 says about {' and '.join(same)} holds here too."
        w = bs = None
    if w is not None and w > 1:
        msg += (
            f" pixelloss_weight = {num(w)} multiplies the pixel term's gradient by {num(w)}, so a norm of "
            "several units is expected where about 0.5-1.5 is usual at weight 1 (the perceptual and KL "
            f"terms are not scaled, so the total grows by less than {num(w)}x)."
        )
        ev["pixelloss_weight"] = w
    if bs is not None and int(bs) == 1:
        msg += " batch_size = 1: every step sees one clip, so the gradient is a noisy estimate and its norm jumps."
        ev["batch_size"] = 1
    if clip is not None and clip > 0:
        frac = sum(v > clip for v in rv) / len(rv)
        ev["clip_grad"] = clip
        ev["clipped_fraction"] = frac
        msg += f" The logged norm is taken before clipping: with clip_grad = {num(clip)}, "
        if frac >= 0.999:
            msg += (
                f"every one of these steps was scaled down to length {num(clip)}, so the optimizer takes "
                "fixed-length steps; the logged number shows how hard the losses pull, not how far the "
                "weights moved (raising a loss weight further only turns the direction)."
            )
        elif frac > 0:
            msg += f"{pct(frac)} of these steps were scaled down to length {num(clip)}, which hides their true size."
        else:
            msg += "no recent step was large enough to be clipped."
    advice = ""
    if level == "act":
        advice = (
            ("Lower disc_weight or the lr" if ph.name == "adversarial" else "Lower the lr")
            + ", make sure clip_grad is applied to the generator, and resume from a checkpoint before "
            f"step {rs[rv.index(hi)]} if the losses jumped too."
        )
    elif level == "watch":
        advice = f"Keep an eye on it; act if it goes above {num(rules.grad_norm_act)}."
    return Finding("grad_norm", level, msg, ev, ph.name, advice)


def check_rec_loss(ph: PhaseData, ctx: Context) -> Finding | None:
    rules = ctx.rules
    steps, vals = ph.series("rec_loss")
    if not vals:
        return None
    rv = vals[-ctx.window :]
    cur = median(rv)
    tr = trend(rv, rules.trend_flat)
    ev: dict[str, Any] = {
        "first": vals[0],
        "first_step": steps[0],
        "last": vals[-1],
        "last_step": steps[-1],
        "recent_median": cur,
        "trend": tr.label,
    }
    if ph.name == "vae":
        k = max(3, ctx.window // 2)
        head = vals[: -len(rv)]
        best = None
        # the rolling median is only needed when the recent level could be a rise at all
        if len(head) >= k and cur > rules.rec_loss_rise_watch * min(head) and tr.label == "rising":
            best = min(rolling_median(head, k)[k - 1 :])
        msg = (
            f"{num(vals[0])} at step {steps[0]} -> {num(vals[-1])} at step {steps[-1]} (recent median "
            f"{num(cur)}, {tr.words()})."
        )
        if best and cur > rules.rec_loss_rise_watch * best and tr.label == "rising":
            ev["best_earlier"] = best
            return Finding(
                "rec_loss",
                "watch",
                msg + f" It has climbed to {num(cur / best)}x its best level of {num(best)} in this phase.",
                ev,
                ph.name,
                "Check the lr schedule and the data (a new, harder shard?) if it keeps rising.",
            )
        if tr.label == "falling":
            tail = " Still improving."
        elif tr.label == "rising":
            tail = " Drifting up a little, not enough to worry about; watch if it keeps climbing."
        else:
            tail = " Steady; the moves between lines are clip-to-clip noise."
        return Finding("rec_loss", "ok", msg + tail, ev, ph.name)
    # phase 2: the spike at disc_start and its recovery
    base = ctx.baseline.get("rec_loss")
    ds = ctx.disc_start
    if not base or ds is None:
        msg = (
            f"{num(vals[0])} at step {steps[0]} -> {num(vals[-1])} at step {steps[-1]} (recent median "
            f"{num(cur)}, {tr.words()}). The log has no phase-1 lines, so the spike at disc_start cannot "
            "be measured."
        )
        if tr.label == "rising":
            return Finding("rec_loss", "watch", msg, ev, ph.name, "Watch whether it keeps rising.")
        return Finding("rec_loss", "ok", msg, ev, ph.name)
    peak = max(vals)
    peak_step = steps[vals.index(peak)]
    thr = rules.rec_loss_recovered * base
    since = steps[-1] - ds
    ev.update(
        {
            "phase1_level": base,
            "peak": peak,
            "peak_step": peak_step,
            "spike_ratio": peak / base,
            "recovered_below": thr,
            "steps_since_disc_start": since,
        }
    )
    if peak < rules.rec_loss_spike * base:
        msg = (
            f"No real spike when the discriminator started: at most {num(peak)} (step {peak_step}) against "
            f"{num(base)} before; now {num(cur)} ({tr.words()})."
        )
        return Finding("rec_loss", "ok", msg, ev, ph.name)
    k = max(3, min(9, ctx.window // 4))
    pk = vals.index(peak)
    rec_idx = next((i for i in range(pk, len(vals)) if median_at(vals, i, k) <= thr), None)
    recovered_now = cur <= thr
    spike = (
        f"rec_loss jumped from {num(base)} (end of phase 1) to {num(peak)} at step {peak_step}, "
        f"{num(peak / base)}x, {peak_step - ds} steps after the discriminator started at step {ds}."
    )
    if rec_idx is not None:
        ev["recovered_step"] = steps[rec_idx]
        ev["recovery_steps"] = steps[rec_idx] - ds
    if recovered_now and rec_idx is not None:
        msg = (
            spike
            + f" That is the expected reaction to the new adversarial term, and it recovered: back under "
            f"{num(thr)} ({num(rules.rec_loss_recovered)}x the phase-1 level) at step {steps[rec_idx]}, "
            f"{steps[rec_idx] - ds} steps after disc_start ({steps[rec_idx] - peak_step} after the peak). "
            f"Now {num(cur)} ({tr.words()})."
        )
        return Finding("rec_loss", "ok", msg, ev, ph.name)
    relapse = ""
    if rec_idx is not None:
        relapse = f" It was back under {num(thr)} at step {steps[rec_idx]} but has climbed again."
    deadline = ctx.in_units(rules.rec_loss_deadline_steps)
    if deadline is None or since <= deadline:
        ev["expected"] = True
        level = f"{num(thr)} ({num(rules.rec_loss_recovered)}x the phase-1 level)"
        if deadline is None:
            ev["deadline_unknown"] = True
            msg = (
                spike + f" {since} {ctx.unit}s into phase 2 it is at {num(cur)} ({tr.words()}), above {level}. "
                f"The log does not say how many optimizer steps a {ctx.unit} is, so the recovery deadline of "
                f"{num(rules.rec_loss_deadline_steps)} steps cannot be placed." + relapse
            )
            advice = (
                f"Let it run; rec_loss should be back under {num(thr)} within about "
                f"{num(rules.rec_loss_deadline_steps)} optimizer steps of disc_start."
            )
        else:
            msg = (
                spike + " That is expected: the decoder is adapting to the discriminator. "
                f"{since} {ctx.unit}s into phase 2 it is at {num(cur)} ({tr.words()}); it should get back under "
                f"{level} within about {num(deadline)} {ctx.unit}s of disc_start." + relapse
            )
            advice = f"Let it run; check that rec_loss is under {num(thr)} by {ctx.unit} {int(ds + deadline)}."
        return Finding("rec_loss", "watch", msg, ev, ph.name, advice)
    msg = (
        spike + f" {since} steps later it has still not recovered: {num(cur)} now ({num(cur / base)}x the "
        f"phase-1 level, {tr.words()}), above {num(thr)}."
        + relapse
        + " The adversarial term is winning over "
        "reconstruction."
    )
    return Finding(
        "rec_loss",
        "act",
        msg,
        ev,
        ph.name,
        "Lower disc_weight (or the discriminator's lr), or restart phase 2 from the checkpoint at "
        "disc_start with a later or softer discriminator start.",
    )


def check_perception(ph: PhaseData, ctx: Context) -> Finding | None:
    rules = ctx.rules
    steps, vals = ph.series("perception_loss")
    if not vals:
        return None
    rv = vals[-ctx.window :]
    cur = median(rv)
    tr = trend(rv, rules.trend_flat)
    pw = ctx.recipe.get("perceptual_weight")
    ceiling = rules.perception_ceiling * (pw if pw else 1.0)
    ev = {
        "first": vals[0],
        "first_step": steps[0],
        "last": vals[-1],
        "last_step": steps[-1],
        "recent_median": cur,
        "ceiling": ceiling,
        "trend": tr.label,
    }
    if pw == 0 and not any(vals):
        ev["perceptual_off"] = True
        return Finding(
            "perception_loss",
            "ok",
            "Off: perceptual_weight = 0, so no LPIPS term trains the model and perception_loss logs 0. "
            "Reconstructions rely on the pixel loss (and the discriminator in phase 2) for sharpness; "
            "with LPIPS weights available, perceptual_weight = 1 usually gives crisper texture.",
            ev,
            ph.name,
        )
    if ctx.recipe.get("lpips_random_backbone"):
        ev["random_backbone"] = True
        return Finding(
            "perception_loss",
            "ok",
            f"{num(vals[0])} at step {steps[0]} -> {num(vals[-1])} at step {steps[-1]} ({tr.words()}), but "
            "measured with a random LPIPS backbone (lpips_random_backbone = true): these numbers are not "
            "LPIPS, so the ceiling of real LPIPS does not apply and nothing is judged.",
            ev,
            ph.name,
        )
    if not ctx.conv.lpips_mean:
        return _perception_by_trend(ph, ctx, steps, vals, ev)
    scaled = f" (0.10 x perceptual_weight {num(pw)})" if pw and pw != 1 else ""
    msg = (
        f"{num(vals[0])} at step {steps[0]} -> {num(vals[-1])} at step {steps[-1]} (recent median {num(cur)}, "
        f"{tr.words()})"
    )
    if cur > ceiling:
        return Finding(
            "perception_loss",
            "watch",
            msg
            + f", above the ceiling of {num(ceiling)}{scaled}: reconstructions are likely to look blurry.",
            ev,
            ph.name,
            "Look at the sample images; if they are soft, raise perceptual_weight or lower kl_weight.",
        )
    return Finding(
        "perception_loss",
        "ok",
        msg
        + f", below the ceiling of {num(ceiling)}{scaled}, under which frames keep their texture and edges.",
        ev,
        ph.name,
    )


def _perception_by_trend(
    ph: PhaseData, ctx: Context, steps: list[int], vals: list[float], ev: dict[str, Any]
) -> Finding:
    """Perception of a log not known to hold a mean LPIPS (a raw p_loss sum, a weighted term, a
    VQ trainer's early epochs): judged by its trend and its level against its own best."""
    rules = ctx.rules
    rv = vals[-ctx.window :]
    cur = median(rv)
    tr = trend(rv, rules.trend_flat)
    best = min(vals)
    ev.pop("ceiling", None)
    ev.update({"judged_by": "trend", "best": best, "best_step": steps[vals.index(best)]})
    msg = (
        f"{num(vals[0])} at step {steps[0]} -> {num(vals[-1])} at step {steps[-1]} (recent median {num(cur)}, "
        f"{tr.words()}). This log's perception term is not known to be a mean LPIPS (trainer: "
        f"{ctx.conv.trainer}), so the 0.10 ceiling of a mean LPIPS is not applied; it is judged by its trend."
    )
    head = vals[: -len(rv)]
    if tr.label == "rising" and head and cur > rules.rec_loss_rise_watch * min(head):
        return Finding(
            "perception_loss",
            "watch",
            msg + f" It has climbed to {num(cur / min(head))}x its best earlier level of {num(min(head))}.",
            ev,
            ph.name,
            "Look at the sample images; if texture is getting worse, check the lr and the adversarial weight.",
        )
    tail = {"falling": " Still improving.", "rising": " Drifting up a little; watch if it keeps climbing."}
    return Finding("perception_loss", "ok", msg + tail.get(tr.label, " Steady."), ev, ph.name)


def check_kl(ph: PhaseData, ctx: Context) -> Finding | None:
    rules = ctx.rules
    steps, kl_vals = ph.series("kl_loss")
    if not kl_vals:
        return None
    kl = ctx.kl or KLWeight(None, "unknown")
    shares, terms = [], []
    silenced_lines = 0
    for r in ph.records[-ctx.window :]:
        vals = _finite_vals(r, "vae_loss", "nll_loss")
        if vals is None:
            continue
        v, n = vals
        d = v - n
        if abs(d) <= _tol(rules, r.q("vae_loss") + r.q("nll_loss"), v, n):
            silenced_lines += 1
            k = r.values.get("kl_loss")
            d = kl.value * k if kl.value and k is not None and math.isfinite(k) else 0.0
        terms.append(d)
        shares.append(d / v if v > 0 else math.nan)
    kr = kl_vals[-ctx.window :]
    tr = trend(kr, rules.trend_flat)
    ev: dict[str, Any] = {
        "kl_loss_first": kl_vals[0],
        "kl_loss_last": kl_vals[-1],
        "kl_loss_trend": tr.label,
        "kl_weight": kl.value,
        "kl_weight_source": kl.source,
    }
    klpart = f"kl_loss {num(kl_vals[0])} at step {steps[0]} -> {num(kl_vals[-1])} at step {steps[-1]} ({tr.words()})"
    if not shares:
        if kl.value is None:
            return Finding("kl_loss", "ok", f"kl_weight unknown; {klpart}.", ev, ph.name)
        term = kl.value * median(kr)
        ev["kl_term"] = term
        return Finding(
            "kl_loss",
            "ok",
            f"kl_weight {num(kl.value)} x kl_loss = {num(term)}; {klpart} (no vae_loss/nll_loss to weigh it against).",
            ev,
            ph.name,
        )
    share = median(shares)
    term = median(terms) if terms else math.nan
    ev.update({"kl_share_of_vae_loss": share, "kl_term": term})
    if kl.source == "recipe":
        wtext = f"kl_weight {num(kl.value)} (recipe)"
    elif kl.source == "silenced":
        wtext = f"kl_weight at most {num(kl.upper_bound)} (inferred: vae_loss equals nll_loss to the printed precision)"
        ev["kl_weight_upper_bound"] = kl.upper_bound
    elif kl.source == "inferred":
        wtext = f"kl_weight about {num(kl.value)} (inferred from (vae_loss - nll_loss) / kl_loss)"
    else:
        wtext = "kl_weight unknown"
    if shares and (silenced_lines == len(shares) or share < rules.kl_silenced):
        ev["silenced"] = True
        tterm = f" x kl_loss {num(kl_vals[-1])} = {num(kl.value * kl_vals[-1])}" if kl.value else ""
        msg = (
            f"KL is silenced: {wtext}{tterm}, so vae_loss equals nll_loss and the KL term adds nothing "
            f"({klpart}: large, but it carries no weight). The model trains as a plain autoencoder: sharp "
            "reconstructions, but the latent is not pulled toward N(0, 1), which makes it harder for a "
            "diffusion model to generate from. Fine when compression quality is the goal."
        )
        return Finding("kl_loss", "ok", msg, ev, ph.name)
    nll = median([r.values["nll_loss"] for r in ph.records[-ctx.window :] if "nll_loss" in r.values])
    body = (
        f"{wtext}; the KL term is {num(term)} of vae_loss {num(term + nll) if math.isfinite(nll) else ''} "
        f"({pct(share)}) against nll_loss {num(nll)}; {klpart}."
    )
    ev["nll_loss"] = nll
    if share > rules.kl_dominant_act:
        ev["dominant"] = True
        return Finding(
            "kl_loss",
            "act",
            "KL dominates the loss: "
            + body
            + " Reconstruction barely steers training, so expect blurry output.",
            ev,
            ph.name,
            "Lower kl_weight (around 1e-6 is common for video VAEs; 1e-12 turns it off) unless a strongly "
            "regularized latent is the goal.",
        )
    if share > rules.kl_dominant_watch:
        ev["dominant"] = True
        return Finding(
            "kl_loss",
            "watch",
            "KL outweighs reconstruction: " + body,
            ev,
            ph.name,
            "If reconstructions look soft, lower kl_weight.",
        )
    return Finding("kl_loss", "ok", "KL is active but not dominant: " + body, ev, ph.name)


def _left_band(steps: list[int], vals: list[float], lo: float, hi: float, k: int) -> int | None:
    """The step after which the rolling median stayed outside [lo, hi] until the end."""
    idx = None
    for i in range(len(vals) - 1, -1, -1):
        if lo <= median_at(vals, i, k) <= hi:
            break
        idx = i
    return steps[idx] if idx is not None else None


def check_disc_loss(ph: PhaseData, ctx: Context) -> Finding | None:
    rules = ctx.rules
    if ph.name != "adversarial":
        return None
    steps, raw = ph.series("disc_loss")
    if not raw:
        return None
    # disc_loss carries disc_factor (and, in some trainers, disc_weight); judge it per unit
    scale = {int(r.step or 0): _disc_scale(r, ctx.conv) for r in ph.records}
    vals = [v / scale[st] if scale.get(st) else v for st, v in zip(steps, raw)]
    rv = vals[-ctx.window :]
    cur = median(rv)
    tr = trend(rv, rules.trend_flat)
    conv = ctx.conv
    chance = conv.chance
    lo, hi = rules.disc_loss_low * chance, rules.disc_loss_high * chance
    collapse, broken = rules.disc_loss_collapse * chance, rules.disc_loss_broken * chance
    gan = GAN_WORDS[conv.gan_loss]
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
    since = f" (outside the band since step {left})" if left is not None and left > steps[0] else ""
    per = f" per unit {' x '.join(scaled)} (the trainer logs it multiplied)" if scaled else ""
    head = f"{_range(rv)}{per} over the last {len(rv)} lines (median {num(cur)}, {tr.words()})"
    if conv.trainer != "vaekit":
        head += f"; {gan} loss assumed (from the {conv.gan_source}), chance level {num(chance)}"
    if cur < collapse:
        return Finding(
            "disc_loss",
            "act",
            f"Collapsed towards 0: {head}{since}. The discriminator tells real from reconstructed clips "
            "apart almost perfectly, so its feedback to the decoder stops being useful and tends to "
            "turn into artifacts.",
            ev,
            ph.name,
            "Lower disc_weight or the discriminator's lr, or resume phase 2 from a checkpoint before "
            f"step {left if left is not None else steps[0]}.",
        )
    if cur > broken:
        return Finding(
            "disc_loss",
            "act",
            f"Far above the band: {head}{since}. The discriminator is broken (not learning, or its "
            "loss sign is wrong).",
            ev,
            ph.name,
            "Check the discriminator's optimizer step and loss; restart phase 2 once fixed.",
        )
    if cur < lo:
        return Finding(
            "disc_loss",
            "watch",
            f"Below the healthy band {num(lo)}-{num(hi)}: {head}{since}. The discriminator is gaining the "
            "upper hand; near 0 it overpowers the decoder.",
            ev,
            ph.name,
            f"Watch it; act if it falls under {num(collapse)}.",
        )
    if cur > hi:
        return Finding(
            "disc_loss",
            "watch",
            f"Above the healthy band {num(lo)}-{num(hi)}: {head}{since}. The discriminator is struggling "
            f"to tell real from fake (with {gan} loss, {num(chance)} means it cannot tell them apart at all).",
            ev,
            ph.name,
            f"Watch it; around {num(broken)} the discriminator is broken.",
        )
    return Finding(
        "disc_loss",
        "ok",
        f"{head}, inside the healthy band {num(lo)}-{num(hi)}: the discriminator and the decoder are evenly "
        f"matched (a {gan} discriminator that cannot tell them apart at all scores {num(chance)}).",
        ev,
        ph.name,
    )


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


def check_logits(ph: PhaseData, ctx: Context) -> Finding | None:
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
    real = median([p[1] for p in recent])
    fake = median([p[2] for p in recent])
    gaps = [p[1] - p[2] for p in recent]
    gap = median(gaps)
    half = len(gaps) // 2
    widening = half >= 2 and (median(gaps[-half:]) - median(gaps[:half])) > rules.logits_gap_watch / 2
    ev = {"logits_real": real, "logits_fake": fake, "gap": gap, "widening": widening}
    head = (
        f"logits_real {real:+.2f} vs logits_fake {fake:+.2f} (medians of the last {len(recent)} lines; "
        f"gap {gap:+.2f}"
    )
    head += ", widening)" if widening else ")"
    if gap >= rules.logits_gap_act:
        return Finding(
            "logits",
            "act",
            f"{head}: the discriminator separates real from reconstructed clips by its whole hinge margin; "
            "it is winning outright.",
            ev,
            ph.name,
            "Lower disc_weight or the discriminator's lr; look at disc_loss too.",
        )
    if gap >= rules.logits_gap_watch or (widening and gap > rules.logits_gap_watch / 2):
        return Finding(
            "logits",
            "watch",
            f"{head}: the discriminator is pulling ahead of the decoder.",
            ev,
            ph.name,
            f"Watch the gap; act if it passes {num(rules.logits_gap_act)}.",
        )
    if gap <= -rules.logits_gap_watch:
        return Finding(
            "logits",
            "watch",
            f"{head}: the discriminator rates reconstructions as more real than real clips, so it is not "
            "learning (lr too low, or its step never applied?).",
            ev,
            ph.name,
            "Check that the discriminator's optimizer steps.",
        )
    return Finding(
        "logits",
        "ok",
        f"{head}: close together, so the discriminator can barely tell real from reconstructed: a balanced "
        "game, which is what pushes the decoder to realistic texture.",
        ev,
        ph.name,
    )


def check_d_weight(ph: PhaseData, ctx: Context) -> Finding | None:
    rules = ctx.rules
    if ph.name != "adversarial":
        return None
    steps, vals = ph.series("d_weight")
    if not vals:
        return None
    rv = vals[-ctx.window :]
    cur = median(rv)
    peak = max(vals)
    peak_step = steps[vals.index(peak)]
    ev: dict[str, Any] = {
        "first": vals[0],
        "first_step": steps[0],
        "last": vals[-1],
        "peak": peak,
        "peak_step": peak_step,
        "recent_median": cur,
    }
    hist = f"{num(vals[0])} at step {steps[0]}"
    if peak_step not in (steps[0], steps[-1]):
        hist += f", {num(peak)} at step {peak_step}"
    hist += f", {num(vals[-1])} at step {steps[-1]} (recent median {num(cur)})"
    # loudness in the loss itself: |d_weight * disc_factor * g_loss| against nll_loss
    ratios = []
    for r in ph.records[-ctx.window :]:
        vv = _finite_vals(r, "d_weight", "g_loss", "nll_loss")
        if vv and vv[2] > 0:
            df = r.values.get("disc_factor", 1.0)
            ratios.append(abs(vv[0] * (df if math.isfinite(df) else 1.0) * vv[1]) / vv[2])
    loud = ""
    if ratios:
        lr = median(ratios)
        ev["adversarial_over_nll"] = lr
        loud = (
            f" In the loss itself, |d_weight x g_loss| is {num(lr)}x nll_loss: the adversarial term is "
            + ("louder than" if lr > 1.2 else "quieter than" if lr < 0.8 else "about as loud as")
            + " reconstruction."
        )
    dw_scale = ctx.recipe.get("disc_weight") or 1.0
    clamp = ctx.conv.d_weight_clamp or rules.d_weight_clamp
    if ctx.conv.d_weight_at_clamp_is_normal and cur >= rules.d_weight_watch:
        ev["clamp"] = clamp
        return Finding(
            "d_weight",
            "ok",
            f"Large: {hist}. Expected for this trainer ({ctx.conv.trainer}): its NLL is a sum over pixels, so "
            f"the reconstruction gradient dwarfs the adversarial one and the adaptive weight sits near its clamp "
            f"({num(clamp)} x disc_weight); its maintainers call this normal.{loud}",
            ev,
            ph.name,
        )
    why = (
        " The adaptive weight scales the adversarial loss so that its gradient at the decoder's last "
        "layer is disc_weight times the reconstruction gradient; a large d_weight means the raw "
        "adversarial gradient is weak and is being amplified."
    )
    if cur >= 0.999 * clamp * dw_scale:
        return Finding(
            "d_weight",
            "act",
            f"At its clamp: {hist}. The discriminator's gradient at the decoder output has vanished, so the "
            "adversarial term is pure amplified noise." + loud,
            ev,
            ph.name,
            "Check the discriminator (is it learning?) and the last-layer gradient used for d_weight.",
        )
    if cur >= rules.d_weight_watch:
        return Finding(
            "d_weight",
            "watch",
            f"Very large: {hist}.{why}{loud}",
            ev,
            ph.name,
            "Check that the discriminator still learns (disc_loss, logits) and that g_loss is not vanishing.",
        )
    if max(vals) <= 0:
        return Finding(
            "d_weight",
            "watch",
            f"Always 0 in phase 2 ({hist}): the adversarial term has no effect on the decoder.",
            ev,
            ph.name,
            "Check disc_weight and the adaptive weight computation.",
        )
    return Finding("d_weight", "ok", f"{hist}.{why}{loud}", ev, ph.name)


def check_total_loss(ph: PhaseData, ctx: Context) -> Finding | None:
    if ph.name != "adversarial":
        return None
    recs = [r for r in ph.records if _finite_vals(r, "total_loss") is not None]
    if not recs:
        return None
    neg = [r for r in recs if r.values["total_loss"] < 0]
    ev: dict[str, Any] = {"negative_lines": len(neg), "lines": len(recs)}
    if not neg:
        return Finding(
            "total_loss",
            "ok",
            f"Positive in all {len(recs)} phase-2 lines (latest {num(recs[-1].values['total_loss'])}).",
            ev,
            ph.name,
        )
    r = neg[-1]
    parts = _finite_vals(r, "vae_loss", "d_weight", "g_loss")
    expl = ""
    if parts:
        v, dw, g = parts
        df = r.values.get("disc_factor", 1.0)
        dft = f" x disc_factor {num(df)}" if df != 1.0 else ""
        expl = (
            f" (e.g. step {r.step}: {num(r.values['total_loss'])} = vae_loss {num(v)} + d_weight {num(dw)}{dft} "
            f"x g_loss {num(g)})"
        )
        ev.update(
            {
                "example_step": r.step,
                "total_loss": r.values["total_loss"],
                "vae_loss": v,
                "d_weight": dw,
                "g_loss": g,
            }
        )
    gan = ctx.recipe.get("gan_loss", "hinge")
    return Finding(
        "total_loss",
        "ok",
        f"Negative in {len(neg)} of {len(recs)} phase-2 lines{expl}. That is normal: g_loss = -mean "
        f"D(reconstruction) turns negative as soon as the discriminator scores reconstructions as real, "
        f"and with {gan} loss nothing bounds it at 0, so d_weight x g_loss can outweigh vae_loss.",
        ev,
        ph.name,
    )


def check_val(val: list[Record], ctx: Context) -> Finding | None:
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
    msg = f"val/psnr {last:.2f} dB at step {last_step} (best {best:.2f} dB at step {best_step}, {len(pts)} evaluations)"
    ema = [r.values["val/psnr_ema"] for r in val if math.isfinite(r.values.get("val/psnr_ema", math.nan))]
    if ema:
        ev["last_ema"] = ema[-1]
        msg += f"; with EMA weights {ema[-1]:.2f} dB"
    ssim = [r.values["val/ssim"] for r in val if math.isfinite(r.values.get("val/ssim", math.nan))]
    if ssim:
        ev["last_ssim"] = ssim[-1]
        msg += f"; SSIM {ssim[-1]:.3f}"
    drop = best - last
    if drop > ctx.rules.val_psnr_drop:
        ds = ctx.disc_start
        deadline = ctx.in_units(ctx.rules.rec_loss_deadline_steps)
        expected = ds is not None and 0 <= last_step - ds <= (deadline if deadline is not None else math.inf)
        ev["drop_db"] = drop
        if expected:
            ev["expected"] = True
        return Finding(
            "val/psnr",
            "watch",
            msg
            + f". It dropped {drop:.2f} dB from its best"
            + (", expected while the decoder adapts to the discriminator." if expected else "."),
            ev,
            "all",
            "Compare the sample images at the best and the latest step.",
        )
    return Finding("val/psnr", "ok", msg + ".", ev, "all")


PHASE_CHECKS = (
    check_rec_loss,
    check_perception,
    check_kl,
    check_grad_norm,
    check_d_weight,
    check_disc_loss,
    check_logits,
    check_total_loss,
)
