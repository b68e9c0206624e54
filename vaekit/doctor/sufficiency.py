"""When a log is too thin to judge: the ``insufficient`` verdict and what would be needed.

A log is insufficient when it has fewer training lines than ``Rules.insufficient_lines`` (one
epoch, one pasted line), or when none of its metrics is one the rules judge (only a generic
``loss``, only keys the alias table does not know, a discriminator that has not started and
nothing else). NaN / inf is judged however short the log: a diverged run is never insufficient.
"""

from __future__ import annotations

from typing import Any

from .logs import Run
from .report import Finding
from .rules import Rules

JUDGED_KEYS = ("rec_loss", "perception_loss", "kl_loss", "grad_norm", "disc_loss", "logits_real", "d_weight")


def judge_sufficiency(run: Run, findings: list[Finding], phases: dict[str, Any], rules: Rules) -> dict | None:
    """``None`` when the log can be judged; else ``{"reason": ..., "needed": [...]}``."""
    if any(f.metric == "nonfinite" and f.level == "act" for f in findings):
        return None
    lines = len(run.train)
    unit = run.unit if run.unit != "line" else "log line"
    judged = [f for f in findings if f.phase != "all"]
    reasons: list[str] = []
    needed: list[str] = []
    minimum = int(rules.insufficient_lines)
    if lines < minimum:
        reasons.append(f"{lines} training {unit}{'s' if lines != 1 else ''}")
        needed.append(
            f"at least {minimum} logged {unit}s, so that levels and trends can be told from noise "
            f"(this log has {lines})"
        )
    present = [k for k in JUDGED_KEYS if any(k in r.values for r in run.train)]
    if not judged:
        reasons.append("no metric the rules judge")
        have = sorted({k for r in run.train for k in r.values})
        needed.append(
            "a loss the rules judge: rec_loss, perception_loss, kl_loss (with vae_loss / nll_loss), grad_norm, "
            f"or, once the discriminator runs, disc_loss / logits / d_weight (the log has: {', '.join(have)})"
        )
    if phases.get("phase2") is None and any(r.values.get("disc_loss") == 0 for r in run.train):
        needed.append("the discriminator to start (disc_loss is 0 in every line) before phase 2 can be judged")
    if run.keys.unrecognised and (reasons or not present):
        names = ", ".join(sorted(run.keys.unrecognised))
        needed.append(
            f"a name for the keys it did not recognise ({names}): if they are losses the rules know, map them "
            "with an [aliases] table in --rules"
        )
    if not reasons:
        return None
    return {"reason": " and ".join(reasons), "needed": needed}
