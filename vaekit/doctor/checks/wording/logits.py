"""Words for the logits verdict (see ``checks/logits.py``)."""

from __future__ import annotations

from ...stats import num
from ..base import Context, Verdict
from .common import fill

#: per case: (message, advice), filled by :func:`say`
TEXT = {
    "winning": (
        "{head}: the discriminator separates real from reconstructed clips by its whole hinge margin; it is "
        "winning outright.",
        "Lower disc_weight or the discriminator's lr; look at disc_loss too.",
    ),
    "pulling_ahead": (
        "{head}: the discriminator is pulling ahead of the decoder.",
        "Watch the gap; act if it passes {act}.",
    ),
    "not_learning": (
        "{head}: the discriminator rates reconstructions as more real than real clips, so it is not learning "
        "(lr too low, or its step never applied?).",
        "Check that the discriminator's optimizer steps.",
    ),
    "balanced": (
        "{head}: close together, so the discriminator can barely tell real from reconstructed: a balanced game, "
        "which is what pushes the decoder to realistic texture.",
        "",
    ),
}


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev = v.evidence
    head = (
        f"logits_real {ev['logits_real']:+.2f} vs logits_fake {ev['logits_fake']:+.2f} (medians of the last "
        f"{v.facts['lines']} lines; gap {ev['gap']:+.2f}" + (", widening)" if ev["widening"] else ")")
    )
    return fill(TEXT, v.case, head=head, act=num(ctx.rules.logits_gap_act))
