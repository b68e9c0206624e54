"""Words for the d_weight verdict (see ``checks/d_weight.py``)."""

from __future__ import annotations

from ...stats import num
from ..base import Context, Verdict
from .common import fill

LOUDNESS = {"louder": "louder than", "quieter": "quieter than", "as_loud": "about as loud as"}
WHY = (
    " The adaptive weight scales the adversarial loss so that its gradient at the decoder's last layer is "
    "disc_weight times the reconstruction gradient; a large d_weight means the raw adversarial gradient is weak "
    "and is being amplified."
)
#: per case: (message, advice), filled by :func:`say`
TEXT = {
    "clamp_normal": (
        "Large: {hist}. Expected for this trainer ({trainer}): its NLL is a sum over pixels, so the reconstruction "
        "gradient dwarfs the adversarial one and the adaptive weight sits near its clamp ({clamp} x disc_weight); "
        "its maintainers call this normal.{loud}",
        "",
    ),
    "at_clamp": (
        "At its clamp: {hist}. The discriminator's gradient at the decoder output has vanished, so the adversarial "
        "term is pure amplified noise.{loud}",
        "Check the discriminator (is it learning?) and the last-layer gradient used for d_weight.",
    ),
    "very_large": (
        "Very large: {hist}.{why}{loud}",
        "Check that the discriminator still learns (disc_loss, logits) and that g_loss is not vanishing.",
    ),
    "always_zero": (
        "Always 0 in phase 2 ({hist}): the adversarial term has no effect on the decoder.",
        "Check disc_weight and the adaptive weight computation.",
    ),
    "in_range": ("{hist}.{why}{loud}", ""),
}


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
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
    clamp = num(ev["clamp"]) if "clamp" in ev else ""
    return fill(TEXT, v.case, hist=hist, loud=loud, why=WHY, trainer=ctx.conv.trainer, clamp=clamp)
