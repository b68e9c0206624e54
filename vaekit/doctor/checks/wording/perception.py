"""Words for the perception_loss verdict (see ``checks/perception.py``)."""

from __future__ import annotations

from ...stats import num
from ..base import Context, Verdict
from .common import from_to

OFF = (
    "Off: perceptual_weight = 0, so no LPIPS term trains the model and perception_loss logs 0. Reconstructions "
    "rely on the pixel loss (and the discriminator in phase 2) for sharpness; with LPIPS weights available, "
    "perceptual_weight = 1 usually gives crisper texture."
)
#: how a perception judged by its trend ends its sentence, by the trend of the recent window
TREND_TAIL = {"falling": " Still improving.", "rising": " Drifting up a little; watch if it keeps climbing."}


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev, tr = v.evidence, v.facts["trend"]
    if v.case == "off":
        return OFF, ""
    course = from_to(ev["first"], ev["first_step"], ev["last"], ev["last_step"])
    if v.case == "random_backbone":
        return (
            f"{course} ({tr.words()}), but measured with a random LPIPS backbone (lpips_random_backbone = true): "
            "these numbers are not LPIPS, so the ceiling of real LPIPS does not apply and nothing is judged.",
            "",
        )
    msg = f"{course} (recent median {num(ev['recent_median'])}, {tr.words()})"
    if v.case in ("trend", "trend_climbing"):
        msg += (
            f". This log's perception term is not known to be a mean LPIPS (trainer: {ctx.conv.trainer}), so the "
            "0.10 ceiling of a mean LPIPS is not applied; it is judged by its trend."
        )
        if v.case == "trend":
            return msg + TREND_TAIL.get(ev["trend"], " Steady."), ""
        best = v.facts["best_earlier"]
        return (
            msg
            + f" It has climbed to {num(ev['recent_median'] / best)}x its best earlier level of {num(best)}.",
            "Look at the sample images; if texture is getting worse, check the lr and the adversarial weight.",
        )
    pw = v.facts["perceptual_weight"]
    ceiling = f"the ceiling of {num(ev['ceiling'])}" + (
        f" (0.10 x perceptual_weight {num(pw)})" if pw and pw != 1 else ""
    )
    if v.case == "above_ceiling":
        return (
            msg + f", above {ceiling}: reconstructions are likely to look blurry.",
            "Look at the sample images; if they are soft, raise perceptual_weight or lower kl_weight.",
        )
    return msg + f", below {ceiling}, under which frames keep their texture and edges.", ""
