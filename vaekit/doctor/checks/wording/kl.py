"""Words for the KL verdict (see ``checks/kl.py``)."""

from __future__ import annotations

import math

from ...stats import num, pct
from ..base import Context, Verdict
from .common import fill

#: per case without a share of vae_loss: (message, advice), filled by :func:`say`
TEXT = {
    "weight_unknown": ("kl_weight unknown; {klpart}.", ""),
    "nothing_to_weigh": (
        "kl_weight {weight} x kl_loss = {term}; {klpart} (no vae_loss/nll_loss to weigh it against).",
        "",
    ),
    "silenced": (
        "KL is silenced: {weight_text}{silenced}, so vae_loss equals nll_loss and the KL term adds nothing "
        "({klpart}: large, but it carries no weight). The model trains as a plain autoencoder: sharp "
        "reconstructions, but the latent is not pulled toward N(0, 1), which makes it harder for a diffusion model "
        "to generate from. Fine when compression quality is the goal.",
        "",
    ),
}
#: per level above ok: how the sentence opens, what it ends with, and the advice
SHARE = {
    "dominant": (
        "KL dominates the loss: ",
        " Reconstruction barely steers training, so expect blurry output.",
        "Lower kl_weight (around 1e-6 is common for video VAEs; 1e-12 turns it off) unless a strongly regularized "
        "latent is the goal.",
    ),
    "outweighs": ("KL outweighs reconstruction: ", "", "If reconstructions look soft, lower kl_weight."),
    "active": ("KL is active but not dominant: ", "", ""),
}


def _weight(v: Verdict) -> str:
    ev, source = v.evidence, v.evidence["kl_weight_source"]
    if source == "recipe":
        return f"kl_weight {num(ev['kl_weight'])} (recipe)"
    if source == "silenced":
        return (
            f"kl_weight at most {num(v.facts['upper_bound'])} (inferred: vae_loss equals nll_loss to the printed "
            "precision)"
        )
    if source == "inferred":
        return f"kl_weight about {num(ev['kl_weight'])} (inferred from (vae_loss - nll_loss) / kl_loss)"
    return "kl_weight unknown"


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    ev, f = v.evidence, v.facts
    klpart = (
        f"kl_loss {num(ev['kl_loss_first'])} at step {f['first_step']} -> {num(ev['kl_loss_last'])} at step "
        f"{f['last_step']} ({f['trend'].words()})"
    )
    weight = ev["kl_weight"]
    if v.case in SHARE:
        term, nll = ev["kl_term"], ev["nll_loss"]
        body = (
            f"{_weight(v)}; the KL term is {num(term)} of vae_loss {num(term + nll) if math.isfinite(nll) else ''} "
            f"({pct(ev['kl_share_of_vae_loss'])}) against nll_loss {num(nll)}; {klpart}."
        )
        opening, closing, advice = SHARE[v.case]
        return opening + body + closing, advice
    silenced = f" x kl_loss {num(ev['kl_loss_last'])} = {num(weight * ev['kl_loss_last'])}" if weight else ""
    return fill(
        TEXT,
        v.case,
        klpart=klpart,
        weight=num(weight),
        term=num(ev.get("kl_term")),
        weight_text=_weight(v),
        silenced=silenced,
    )
