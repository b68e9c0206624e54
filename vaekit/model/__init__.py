"""The causal video VAE: configuration, layers, the model, its latent distribution, folders."""

from .config import VAEConfig
from .distribution import DiagonalGaussian
from .folder import (
    DEFAULT_MODEL,
    UntrainedWeightsWarning,
    list_presets,
    load_model,
    resolve_model_dir,
    save_model,
    weights_sha256,
)
from .vae import CausalVideoVAE, upgrade_state_dict

__all__ = [
    "DEFAULT_MODEL",
    "CausalVideoVAE",
    "DiagonalGaussian",
    "UntrainedWeightsWarning",
    "VAEConfig",
    "list_presets",
    "load_model",
    "resolve_model_dir",
    "save_model",
    "upgrade_state_dict",
    "weights_sha256",
]
