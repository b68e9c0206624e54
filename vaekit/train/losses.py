"""The loss of the two-phase schedule, on one page, with the identities of docs/DESIGN.md ("Training").

Every logged value is computed here from the very tensors the optimisers use::

    rec_loss        = pixelloss_weight * mean |x - x_hat|          (mean (x - x_hat)^2 with l2)
                      + temporal_loss + pooled_loss                 (each 0 and not logged when off)
    temporal_loss   = temporal_weight * mean |(x[t] - x[t-1]) - (x_hat[t] - x_hat[t-1])|
    pooled_loss     = pooled_weight * mean |pool8(x) - pool8(x_hat)|   (8x8 average pooling per frame)
    perception_loss = perceptual_weight * mean LPIPS(x_hat, x)     (per frame; 0 when disabled)
    nll_loss        = rec_loss + perception_loss
    kl_loss         = KL summed over the latent, averaged over the batch
    vae_loss        = nll_loss + kl_weight * kl_loss
    g_loss          = -mean D(x_hat)
    d_weight        = disc_weight * clamp(|grad_last nll| / (|grad_last g| + 1e-4), 0, 1e4)
                      (then at most d_weight_max; the default 1e4 does not bind for disc_weight <= 1)
    total_loss      = vae_loss + d_weight * disc_factor * g_loss
    disc_loss       = disc_factor * 0.5 * (mean relu(1 - D(x)) + mean relu(1 + D(x_hat)))   (hinge)
                      disc_factor * 0.5 * (mean softplus(-D(x)) + mean softplus(D(x_hat)))  (vanilla)
    logits_real     = mean D(x),  logits_fake = mean D(x_hat)

In phase 1 (step < disc_start) the discriminator is not run at all: disc_factor, g_loss,
d_weight, disc_loss and both logits are logged as 0, so ``total_loss == vae_loss`` and the
identities hold in every line. ``d_weight`` is a constant for the backward pass (detached).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..logschema import LOSS_KEYS  # noqa: F401  (re-exported; the log contract is vaekit/logschema.py)
from .recipe import Recipe


def vae_terms(recipe: Recipe, x, x_hat, posterior, perceptual, lpips_generator=None) -> dict[str, torch.Tensor]:
    """The phase-1 terms (float32 scalars): rec, perception, nll, kl, vae.

    ``lpips_generator`` draws the frames LPIPS sees when the recipe limits them (``lpips_frames``).
    """
    x, x_hat = x.float(), x_hat.float()
    diff = (x - x_hat).abs() if recipe.pixel_loss == "l1" else (x - x_hat).pow(2)
    rec = recipe.pixelloss_weight * diff.mean()
    parts = rec_parts(recipe, x, x_hat)
    for part in parts.values():
        rec = rec + part
    if perceptual is not None and recipe.perceptual_weight > 0:
        args = () if lpips_generator is None else (lpips_generator,)
        perception = recipe.perceptual_weight * perceptual(x_hat, x, *args).float()
    else:
        perception = torch.zeros((), device=x.device)
    nll = rec + perception
    kl = posterior.kl().mean()
    return {"rec_loss": rec, "perception_loss": perception, "nll_loss": nll, "kl_loss": kl,
            "vae_loss": nll + recipe.kl_weight * kl, **parts}  # fmt: skip


def rec_parts(recipe: Recipe, x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, torch.Tensor]:
    """The temporal parts of ``rec_loss`` the recipe turns on (``Recipe.rec_part_keys``).

    ``temporal_loss`` compares how each frame changes from the one before (a cross-fade between two
    scenes or a ghosted moving object gets the change wrong even where its per-pixel error is
    modest); ``pooled_loss`` weighs the low-frequency error (misplaced content) on its own.
    Clips are ``(B, C, T, H, W)``; a single frame has no temporal part.
    """
    parts = {}
    for key in recipe.rec_part_keys:
        if key == "temporal_loss":
            if x.shape[2] < 2:
                parts[key] = torch.zeros((), device=x.device)
                continue
            change = x.diff(dim=2) - x_hat.diff(dim=2)
            parts[key] = recipe.temporal_weight * change.abs().mean()
        else:
            b, c, t, h, w = x.shape
            k = max(1, min(8, h, w))
            pooled = F.avg_pool2d((x - x_hat).transpose(1, 2).reshape(b * t, c, h, w), k, ceil_mode=True)
            parts[key] = recipe.pooled_weight * pooled.abs().mean()
    return parts


def adaptive_weight(
    nll: torch.Tensor,
    g_loss: torch.Tensor,
    last_layer: torch.Tensor,
    disc_weight: float,
    grad_scale: float = 1.0,
    average: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_weight: float = 1e4,
) -> torch.Tensor:
    """``d_weight`` from the gradients of ``nll`` and ``g_loss`` on the decoder's last weight.

    ``grad_scale`` is the fp16 loss scale (the gradients are taken of the scaled losses, so they
    do not underflow, and divided back); ``average`` all-reduces them across ranks, so every rank
    uses the d_weight of the global batch.
    """
    grads = []
    for loss in (nll, g_loss):
        (grad,) = torch.autograd.grad(loss * grad_scale, last_layer, retain_graph=True)
        grads.append(grad.float() / grad_scale)
    if average is not None:
        grads = [average(g) for g in grads]
    ratio = grads[0].norm() / (grads[1].norm() + 1e-4)
    return (disc_weight * ratio.clamp(0.0, 1e4)).clamp(max=max_weight).detach()


def generator_terms(
    recipe: Recipe,
    vae: dict,
    logits_fake: torch.Tensor,
    last_layer: torch.Tensor,
    disc_factor: float,
    grad_scale: float = 1.0,
    average: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """Phase 2: add ``g_loss``, ``d_weight``, ``disc_factor``, ``logits_fake`` and ``total_loss``.

    ``logits_fake`` are D's logits on the (not detached) reconstructions.
    """
    g_loss = -logits_fake.float().mean()
    d_weight = adaptive_weight(
        vae["nll_loss"], g_loss, last_layer, recipe.disc_weight, grad_scale, average, recipe.d_weight_max
    )
    factor = torch.tensor(disc_factor, device=g_loss.device)
    return {**vae, "g_loss": g_loss, "d_weight": d_weight, "disc_factor": factor,
            "logits_fake": -g_loss, "total_loss": vae["vae_loss"] + d_weight * factor * g_loss}  # fmt: skip


def phase1_terms(vae: dict) -> dict:
    """Phase 1: the discriminator does not run; its keys are 0 and total_loss is vae_loss."""
    zero = torch.zeros((), device=vae["vae_loss"].device)
    disc_keys = ("g_loss", "d_weight", "disc_factor", "disc_loss", "logits_real", "logits_fake")
    return {**vae, **dict.fromkeys(disc_keys, zero), "total_loss": vae["vae_loss"]}


def discriminator_terms(recipe: Recipe, logits_real, logits_fake, disc_factor: float) -> dict:
    """``disc_loss`` and ``logits_real`` from D's logits on real and (detached) fake clips."""
    real, fake = logits_real.float(), logits_fake.float()
    if recipe.disc_loss == "hinge":
        loss = 0.5 * (F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean())
    else:
        loss = 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())
    return {"disc_loss": disc_factor * loss, "logits_real": real.mean()}
