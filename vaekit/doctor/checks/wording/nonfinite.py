"""Words for the NaN / inf verdict (see ``checks/nonfinite.py``)."""

from __future__ import annotations

from ..base import Context, Verdict


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev = v.evidence
    if v.case == "finite":
        return f"All {ev['values']:,} logged values are finite.", ""
    parts = []
    for k, steps in sorted(v.facts["steps"].items(), key=lambda kv: kv[1][0]):
        where = f"step {steps[0]}" if len(steps) == 1 else f"{len(steps)} lines, steps {steps[0]}-{steps[-1]}"
        parts.append(f"{k} ({where})")
    text = "NaN or inf in " + ", ".join(parts) + "."
    first = ev["first_step"]
    if v.case == "still_there":
        return (
            text
            + f" It is still there in the last {ctx.window} lines: the run has diverged or a step overflowed.",
            f"Restart from a checkpoint before step {first} with a lower lr (or bf16/fp32 instead of fp16); "
            "look at grad_norm just before it.",
        )
    return (
        text
        + f" All values are finite again after step {ev['last_step']}, so the trainer skipped those steps.",
        f"Check what happened around step {first}; if it repeats, lower the lr.",
    )
