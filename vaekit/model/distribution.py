"""The diagonal Gaussian posterior the encoder returns."""

from __future__ import annotations

import torch


class DiagonalGaussian:
    """``N(mean, exp(logvar))`` per latent element, for ``B, C, T, H, W`` latents.

    ``moments`` is the encoder output: mean and log-variance stacked on the channel axis.
    """

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = torch.chunk(moments, 2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def var(self) -> torch.Tensor:
        return torch.exp(self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * noise

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL divergence to ``N(0, I)``, summed over all latent elements: one value per batch item."""
        mean, logvar = self.mean.float(), self.logvar.float()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
        return kl.flatten(1).sum(dim=1)
