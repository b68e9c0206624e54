"""Words for the loss-identity verdict (see ``checks/bookkeeping.py``)."""

from __future__ import annotations

from typing import Any

from ...stats import num
from ..base import Context, Verdict

#: what the doctor could not check, and the keys that would let it
UNCHECKED = {
    "nll": "nll_loss (needs rec_loss, perception_loss, nll_loss)",
    "total": "total_loss (needs total_loss, vae_loss, d_weight, disc_factor, g_loss)",
}
KL_INFERRED = {
    "inferred": "vae_loss - nll_loss is a fixed multiple of kl_loss (no recipe, so kl_weight was inferred)",
    "silenced": "vae_loss = nll_loss (no recipe; KL contributes nothing)",
}


def _label(name: str, ctx: Context) -> str:
    words = {
        "nll": "nll_loss = rec_loss + perception_loss",
        "vae": f"vae_loss = nll_loss + kl_weight x kl_loss (kl_weight {num(ctx.recipe.get('kl_weight'))} from "
        "the recipe)",
        "total": "total_loss = vae_loss + d_weight x disc_factor x g_loss",
        "disc_bound": f"disc_loss >= the {ctx.recipe.get('gan_loss')} loss of the mean logits (a lower bound, by "
        "convexity)",
        "nll_folded": "nll_loss = rec_loss (the taming convention: rec_loss already holds perceptual_weight x "
        "p_loss, so perception is not added again)",
    }
    return words.get(name, f"{name.split(':', 1)[-1]} >= 0")


def _broken(name: str, res: dict[str, Any], kl_not_applied: bool, ctx: Context) -> str:
    f = res["first"]
    if name.startswith("nonneg:"):
        return (
            f"{name.split(':', 1)[1]} is negative at {res['violations']} of {res['checked']} lines "
            f"(first at step {f['step']}: {num(f['logged'])}), but it is a mean of non-negative terms"
        )
    extra = (
        "; vae_loss equals nll_loss there, so the KL term is not applied at all"
        if name == "vae" and kl_not_applied
        else ""
    )
    return (
        f"{_label(name, ctx)} fails at {res['violations']} of {res['checked']} lines (first at step "
        f"{f['step']}: logged {num(f['logged'])}, the formula gives {num(f['expected'])}){extra}"
    )


def _held(v: Verdict, ctx: Context) -> list[str]:
    fine = [
        f"{_label(name, ctx)} at all {res['checked']} lines"
        for name, res in v.evidence["identities"].items()
        if not name.startswith("nonneg:")
    ]
    if v.facts["pixel_ratio"] is not None:
        fine.append(
            f"nll_loss is a sum over pixels, about {num(v.facts['pixel_ratio'])} x rec_loss (the "
            f"{ctx.conv.trainer} convention), not a per-element mean, so it is not compared with rec_loss + "
            "perception_loss"
        )
    if v.facts["kl_inferred"]:
        fine.append(KL_INFERRED[v.facts["kl_inferred"]])
    return fine


def say(v: Verdict, ctx: Context) -> tuple[str, str]:
    if v.case in ("mismatch", "foreign_mismatch"):
        broken = "; ".join(
            _broken(name, res, v.facts["kl_not_applied"], ctx)
            for name, res in v.evidence["identities"].items()
            if res["violations"]
        )
        if v.case == "foreign_mismatch":
            return (
                f"Read with vaekit's identities, the logged losses do not add up: {broken}. This log is not "
                f"vaekit's ({ctx.conv.trainer_why}), and trainers book these terms differently, so this is a "
                "question, not a verdict.",
                "Check how this trainer defines each logged term (is perception inside rec_loss? is nll a sum "
                "over pixels?); if a key means something else, map it with an [aliases] table in --rules.",
            )
        return (
            f"The logged losses do not add up: {broken}. Every other verdict reads these numbers, so they "
            "cannot be trusted until the log is right.",
            "Fix the loss or logging code so the identities of docs/DESIGN.md (Training) hold in every line (a "
            "weight stored but not applied, or a term logged before/after scaling, are the usual causes).",
        )
    if v.case == "kl_weight_varies":
        lo, hi = v.facts["kl_spread"]
        return (
            f"(vae_loss - nll_loss) / kl_loss is not constant: the implied kl_weight ranges from {num(lo)} to "
            f"{num(hi)}. Expected if the trainer anneals the KL weight; otherwise the KL term is logged "
            "inconsistently.",
            "Put the run's config.toml beside the log so the doctor can check vae_loss against the recipe's "
            "kl_weight.",
        )
    if v.case == "nothing_to_check":
        return "Could not check the loss identities: the log lacks the keys they need.", ""
    msg = "The logged losses add up: " + "; ".join(_held(v, ctx)) + "."
    if v.facts["unchecked"]:
        msg += " Not checked: " + ", ".join(UNCHECKED[k] for k in v.facts["unchecked"]) + "."
    return msg, ""
