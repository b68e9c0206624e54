"""Whether the discriminator started where the recipe says (a step-unit log with a recipe only)."""

from __future__ import annotations

from typing import Any

from ..logs import Record
from ..stats import median
from .base import Context, Verdict


def judge(phases: dict[str, Any], records: list[Record], ctx: Context) -> Verdict | None:
    ds_recipe = ctx.recipe.get("disc_start")
    last = int(records[-1].step or 0)
    p2 = phases.get("phase2")
    if ds_recipe is None or ctx.unit != "step":
        return None
    ds_recipe = int(ds_recipe)
    has_df = any("disc_factor" in r.values for r in records)
    if p2 is None:
        ev = {"recipe_disc_start": ds_recipe, "last_step": last}
        if ds_recipe <= last and has_df:
            return Verdict("phases", "act", "never_began", ev)
        return Verdict("phases", "ok", "phase1_only", ev)
    ds = phases.get("disc_start")
    steps = [int(r.step or 0) for r in records]
    gaps = [b - a for a, b in zip(steps, steps[1:]) if b > a]
    interval = median(gaps) if gaps else 1
    if ds is not None and abs(ds - ds_recipe) > 2 * interval and phases.get("phase1"):
        return Verdict("phases", "watch", "elsewhere", {"recipe_disc_start": ds_recipe, "disc_start": ds})
    return None
