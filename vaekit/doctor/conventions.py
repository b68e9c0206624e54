"""What a log's numbers mean: which trainer wrote it, its GAN loss, and its bookkeeping.

The rules of docs/DESIGN.md are written for vaekit's own logs (per-element means, a hinge
discriminator, ``nll = rec + perception``, ``perception_loss`` a weighted mean LPIPS). Other
trainers log the same quantities differently, and a doctor that ignores this calls healthy runs
broken. What is known here (each from the trainer's own code or its maintainers):

==========  ==================  =====================================================================
trainer     GAN loss (chance)   bookkeeping
==========  ==================  =====================================================================
vaekit      hinge (1.0)         the identities of docs/DESIGN.md, exactly; perception is a mean LPIPS
taming      hinge (1.0)         ``rec_loss = nll_loss = mean(|x - x_hat| + p_w * p_loss)``
ldm         hinge (1.0)         NLL summed over pixels (``sum / batch``), so nll >> rec_loss
wfvae       hinge (1.0)         NLL summed over pixels; ``d_weight`` clamped at 1e6 (5e5 is normal)
llamagen    hinge (1.0)         the logged adversarial terms are already multiplied by disc_weight
                                (and the generator's by the adaptive weight)
monai       least squares       raw means of each term; the adversarial weight is applied outside
            (0.25)
==========  ==================  =====================================================================

A discriminator that cannot tell real from reconstructed scores its loss's *chance level*:
hinge 1.0, vanilla / non-saturating (softplus, BCE) ln 2 = 0.69, least squares (LSGAN) 0.25.
The disc_loss band of the rules (0.5-1.5 around hinge's 1.0) is scaled to the chance level.

The GAN loss comes from the recipe when it names one, else from the trainer, else from the
values: ``g_loss`` below 0 happens only with hinge (or Wasserstein) losses; otherwise the
chance level nearest to the phase-2 disc_loss is assumed. The report says which, and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .stats import median

CHANCE = {"hinge": 1.0, "vanilla": math.log(2.0), "lsgan": 0.25}
GAN_WORDS = {"hinge": "hinge", "vanilla": "vanilla (softplus / BCE)", "lsgan": "least-squares (LSGAN)"}
_GAN_NAMES = {
    "hinge": "hinge",
    "vanilla": "vanilla",
    "bce": "vanilla",
    "non-saturating": "vanilla",
    "non_saturating": "vanilla",
    "softplus": "vanilla",
    "logistic": "vanilla",
    "lsgan": "lsgan",
    "least_squares": "lsgan",
    "least-squares": "lsgan",
    "mse": "lsgan",
    "ls": "lsgan",
}


def gan_name(value: object) -> str | None:
    """The GAN loss a recipe string names (``"least_squares"`` -> ``"lsgan"``), or None."""
    if not isinstance(value, str):
        return None
    return _GAN_NAMES.get(value.strip().lower())


@dataclass
class Conventions:
    """How this log's numbers are to be read (see the module docstring)."""

    trainer: str = "vaekit"
    trainer_why: str = "vaekit's own key names"
    gan_loss: str = "hinge"
    gan_source: str = "default"
    gan_why: str = ""
    lpips_mean: bool = True  # perception_loss is perceptual_weight x a mean LPIPS (the 0.10 ceiling applies)
    nll: str = "sum_parts"  # | "rec_includes_perception" | "summed_over_pixels" | "unknown"
    disc_scaled_by: tuple[str, ...] = ()  # keys whose product the logged disc_loss already carries
    d_weight_clamp: float | None = None  # the trainer's own clamp (None: the rules' value)
    d_weight_at_clamp_is_normal: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def chance(self) -> float:
        return CHANCE[self.gan_loss]

    def to_dict(self) -> dict[str, object]:
        return {
            "trainer": self.trainer,
            "trainer_why": self.trainer_why,
            "gan_loss": self.gan_loss,
            "gan_loss_source": self.gan_source,
            "gan_loss_why": self.gan_why,
            "chance_level": self.chance,
            "perception_is_mean_lpips": self.lpips_mean,
            "nll": self.nll,
        }


_TRAINERS = {
    "vaekit": dict(gan_loss="hinge", lpips_mean=True, nll="sum_parts"),
    "taming": dict(gan_loss="hinge", lpips_mean=False, nll="rec_includes_perception"),
    "ldm": dict(gan_loss="hinge", lpips_mean=False, nll="summed_over_pixels", d_weight_at_clamp_is_normal=True),
    "wfvae": dict(
        gan_loss="hinge",
        lpips_mean=False,
        nll="summed_over_pixels",
        d_weight_clamp=1e6,
        d_weight_at_clamp_is_normal=True,
    ),
    "llamagen": dict(gan_loss="hinge", lpips_mean=False, nll="unknown", disc_scaled_by=("disc_weight",)),
    "monai": dict(gan_loss="lsgan", lpips_mean=False, nll="unknown"),
    "unknown": dict(gan_loss="hinge", lpips_mean=False, nll="unknown"),
}


def detect_trainer(raw_names: set[str], vaekit_run: bool) -> tuple[str, str]:
    """Which trainer wrote a log, from its raw key names (lower case, prefixes stripped)."""
    n = raw_names
    if vaekit_run:
        return "vaekit", "a vaekit run folder (metrics.jsonl + config.toml)"
    if "perception_loss" in n and ({"vae_loss", "disc_factor"} & n):
        return "vaekit", "vaekit / Open-Sora-Plan key names (perception_loss, vae_loss)"
    hits = {"generator_adv_loss", "discriminator_adv_loss", "disc_adaptive_weight"} & n
    if hits:
        return "llamagen", f"LlamaGen-style keys ({', '.join(sorted(hits))})"
    hits = {"wavelet_loss", "wl_loss"} & n
    if hits:
        return "wfvae", f"WF-VAE keys ({', '.join(sorted(hits))})"
    if "logvar" in n and "kl_loss" in n:
        return "ldm", "latent-diffusion keys (logvar, kl_loss)"
    if "quant_loss" in n or ("aeloss" in n and "kl_loss" not in n and "nll_loss" in n):
        return "taming", "taming-transformers keys (quant_loss / aeloss, nll_loss)"
    if "aeloss" in n:
        return "ldm", "latent-diffusion / taming Lightning keys (aeloss, discloss)"
    if "recons_loss" in n:
        return "monai", "MONAI GenerativeModels key names (recons_loss, gen_loss / p_loss)"
    return "unknown", "no trainer recognised from the key names"


def conventions_for(trainer: str, why: str) -> Conventions:
    return Conventions(trainer=trainer, trainer_why=why, **_TRAINERS.get(trainer, _TRAINERS["unknown"]))


def infer_gan_loss(conv: Conventions, recipe_gan: str | None, disc: list[float], gen: list[float]) -> None:
    """Settle ``conv.gan_loss``: the recipe, else the trainer (checked against the values), else
    the values alone. ``disc`` are phase-2 disc_loss values per unit weight, ``gen`` g_loss values."""
    if recipe_gan:
        conv.gan_loss, conv.gan_source, conv.gan_why = recipe_gan, "recipe", "the recipe names it"
        return
    d = median([v for v in disc if v > 0]) if disc else math.nan
    negative = [g for g in gen if g < -0.02]
    if negative:
        by_values, vwhy = "hinge", f"g_loss goes negative ({len(negative)} lines), which only a hinge loss allows"
    elif math.isfinite(d):
        by_values = min(CHANCE, key=lambda k: abs(math.log(d / CHANCE[k])))
        vwhy = f"the phase-2 disc_loss median {d:.3g} is nearest the {GAN_WORDS[by_values]} chance level {CHANCE[by_values]:.3g}"
    else:
        by_values, vwhy = None, ""
    if conv.trainer != "unknown":
        default = conv.gan_loss
        # the MONAI tutorials pick their criterion per notebook, so a negative g_loss overrides them;
        # the other trainers' GAN loss is fixed by their code unless the recipe says otherwise
        if conv.trainer == "monai" and negative and default != "hinge":
            conv.gan_loss, conv.gan_source = "hinge", "values"
            conv.gan_why = f"{vwhy} (the MONAI tutorials' default would be least squares)"
            return
        conv.gan_source = "trainer"
        conv.gan_why = f"the {conv.trainer} trainer's loss"
        if by_values == default:
            conv.gan_why += f"; the values agree ({vwhy})"
        elif by_values is not None:
            conv.gan_why += f"; the values alone would suggest {GAN_WORDS[by_values]} ({vwhy})"
        return
    if by_values is not None:
        conv.gan_loss, conv.gan_source, conv.gan_why = by_values, "values", vwhy
    else:
        conv.gan_source, conv.gan_why = "default", "nothing in the log tells; hinge assumed"
