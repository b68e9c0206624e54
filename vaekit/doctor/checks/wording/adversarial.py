"""Words for the d_weight and total_loss verdicts (see ``checks/adversarial.py``)."""

from __future__ import annotations

from ...stats import num
from ..base import Context, Verdict

LOUDNESS = {"louder": "louder than", "quieter": "quieter than", "as_loud": "about as loud as"}
WHY = (
    " The adaptive weight scales the adversarial loss so that its gradient at the decoder's last layer is "
    "disc_weight times the reconstruction gradient; a large d_weight means the raw adversarial gradient is weak "
    "and is being amplified."
)


def say_d_weight(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev, f = v.evidence, v.facts
    hist = f"{num(ev['first'])} at step {ev['first_step']}"
    if ev["peak_step"] not in (ev["first_step"], f["last_step"]):
        hist += f", {num(ev['peak'])} at step {ev['peak_step']}"
    hist += f", {num(ev['last'])} at step {f['last_step']} (recent median {num(ev['recent_median'])})"
    loud = ""
    if "adversarial_over_nll" in ev:
        loud = (
            f" In the loss itself, |d_weight x g_loss| is {num(ev['adversarial_over_nll'])}x nll_loss: the "
            f"adversarial term is {LOUDNESS[f['loudness']]} reconstruction."
        )
    if v.case == "clamp_normal":
        return (
            f"Large: {hist}. Expected for this trainer ({ctx.conv.trainer}): its NLL is a sum over pixels, so the "
            "reconstruction gradient dwarfs the adversarial one and the adaptive weight sits near its clamp "
            f"({num(ev['clamp'])} x disc_weight); its maintainers call this normal.{loud}",
            "",
        )
    if v.case == "at_clamp":
        return (
            f"At its clamp: {hist}. The discriminator's gradient at the decoder output has vanished, so the "
            "adversarial term is pure amplified noise." + loud,
            "Check the discriminator (is it learning?) and the last-layer gradient used for d_weight.",
        )
    if v.case == "very_large":
        return (
            f"Very large: {hist}.{WHY}{loud}",
            "Check that the discriminator still learns (disc_loss, logits) and that g_loss is not vanishing.",
        )
    if v.case == "always_zero":
        return (
            f"Always 0 in phase 2 ({hist}): the adversarial term has no effect on the decoder.",
            "Check disc_weight and the adaptive weight computation.",
        )
    return f"{hist}.{WHY}{loud}", ""


def say_total_loss(v: Verdict, ctx: Context) -> tuple[str, str]:
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
