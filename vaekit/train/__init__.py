"""``vaekit train``: the two-phase (VAE, then adversarial) trainer of causal video VAEs.

    from vaekit.train import Recipe, train
    recipe = Recipe.from_toml("train/tiny.toml", {"out": "runs/mine", "max_steps": 2000})
    summary = train(recipe)                       # or train(recipe, resume=True)
    export_model("runs/mine", "models/mine")      # EMA weights of the newest checkpoint

Modules: :mod:`.recipe` (the knobs), :mod:`.data` (clips), :mod:`.losses` (the loss identities),
:mod:`.discriminator`, :mod:`.checkpoint`, :mod:`.trainer` (the loop); LPIPS is
:mod:`vaekit.perceptual` (shared with ``vaekit eval``).
"""

from .checkpoint import export_model, latest_checkpoint, load_checkpoint
from .losses import LOSS_KEYS
from .recipe import Recipe
from .trainer import Trainer, TrainingStopped, resolve_recipe, train

__all__ = [
    "LOSS_KEYS",
    "Recipe",
    "Trainer",
    "TrainingStopped",
    "export_model",
    "latest_checkpoint",
    "load_checkpoint",
    "resolve_recipe",
    "train",
]
