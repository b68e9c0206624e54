"""``vaekit eval``: how good a model is on real videos, next to a naive baseline of equal size.

For each video (and pooled over all of them): PSNR and SSIM of the decoded uint8 frames against
the source's uint8 frames at the source's resolution, temporal flicker
``mean |(x_t - x_{t-1}) - (x^_t - x^_{t-1})|`` (uint8 scale), LPIPS when real backbone weights
are present, and encode/decode frames/s. The **baseline** stores exactly as many floats as the
latent: every frame is area-downscaled by ``f = sqrt(3*T*H*W / latent_elements)`` and
bicubic-upscaled back, so the difference shows what the learned compression adds.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .metrics import VideoQuality, psnr_from_mse
from .runtime.backend import Backend
from .runtime.pipeline import StreamOptions, VideoSource, reconstruct
from .runtime.pixels import frame_to_chw, to_unit


class _Timed:
    """Wraps a backend and adds up the seconds spent in its encode and decode steps."""

    def __init__(self, backend: Backend):
        self._b = backend
        self.encode_s = 0.0
        self.decode_s = 0.0

    def __getattr__(self, name):
        return getattr(self._b, name)

    def encode_step(self, x, cache):
        t0 = time.perf_counter()
        out = self._b.encode_step(x, cache)
        self.encode_s += time.perf_counter() - t0
        return out

    def decode_step(self, z, cache):
        t0 = time.perf_counter()
        out = self._b.decode_step(z, cache)
        self.decode_s += time.perf_counter() - t0
        return out


class Flicker:
    """Mean absolute difference between source and reconstruction frame-to-frame changes."""

    def __init__(self):
        self.total = 0.0
        self.count = 0
        self._prev: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, ref: torch.Tensor, rec: torch.Tensor) -> None:
        ref, rec = ref.float(), rec.float()
        if self._prev is not None:
            d = (ref - self._prev[0]) - (rec - self._prev[1])
            self.total += float(d.abs().sum())
            self.count += d.numel()
        self._prev = (ref, rec)

    @property
    def value(self) -> float:
        return self.total / self.count if self.count else 0.0


def baseline_factor(frames: int, height: int, width: int, latent_elements: int, channels: int = 3) -> float:
    """Linear downscale factor that leaves as many floats per video as the latent has."""
    return math.sqrt(channels * frames * height * width / latent_elements)


def baseline_frame(frame: torch.Tensor, factor: float) -> torch.Tensor:
    """Area-downscale a ``1, 3, H, W`` uint8-valued frame by ``factor``, bicubic-upscale it back."""
    h, w = frame.shape[-2:]
    small = F.interpolate(
        frame.float(), size=(max(1, round(h / factor)), max(1, round(w / factor))), mode="area"
    )
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).round().clamp(0, 255)


class _Scores:
    """PSNR/SSIM, flicker and (optionally) LPIPS of one video; :func:`pooled` merges videos."""

    def __init__(self, lpips_model):
        self.quality = VideoQuality()
        self.flicker = Flicker()
        self.lpips_model = lpips_model
        self.lpips_sum = 0.0

    def update(self, ref: torch.Tensor, rec: torch.Tensor) -> None:
        self.quality.update(ref, rec)
        self.flicker.update(ref, rec)
        if self.lpips_model is not None:
            with torch.no_grad():
                a, b = (to_unit(t)[:, :, None] for t in (rec, ref))
                self.lpips_sum += float(self.lpips_model(a, b)) * ref.shape[0]

    def result(self) -> dict:
        return _summary([self])


def _summary(scores: list[_Scores]) -> dict:
    sq = sum(s.quality._sq_err for s in scores)
    n = sum(s.quality._elements for s in scores)
    frames = sum(s.quality.frames for s in scores)
    flicker_n = sum(s.flicker.count for s in scores)
    out = {
        "psnr": round(psnr_from_mse(sq / max(n, 1)), 3),
        "ssim": round(sum(s.quality._ssim_sum for s in scores) / max(frames, 1), 5),
        "flicker": round(sum(s.flicker.total for s in scores) / max(flicker_n, 1), 4),
    }
    if scores and scores[0].lpips_model is not None:
        out["lpips"] = round(sum(s.lpips_sum for s in scores) / max(frames, 1), 5)
    return out


def _resize(frame: np.ndarray, resolution: int | None) -> np.ndarray:
    """Resize so the shorter side is ``resolution`` (area down, bicubic up); no-op when None."""
    if resolution is None:
        return frame
    h, w = frame.shape[:2]
    s = resolution / min(h, w)
    t = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    t = F.interpolate(
        t, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area" if s < 1 else "bicubic"
    )
    return t.round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()


def evaluate_video(
    backend: Backend,
    path: str | os.PathLike,
    opts: StreamOptions,
    *,
    max_frames: int | None = None,
    resolution: int | None = None,
    lpips_model=None,
) -> tuple[dict, _Scores, _Scores]:
    """Model and baseline scores for one video. Two streamed passes over the file (the baseline's
    factor needs the latent size, known after the first), so memory stays flat in video length."""
    source = VideoSource(path, max_frames=max_frames, transform=lambda f: _resize(f, resolution))
    return evaluate_frames(
        backend,
        source.frames,
        opts,
        name=str(path),
        total=source.total,
        label=Path(path).name,
        lpips_model=lpips_model,
    )


def evaluate_frames(
    backend: Backend,
    frames: Callable[[], Iterable[np.ndarray]],
    opts: StreamOptions,
    *,
    name: str,
    total: int | None = None,
    label: str | None = None,
    lpips_model=None,
    observe: Callable[[str, torch.Tensor, torch.Tensor], None] | None = None,
) -> tuple[dict, _Scores, _Scores]:
    """Model and baseline scores for the frames ``frames()`` yields (``H, W, 3`` uint8; called
    twice, once per pass, and must yield the same frames both times: a file or a list in memory).

    ``observe(kind, ref, rec)``, if given, sees every scored frame pair in order (``kind`` is
    ``"model"`` or ``"baseline"``; ``1, 3, H, W`` uint8), for metrics beyond the row's.
    """
    timed = _Timed(backend)
    model, base = _Scores(lpips_model), _Scores(lpips_model)
    pairs = reconstruct(timed, frames(), opts, tick=opts.progress(total, f"eval {label or name}"))
    for ref, rec in pairs:
        ref, rec = frame_to_chw(ref), frame_to_chw(rec)
        model.update(ref, rec)
        if observe is not None:
            observe("model", ref, rec)

    g, sc = pairs.geometry, backend.spatial_compression
    latent_elements = (
        backend.latent_channels * pairs.latent_frames * (g.padded_height // sc) * (g.padded_width // sc)
    )
    factor = baseline_factor(g.frame_count, g.height, g.width, latent_elements)
    for f in frames():
        ref = frame_to_chw(f)
        rec = baseline_frame(ref, factor).to(torch.uint8)
        base.update(ref, rec)
        if observe is not None:
            observe("baseline", ref, rec)
    m, b = model.result(), base.result()
    row = {
        "video": name,
        "frames": g.frame_count,
        "width": g.width,
        "height": g.height,
        **m,
        "baseline": {**b, "downscale": round(factor, 3)},
        "psnr_gain_db": round(m["psnr"] - b["psnr"], 3),
        "encode_fps": round(g.frame_count / max(timed.encode_s, 1e-9), 2),
        "decode_fps": round(g.frame_count / max(timed.decode_s, 1e-9), 2),
    }
    return row, model, base


def evaluate(backend: Backend, videos: list[Path], opts: StreamOptions, **kw) -> dict:
    """Per-video rows and pooled overall scores (PSNR from pooled MSE, means over frames)."""
    rows, models, bases = [], [], []
    for v in videos:
        row, m, b = evaluate_video(backend, v, opts, **kw)
        rows.append(row)
        models.append(m)
        bases.append(b)
    overall, base = _summary(models), _summary(bases)
    return {
        "model": backend.model_name,
        "backend": backend.name,
        "videos": rows,
        "overall": {**overall, "baseline": base, "psnr_gain_db": round(overall["psnr"] - base["psnr"], 3)},
    }


def format_table(result: dict) -> str:
    """A plain-text table: one row per video, then the overall row."""
    has_lpips = "lpips" in result["overall"]
    head = f"{'video':28s} {'frames':>6s} {'size':>9s} {'PSNR':>7s} {'base':>7s} {'gain':>6s} {'SSIM':>6s} {'base':>6s} "
    head += (
        f"{'flick':>6s} {'base':>6s}"
        + (f" {'LPIPS':>6s} {'base':>6s}" if has_lpips else "")
        + f" {'enc f/s':>8s} {'dec f/s':>8s}"
    )
    lines = [head, "-" * len(head)]

    def line(name, r, frames="", size="", enc="", dec=""):
        b = r["baseline"]
        s = f"{name[:28]:28s} {frames:>6} {size:>9s} {r['psnr']:7.2f} {b['psnr']:7.2f} {r['psnr_gain_db']:+6.2f} "
        s += f"{r['ssim']:6.4f} {b['ssim']:6.4f} {r['flicker']:6.2f} {b['flicker']:6.2f}"
        s += f" {r['lpips']:6.4f} {b['lpips']:6.4f}" if has_lpips else ""
        return s + f" {enc:>8} {dec:>8}"

    for r in result["videos"]:
        lines.append(
            line(
                Path(r["video"]).name,
                r,
                r["frames"],
                f"{r['width']}x{r['height']}",
                r["encode_fps"],
                r["decode_fps"],
            )
        )
    lines.append(line("overall", result["overall"]))
    return "\n".join(lines)
