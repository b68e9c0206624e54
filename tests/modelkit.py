"""Small models for fast tests (imported by test modules; pytest puts tests/ on sys.path)."""

import torch

from vaekit.model import CausalVideoVAE, VAEConfig

SMALL = dict(name="small", channels=[16, 32, 32], encoder_blocks=[1, 1, 1], decoder_blocks=[1, 1, 1])


def small_model(dtype=torch.float64, seed=0) -> CausalVideoVAE:
    """A 4x8x8, 16-channel model with the real architecture at a fraction of the width."""
    torch.manual_seed(seed)
    return CausalVideoVAE(VAEConfig(**SMALL)).to(dtype).eval()
