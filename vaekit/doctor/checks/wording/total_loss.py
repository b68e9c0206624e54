"""Words for the total_loss verdict (see ``checks/total_loss.py``)."""

from __future__ import annotations

from ...stats import num
from ..base import Context, Verdict


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev, f = v.evidence, v.facts
    if v.case == "positive":
        return f"Positive in all {ev['lines']} phase-2 lines (latest {num(f['latest'])}).", ""
    example = ""
    if "example_step" in ev:
        df = f["disc_factor"]
        dft = f" x disc_factor {num(df)}" if df != 1.0 else ""
        example = (
            f" (e.g. step {ev['example_step']}: {num(ev['total_loss'])} = vae_loss {num(ev['vae_loss'])} + "
            f"d_weight {num(ev['d_weight'])}{dft} x g_loss {num(ev['g_loss'])})"
        )
    return (
        f"Negative in {ev['negative_lines']} of {ev['lines']} phase-2 lines{example}. That is normal: g_loss = -mean "
        "D(reconstruction) turns negative as soon as the discriminator scores reconstructions as real, and with "
        f"{f['gan_loss']} loss nothing bounds it at 0, so d_weight x g_loss can outweigh vae_loss.",
        "",
    )
