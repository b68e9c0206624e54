"""Findings, the overall verdict, and the text / JSON renderings of a doctor report."""

from __future__ import annotations

import json
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..logschema import METRICS_NAME

LEVELS = ("ok", "watch", "act")
#: the overall verdict of a log too thin to judge (never the level of a single finding)
INSUFFICIENT = "insufficient"
_RANK = {name: i for i, name in enumerate(LEVELS)}
PHASE_LABELS = {"all": "Whole run", "vae": "Phase 1 (VAE)", "adversarial": "Phase 2 (adversarial)"}


def display_name(source: str) -> str:
    """``runs/tiny/metrics.jsonl`` -> ``tiny/metrics.jsonl``; other files by their name."""
    p = Path(source)
    if p.name == METRICS_NAME and p.parent.name:
        return f"{p.parent.name}/{p.name}"
    return p.name


def worst(levels: list[str]) -> str:
    return max(levels, key=lambda lv: _RANK[lv], default="ok")


def rank(level: str) -> int:
    return _RANK[level]


@dataclass
class Finding:
    """One verdict on one metric (in one phase), with the numbers behind it."""

    metric: str
    level: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    phase: str = "all"
    advice: str = ""

    def __post_init__(self) -> None:
        if self.level not in _RANK:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")

    @property
    def key(self) -> str:
        return self.metric if self.phase == "all" else f"{self.metric}@{self.phase}"

    def to_dict(self) -> dict[str, Any]:
        d = {
            "metric": self.metric,
            "level": self.level,
            "message": self.message,
            "evidence": _jsonable(self.evidence),
            "phase": self.phase,
        }
        if self.advice:
            d["advice"] = self.advice
        return d

    def __str__(self) -> str:
        where = "" if self.phase == "all" else f" ({PHASE_LABELS.get(self.phase, self.phase)})"
        text = f"[{self.level}] {self.metric}{where}: {self.message}"
        if self.advice and self.level != "ok":
            text += f" Next: {self.advice}"
        return text


@dataclass
class Report:
    source: str
    fmt: str
    phases: dict[str, Any]
    findings: list[Finding]
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: ``{"reason": ..., "needed": [...]}`` when the log is too thin to judge (see sufficiency.py)
    insufficient: dict[str, Any] | None = None

    @property
    def overall(self) -> str:
        top = worst([f.level for f in self.findings])
        if self.insufficient is not None and top != "act":
            return INSUFFICIENT
        return top

    def finding(self, metric: str, phase: str | None = None) -> Finding | None:
        for f in self.findings:
            if f.metric == metric and (phase is None or f.phase == phase):
                return f
        return None

    def next_steps(self) -> list[str]:
        top = self.overall
        if top == INSUFFICIENT:
            return ["Not enough to judge yet; what would be needed: " + "; ".join(self.insufficient["needed"]) + "."]
        steps = [f.advice for f in self.findings if f.level == top and f.advice]
        if top == "ok":
            steps = [f.advice for f in self.findings if f.advice and f.metric == "phases"]
            steps.append("Nothing to change: let the run continue.")
        elif top == "watch" and all(f.evidence.get("expected") for f in self.findings if f.level == "watch"):
            steps.insert(0, "Nothing to change yet: what is moving is expected at this point of training.")
        out: list[str] = []
        for s in steps:
            if s not in out:
                out.append(s)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "source": self.source,
            "format": self.fmt,
            "phases": _jsonable(self.phases),
            "summary": _jsonable(self.summary),
            "findings": [f.to_dict() for f in self.findings],
            "next_steps": self.next_steps(),
            "notes": list(self.notes),
            "insufficient": _jsonable(self.insufficient),
            "unrecognised_keys": _jsonable(self.summary.get("unrecognised_keys", {})),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_text(self, width: int = 100) -> str:
        return render_text(self, width)


def _jsonable(obj: Any) -> Any:
    """Evidence as strict JSON: non-finite floats become strings ('nan', 'inf')."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float):
        if math.isfinite(obj):
            return float(f"{obj:.6g}")
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


_SOURCES = {
    "phase": "the log's phase field",
    "disc_factor": "disc_factor turns on",
    "disc_loss": "disc_loss appears",
    "recipe": "recipe's disc_start",
}


def in_unit_words(text: str, unit: str) -> str:
    """Say ``epoch 11`` / ``line 11`` where a message says ``step 11`` (logs whose positions are
    epochs or log lines)."""
    if unit == "step" or not text:
        return text
    text = re.sub(r"\bsteps (?=[-\d])", f"{unit}s ", text)
    text = re.sub(r"\bstep (?=[-\d])", f"{unit} ", text)
    return re.sub(r"(?<=\d) steps\b", f" {unit}s", text)


def phase_line(phases: dict[str, Any], unit: str = "step") -> str:
    return in_unit_words(_phase_line(phases), unit)


def _phase_line(phases: dict[str, Any]) -> str:
    p1, p2, ds = phases.get("phase1"), phases.get("phase2"), phases.get("disc_start")
    parts = []
    if p1:
        parts.append(f"phase 1 (VAE) steps {p1['first_step']}-{p1['last_step']} ({p1['lines']} lines)")
    if p2:
        parts.append(
            f"phase 2 (adversarial) steps {p2['first_step']}-{p2['last_step']} ({p2['lines']} lines)"
        )
    text = "; ".join(parts)
    if ds is not None:
        how = _SOURCES.get(phases.get("disc_start_source"), phases.get("disc_start_source"))
        text += f"; the discriminator starts at step {ds} ({how})"
    elif p2 and not p1:
        text += "; the discriminator was already on at the first logged line"
    else:
        text += (
            "; the log holds no discriminator values (not started, or not logged)"
            if phases.get("no_discriminator_values")
            else "; the discriminator has not started"
        )
        if phases.get("recipe_disc_start") is not None:
            text += f" (recipe: disc_start = {phases['recipe_disc_start']})"
    return text


def render_text(report: Report, width: int = 100) -> str:
    out: list[str] = []
    summ = report.summary
    head = f"vaekit doctor: {report.source}"
    out.append(head)
    out.append("=" * min(len(head), width))
    desc = f"{summ.get('lines', '?')} training lines"
    if summ.get("val_lines"):
        desc += f", {summ['val_lines']} validation lines"
    desc += f", format {report.fmt}"
    recipe = summ.get("recipe") or {}
    if recipe:
        desc += "; recipe: " + ", ".join(f"{k}={_fmt(v)}" for k, v in recipe.items())
    else:
        desc += "; no recipe found (kl_weight is inferred from the log)"
    out.extend(textwrap.wrap(desc, width))
    unit = summ.get("unit", "step")
    out.extend(textwrap.wrap("Phases: " + phase_line(report.phases, unit), width, subsequent_indent="  "))
    conv = summ.get("conventions")
    if conv:
        read = (
            f"Read as: {conv['trainer']} log ({conv['trainer_why']}); positions are {unit}s"
            + (f" ({summ['steps_per_epoch']} batches each)" if unit == "epoch" and summ.get("steps_per_epoch") else "")
            + f"; GAN loss {conv['gan_loss']} (chance level {conv['chance_level']:.3g}; {conv['gan_loss_why']})"
            + ("; perception is a mean LPIPS" if conv["perception_is_mean_lpips"] else "; perception judged by trend")
        )
        out.extend(textwrap.wrap(read, width, subsequent_indent="  "))
    unknown = summ.get("unrecognised_keys") or {}
    if unknown:
        names = ", ".join(f"{k} ({n})" for k, n in unknown.items())
        out.extend(textwrap.wrap(f"Not recognised (kept, not judged): {names}", width, subsequent_indent="  "))
    for what, n in (summ.get("set_aside") or {}).items():
        out.extend(textwrap.wrap(f"Set aside: {n} {what}", width, subsequent_indent="  "))
    for note in report.notes:
        out.extend(textwrap.wrap("Note: " + note, width, subsequent_indent="  "))
    out.append("")
    out.append(f"Overall: {report.overall.upper()}")
    if report.insufficient is not None and report.overall == INSUFFICIENT:
        out.extend(
            textwrap.wrap(f"Too little to judge: {report.insufficient['reason']}.", width, subsequent_indent="  ")
        )
    for phase in ("all", "vae", "adversarial"):
        group = [f for f in report.findings if f.phase == phase]
        if not group:
            continue
        out.append("")
        out.append(PHASE_LABELS[phase])
        for f in group:
            tag = f"  [{f.level:<5}] {f.metric}: "
            body = f.message
            if f.evidence.get("expected"):
                body = "(expected) " + body
            out.extend(textwrap.wrap(tag + body, width, subsequent_indent=" " * 10, break_on_hyphens=False))
            if f.advice and f.level != "ok":
                out.extend(
                    textwrap.wrap(
                        "next: " + f.advice,
                        width,
                        initial_indent=" " * 10,
                        subsequent_indent=" " * 16,
                        break_on_hyphens=False,
                    )
                )
    out.append("")
    out.append("What to do next:")
    for step in report.next_steps():
        out.extend(textwrap.wrap(step, width, initial_indent="  - ", subsequent_indent="    "))
    return "\n".join(out) + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
