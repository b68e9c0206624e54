"""The diagonal Gaussian posterior the encoder returns, and the one place that knows its layout.

The encoder's raw output ("moments") is mean and log-variance stacked on the channel axis,
``B, 2C, T, H, W``: :func:`join_moments` / :func:`split_moments` are the only code that writes
or reads that layout; everything else holds a :class:`DiagonalGaussian` (docs/DESIGN.md,
"Tensors and latents").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

#: the log-variance is clamped to this range (as diffusers' DiagonalGaussianDistribution does)
LOGVAR_RANGE = (-30.0, 20.0)


def join_moments(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``B, C, ...`` mean and log-variance -> moments ``B, 2C, ...``."""
    return torch.cat([mean, logvar], dim=1)


def split_moments(moments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Moments ``B, 2C, ...`` -> ``(mean, logvar)`` (views, logvar not clamped)."""
    mean, logvar = torch.chunk(moments, 2, dim=1)
    return mean, logvar


class DiagonalGaussian:
    """``N(mean, exp(logvar))`` per latent element, for ``B, C, T, H, W`` latents.

    ``moments`` is the encoder output: mean and log-variance stacked on the channel axis.
    """

    def __init__(self, moments: torch.Tensor):
        mean, logvar = split_moments(moments)
        self._set(mean, logvar)

    def _set(self, mean: torch.Tensor, logvar: torch.Tensor) -> None:
        self.mean = mean
        self.logvar = logvar.clamp(*LOGVAR_RANGE)

    @classmethod
    def from_parts(cls, mean: torch.Tensor, logvar: torch.Tensor) -> DiagonalGaussian:
        """The posterior with this mean and log-variance (clamped like the encoder's)."""
        dist = cls.__new__(cls)
        dist._set(mean, logvar)
        return dist

    @classmethod
    def cat(cls, parts: Sequence[DiagonalGaussian], dim: int = 2) -> DiagonalGaussian:
        """Posteriors of consecutive chunks joined along ``dim`` (time by default)."""
        return cls.from_parts(
            torch.cat([p.mean for p in parts], dim), torch.cat([p.logvar for p in parts], dim)
        )

    @property
    def moments(self) -> torch.Tensor:
        """``B, 2C, ...``: mean and (clamped) log-variance stacked, as the encoder returns them."""
        return join_moments(self.mean, self.logvar)

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
