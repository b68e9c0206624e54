"""total_loss in phase 2: negative lines are normal (g_loss is unbounded below), said with an
example line."""

from __future__ import annotations

from typing import Any

from .base import Context, PhaseData, Verdict, finite_vals


def judge(ph: PhaseData, ctx: Context) -> Verdict | None:
    if ph.name != "adversarial":
        return None
    recs = [r for r in ph.records if finite_vals(r, "total_loss") is not None]
    if not recs:
        return None
    neg = [r for r in recs if r.values["total_loss"] < 0]
    ev: dict[str, Any] = {"negative_lines": len(neg), "lines": len(recs)}
    facts: dict[str, Any] = {
        "latest": recs[-1].values["total_loss"],
        "gan_loss": ctx.recipe.get("gan_loss", "hinge"),
    }
    if not neg:
        return Verdict("total_loss", "ok", "positive", ev, ph.name, facts)
    r = neg[-1]
    parts = finite_vals(r, "vae_loss", "d_weight", "g_loss")
    if parts:
        v, dw, g = parts
        facts["disc_factor"] = r.values.get("disc_factor", 1.0)
        ev.update(
            {
                "example_step": r.step,
                "total_loss": r.values["total_loss"],
                "vae_loss": v,
                "d_weight": dw,
                "g_loss": g,
            }
        )
    return Verdict("total_loss", "ok", "negative", ev, ph.name, facts)
