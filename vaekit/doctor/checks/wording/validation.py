"""Words for the validation verdict (see ``checks/validation.py``)."""

from __future__ import annotations

from ..base import Context, Verdict


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev = v.evidence
    msg = (
        f"val/psnr {ev['last']:.2f} dB at step {ev['last_step']} (best {ev['best']:.2f} dB at step {ev['best_step']}, "
        f"{ev['points']} evaluations)"
    )
    if "last_ema" in ev:
        msg += f"; with EMA weights {ev['last_ema']:.2f} dB"
    if "last_ssim" in ev:
        msg += f"; SSIM {ev['last_ssim']:.3f}"
    if v.case == "held":
        return msg + ".", ""
    tail = ", expected while the decoder adapts to the discriminator." if ev.get("expected") else "."
    return (
        msg + f". It dropped {ev['drop_db']:.2f} dB from its best" + tail,
        "Compare the sample images at the best and the latest step.",
    )
