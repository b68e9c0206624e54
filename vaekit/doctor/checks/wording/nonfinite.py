"""Words for the NaN / inf verdict (see ``checks/nonfinite.py``)."""

from __future__ import annotations

from ..base import Context, Verdict
from .common import fill

#: per case: (message, advice), filled by :func:`say`
TEXT = {
    "finite": ("All {values:,} logged values are finite.", ""),
    "still_there": (
        "{where} It is still there in the last {window} lines: the run has diverged or a step overflowed.",
        "Restart from a checkpoint before step {first_step} with a lower lr (or bf16/fp32 instead of fp16); look "
        "at grad_norm just before it.",
    ),
    "passed": (
        "{where} All values are finite again after step {last_step}, so the trainer skipped those steps.",
        "Check what happened around step {first_step}; if it repeats, lower the lr.",
    ),
}


def _where(bad: dict[str, list[int]]) -> str:
    parts = []
    for k, steps in sorted(bad.items(), key=lambda kv: kv[1][0]):
        where = f"step {steps[0]}" if len(steps) == 1 else f"{len(steps)} lines, steps {steps[0]}-{steps[-1]}"
        parts.append(f"{k} ({where})")
    return "NaN or inf in " + ", ".join(parts) + "."


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    where = _where(v.facts["steps"]) if "steps" in v.facts else ""
    return fill(TEXT, v.case, where=where, window=ctx.window, **v.evidence)
