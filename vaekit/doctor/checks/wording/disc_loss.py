"""Words for the disc_loss verdict (see ``checks/disc_loss.py``)."""

from __future__ import annotations

from ...conventions import GAN_WORDS
from ...stats import num
from ..base import Context, Verdict
from .common import fill, value_range

#: per case: (message, advice), filled by :func:`say`
TEXT = {
    "collapsed": (
        "Collapsed towards 0: {head}{since}. The discriminator tells real from reconstructed clips apart almost "
        "perfectly, so its feedback to the decoder stops being useful and tends to turn into artifacts.",
        "Lower disc_weight or the discriminator's lr, or resume phase 2 from a checkpoint before step {restart}.",
    ),
    "broken": (
        "Far above the band: {head}{since}. The discriminator is broken (not learning, or its loss sign is wrong).",
        "Check the discriminator's optimizer step and loss; restart phase 2 once fixed.",
    ),
    "below_band": (
        "Below the healthy band {band}: {head}{since}. The discriminator is gaining the upper hand; near 0 it "
        "overpowers the decoder.",
        "Watch it; act if it falls under {collapse}.",
    ),
    "above_band": (
        "Above the healthy band {band}: {head}{since}. The discriminator is struggling to tell real from fake "
        "(with {gan} loss, {chance} means it cannot tell them apart at all).",
        "Watch it; around {broken} the discriminator is broken.",
    ),
    "in_band": (
        "{head}, inside the healthy band {band}: the discriminator and the decoder are evenly matched (a {gan} "
        "discriminator that cannot tell them apart at all scores {chance}).",
        "",
    ),
}


def _head(v: Verdict, ctx: Context) -> str:
    ev, conv = v.evidence, ctx.conv
    scaled = ev.get("divided_by")
    per = f" per unit {' x '.join(scaled)} (the trainer logs it multiplied)" if scaled else ""
    head = (
        f"{value_range(ev['recent_min'], ev['recent_max'])}{per} over the last {v.facts['lines']} lines (median "
        f"{num(ev['recent_median'])}, {v.facts['trend'].words()})"
    )
    if conv.trainer != "vaekit":
        head += f"; {GAN_WORDS[conv.gan_loss]} loss assumed (from the {conv.gan_source}), chance level {num(conv.chance)}"
    return head


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev, f = v.evidence, v.facts
    left = f["left_band"]
    return fill(
        TEXT,
        v.case,
        head=_head(v, ctx),
        since=f" (outside the band since step {left})" if left is not None and left > f["first_step"] else "",
        restart=left if left is not None else f["first_step"],
        band="-".join(num(b) for b in ev["band"]),
        gan=GAN_WORDS[ctx.conv.gan_loss],
        chance=num(ev["chance_level"]),
        collapse=num(f["collapse"]),
        broken=num(f["broken"]),
    )
