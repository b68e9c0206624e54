"""Words for the disc_loss and logits verdicts (see ``checks/discriminator.py``)."""

from __future__ import annotations

from ...conventions import GAN_WORDS
from ...stats import num
from ..base import Context, Verdict
from .common import value_range


def _disc_head(v: Verdict, ctx: Context) -> str:
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


def say_disc_loss(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev, f = v.evidence, v.facts
    head, gan, chance = _disc_head(v, ctx), GAN_WORDS[ctx.conv.gan_loss], num(ev["chance_level"])
    left = f["left_band"]
    since = f" (outside the band since step {left})" if left is not None and left > f["first_step"] else ""
    band = "-".join(num(b) for b in ev["band"])
    if v.case == "collapsed":
        return (
            f"Collapsed towards 0: {head}{since}. The discriminator tells real from reconstructed clips apart "
            "almost perfectly, so its feedback to the decoder stops being useful and tends to turn into artifacts.",
            "Lower disc_weight or the discriminator's lr, or resume phase 2 from a checkpoint before step "
            f"{left if left is not None else f['first_step']}.",
        )
    if v.case == "broken":
        return (
            f"Far above the band: {head}{since}. The discriminator is broken (not learning, or its loss sign is "
            "wrong).",
            "Check the discriminator's optimizer step and loss; restart phase 2 once fixed.",
        )
    if v.case == "below_band":
        return (
            f"Below the healthy band {band}: {head}{since}. The discriminator is gaining the upper hand; near 0 it "
            "overpowers the decoder.",
            f"Watch it; act if it falls under {num(f['collapse'])}.",
        )
    if v.case == "above_band":
        return (
            f"Above the healthy band {band}: {head}{since}. The discriminator is struggling to tell real from fake "
            f"(with {gan} loss, {chance} means it cannot tell them apart at all).",
            f"Watch it; around {num(f['broken'])} the discriminator is broken.",
        )
    return (
        f"{head}, inside the healthy band {band}: the discriminator and the decoder are evenly matched (a {gan} "
        f"discriminator that cannot tell them apart at all scores {chance}).",
        "",
    )


def say_logits(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev = v.evidence
    head = (
        f"logits_real {ev['logits_real']:+.2f} vs logits_fake {ev['logits_fake']:+.2f} (medians of the last "
        f"{v.facts['lines']} lines; gap {ev['gap']:+.2f}" + (", widening)" if ev["widening"] else ")")
    )
    if v.case == "winning":
        return (
            f"{head}: the discriminator separates real from reconstructed clips by its whole hinge margin; it is "
            "winning outright.",
            "Lower disc_weight or the discriminator's lr; look at disc_loss too.",
        )
    if v.case == "pulling_ahead":
        return (
            f"{head}: the discriminator is pulling ahead of the decoder.",
            f"Watch the gap; act if it passes {num(ctx.rules.logits_gap_act)}.",
        )
    if v.case == "not_learning":
        return (
            f"{head}: the discriminator rates reconstructions as more real than real clips, so it is not learning "
            "(lr too low, or its step never applied?).",
            "Check that the discriminator's optimizer steps.",
        )
    return (
        f"{head}: close together, so the discriminator can barely tell real from reconstructed: a balanced game, "
        "which is what pushes the decoder to realistic texture.",
        "",
    )
