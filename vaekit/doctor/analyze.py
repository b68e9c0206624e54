"""Find the phases of a run, then run every health rule over them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .checks import (
    LINE_CHECKS,
    LOG_CHECKS,
    PHASE_CHECKS,
    VAL_CHECKS,
    Context,
    PhaseData,
    infer_kl_weight,
)
from .conventions import Conventions, conventions_for, detect_trainer, infer_gan_loss
from .logs import Record, Run
from .report import Finding, Report, in_unit_words
from .rules import DEFAULT_RULES, Rules
from .stats import median, trend
from .sufficiency import judge_sufficiency

DEFAULT_WINDOW = 20
_DISC_KEYS = ("disc_loss", "disc_factor", "g_loss", "logits_real", "d_weight")
_ADVERSARIAL_PHASES = {"adversarial", "gan", "disc", "discriminator", "phase2", "2"}


@dataclass
class Phases:
    split: int  # index of the first phase-2 line (len(records) when phase 2 has not begun)
    disc_start: int | None
    source: str | None

    def to_dict(self, records: list[Record], recipe: dict[str, Any]) -> dict[str, Any]:
        def span(recs: list[Record]) -> dict[str, Any] | None:
            if not recs:
                return None
            return {"first_step": recs[0].step, "last_step": recs[-1].step, "lines": len(recs)}

        d: dict[str, Any] = {
            "disc_start": self.disc_start,
            "disc_start_source": self.source,
            "phase1": span(records[: self.split]),
            "phase2": span(records[self.split :]),
        }
        if recipe.get("disc_start") is not None:
            d["recipe_disc_start"] = int(recipe["disc_start"])
        if not any(k in r.values for r in records for k in _DISC_KEYS):
            d["no_discriminator_values"] = True
        return d


def _first(records: list[Record], pred) -> int | None:
    return next((i for i, r in enumerate(records) if pred(r)), None)


def detect_phases(records: list[Record], recipe: dict[str, Any] | None = None) -> Phases:
    """Where the discriminator starts: the ``phase`` field, ``disc_factor`` going from 0 to > 0,
    or ``disc_loss`` first appearing (or first turning non-zero)."""
    recipe = recipe or {}
    idx, source = None, None
    if any(r.phase for r in records):
        idx = _first(records, lambda r: (r.phase or "").lower() in _ADVERSARIAL_PHASES)
        source = "phase"
    elif any("disc_factor" in r.values for r in records):
        idx = _first(records, lambda r: r.values.get("disc_factor", 0) > 0)
        source = "disc_factor"
    elif any("disc_loss" in r.values for r in records):
        first_present = _first(records, lambda r: "disc_loss" in r.values)
        if first_present:
            idx = first_present
        else:
            nz = _first(records, lambda r: r.values.get("disc_loss", 0) != 0)
            idx = nz
        source = "disc_loss"
    if idx is None:
        return Phases(len(records), None, None)
    ds_recipe = recipe.get("disc_start")
    if idx == 0:
        first = records[0].step or 0
        if ds_recipe is not None and ds_recipe <= first:
            return Phases(0, int(ds_recipe), "recipe")
        return Phases(0, None, None)
    step = int(records[idx].step or 0)
    prev = int(records[idx - 1].step or 0)
    if ds_recipe is not None and prev < ds_recipe <= step:
        step = int(ds_recipe)  # the switch happened between two log lines; the recipe is exact
    return Phases(idx, step, source)


def build_context(
    records: list[Record],
    phases: Phases,
    recipe: dict[str, Any],
    rules: Rules,
    window: int,
) -> Context:
    ctx = Context(rules=rules, window=window, recipe=recipe, disc_start=phases.disc_start)
    p1 = records[: phases.split][-window:]
    for key in ("rec_loss", "grad_norm", "perception_loss"):
        vals = [r.values[key] for r in p1 if key in r.values and math.isfinite(r.values[key])]
        if vals:
            # the level just before disc_start: a phase 1 still falling ends below its median
            if trend(vals, rules.trend_flat).label == "falling":
                vals = vals[-max(3, len(vals) // 4) :]
            ctx.baseline[key] = median(vals)
    ctx.kl = infer_kl_weight(records, ctx)
    return ctx


def diagnose(run: Run, rules: Rules | None = None, window: int = DEFAULT_WINDOW) -> Report:
    """Judge a parsed run. ``window`` is the number of recent lines per phase that the rules
    judge the current state (and the trend) on."""
    if window < 2:
        raise ValueError("window must be at least 2 lines")
    rules = rules or DEFAULT_RULES
    recipe = run.recipe()
    gb = next((r.values["global_batch_size"] for r in run.train if "global_batch_size" in r.values), None)
    if gb is not None:
        recipe["batch_size"] = int(gb)  # clips per optimizer step over all ranks
    records = run.train
    # a recipe's disc_start counts optimizer steps; it cannot place a switch in an epoch-unit log
    phase_recipe = recipe if run.unit == "step" else {k: v for k, v in recipe.items() if k != "disc_start"}
    phases = detect_phases(records, phase_recipe)
    ctx = build_context(records, phases, recipe, rules, window)
    ctx.unit = run.unit
    ctx.steps_per_unit = 1.0 if run.unit == "step" else (run.steps_per_epoch if run.unit == "epoch" else None)
    ctx.conv = read_conventions(run, records[phases.split :], recipe)
    phase_dict = phases.to_dict(records, recipe)

    found = [check(phase_dict, records, ctx) for check in LOG_CHECKS]
    found += [check(records, ctx) for check in LINE_CHECKS]
    found += [check(run.val, ctx) for check in VAL_CHECKS]
    for name, recs in (("vae", records[: phases.split]), ("adversarial", records[phases.split :])):
        if recs:
            ph = PhaseData(name, recs)
            found += [check(ph, ctx) for check in PHASE_CHECKS]
    findings: list[Finding] = [f for f in found if f is not None]
    if run.unit != "step":
        for f in findings:
            f.message, f.advice = in_unit_words(f.message, run.unit), in_unit_words(f.advice, run.unit)

    summary: dict[str, Any] = {
        "lines": len(records),
        "val_lines": len(run.val),
        "first_step": records[0].step,
        "last_step": records[-1].step,
        "unit": run.unit,
        "steps_per_epoch": run.steps_per_epoch,
        "window": window,
        "recipe": recipe,
        "recipe_source": run.config_source,
        "conventions": ctx.conv.to_dict(),
        "keys": dict(sorted(run.keys.mapped.items())),
        "unrecognised_keys": dict(sorted(run.keys.unrecognised.items())),
        "set_aside": dict(run.keys.set_aside),
    }
    if ctx.kl is not None:
        summary["kl_weight"] = {
            "value": ctx.kl.value,
            "source": ctx.kl.source,
            "upper_bound": ctx.kl.upper_bound,
        }
    report = Report(run.source, run.fmt, phase_dict, findings, summary, list(run.notes))
    report.insufficient = judge_sufficiency(run, findings, phase_dict, rules)
    return report


def read_conventions(run: Run, phase2: list[Record], recipe: dict[str, Any]) -> Conventions:
    """Which trainer wrote the log and how its numbers are to be read (see conventions.py)."""
    trainer, why = detect_trainer(run.keys.raw_names(), run.vaekit_run)
    conv = conventions_for(trainer, why)
    disc, gen = [], []
    for r in phase2:
        d = r.values.get("disc_loss")
        if d is not None and math.isfinite(d):
            scale = r.values.get("disc_factor") or 1.0
            for key in conv.disc_scaled_by:
                w = r.values.get(key)
                if w is not None and math.isfinite(w) and w > 0:
                    scale *= w
            disc.append(d / scale if scale > 0 else d)
        g = r.values.get("g_loss")
        if g is not None and math.isfinite(g):
            gen.append(g)
    infer_gan_loss(conv, recipe.get("gan_loss"), disc, gen)
    return conv
