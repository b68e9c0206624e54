"""Validation: PSNR/SSIM (and LPIPS with a real backbone) of the trained and the EMA weights.

Clips are reconstructed from the posterior mean and compared as 8-bit frames (what a decoded
video holds), with the shared accumulators of :mod:`vaekit.metrics`: PSNR from the pooled MSE of
each clip, averaged over clips; SSIM averaged over all frames. The first clip is also saved as
a picture (originals on top, EMA reconstructions below) in ``RUN_DIR/samples/step_NNNNNNNN.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..io.atomic import atomic_output, make_folder
from ..metrics import VideoQuality
from ..runtime.pixels import PIXEL_MAX, to_levels

SAMPLE_FRAMES = 4


class Validator:
    """Runs the fixed validation clips through a model and summarises the quality."""

    def __init__(self, clips: list[torch.Tensor], device: torch.device, autocast, lpips=None):
        self.clips = clips
        self.device = device
        self.autocast = autocast
        self.lpips = lpips  # a PerFrameLPIPS with a real backbone, or None

    @torch.no_grad()
    def _scores(self, model, suffix: str) -> tuple[dict, list[torch.Tensor]]:
        psnr, ssim, lpips, recons = [], [], [], []
        frames = 0
        for clip in self.clips:
            x = clip.to(self.device)
            with self.autocast():
                x_hat = model(x, sample=False)[0].float().clamp(-1, 1)
            quality = VideoQuality(PIXEL_MAX)
            quality.update(*(to_levels(t)[0].transpose(0, 1) for t in (x, x_hat)))
            psnr.append(quality.psnr)
            ssim.append(quality.ssim * quality.frames)
            frames += quality.frames
            if self.lpips is not None:
                lpips.append(float(self.lpips(x_hat, x)))
            recons.append(x_hat.cpu())
        scores = {f"val/psnr{suffix}": float(np.mean(psnr)), f"val/ssim{suffix}": sum(ssim) / frames}
        if lpips:
            scores[f"val/lpips{suffix}"] = float(np.mean(lpips))
        return scores, recons

    def run(self, model, ema_model) -> tuple[dict, np.ndarray]:
        """Scores of both models (``val/psnr``, ``val/psnr_ema``, ...) and the sample picture."""
        was_training = model.training
        model.eval()
        try:
            scores, _ = self._scores(model, "")
            ema_scores, recons = self._scores(ema_model, "_ema")
        finally:
            model.train(was_training)
        return {**scores, **ema_scores}, sample_picture(self.clips[0], recons[0])


def sample_picture(x: torch.Tensor, x_hat: torch.Tensor) -> np.ndarray:
    """``H x W x 3`` uint8: up to 4 evenly spaced frames, originals above reconstructions."""
    t = x.shape[2]
    idx = sorted({round(i * (t - 1) / max(SAMPLE_FRAMES - 1, 1)) for i in range(SAMPLE_FRAMES)})
    rows = [torch.cat([to_levels(v)[0, :, i] for i in idx], dim=2) for v in (x, x_hat)]
    return torch.cat(rows, dim=1).permute(1, 2, 0).to(torch.uint8).numpy()


def save_picture(picture: np.ndarray, path: Path) -> None:
    from PIL import Image

    make_folder(path.parent)
    with atomic_output(path) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")
