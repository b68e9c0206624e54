"""Cutting videos into fixed-length training clips: frame-rate resampling, resize, crop, windows.

A :class:`ClipSpec` says what a diffusion training set wants: ``frames`` frames per clip, a new
clip every ``stride`` frames (on the resampled timeline), an optional frame rate ``fps``, and a
frame size (``size`` W x H, or ``short_side`` P) reached by resizing and cropping.

Everything streams: :func:`iter_clips` takes the decoded frames of one video in order and yields
each clip as soon as its last frame has arrived, holding at most one clip of (resized) frames.
Resampling picks, for output frame ``j`` at time ``j / fps``, the source frame nearest that time
(exact rationals, so 30000/1001 -> 24 fps is reproducible); a frame rate above the source's
repeats frames. Resizing is bilinear with antialiasing (as the trainer's clips), on uint8 frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

CROPS = ("center", "none")


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(W, H)``; ValueError with the expected form otherwise."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 256x256 (width x height), got {text!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return w, h


def parse_fps(text: str) -> Fraction:
    """``"24"``, ``"30000/1001"`` or ``"29.97"`` -> an exact positive rational."""
    try:
        fps = Fraction(text).limit_denominator(1_000_000)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"fps must be a number such as 24, 29.97 or 30000/1001, got {text!r}") from None
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {text!r}")
    return fps


@dataclass(frozen=True)
class ClipSpec:
    """How videos are cut into clips (see the module docstring)."""

    frames: int
    stride: int | None = None
    size: tuple[int, int] | None = None  # (width, height)
    short_side: int | None = None
    fps: Fraction | None = None
    crop: str = "center"

    def __post_init__(self):
        if self.frames < 1:
            raise ValueError(f"--clip-frames must be at least 1, got {self.frames}")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"--clip-stride must be at least 1, got {self.stride}")
        if self.size is not None and self.short_side is not None:
            raise ValueError("give --size WxH or --short-side P, not both")
        if self.short_side is not None and self.short_side < 1:
            raise ValueError(f"--short-side must be positive, got {self.short_side}")
        if self.crop not in CROPS:
            raise ValueError(f"--crop must be one of {', '.join(CROPS)}, got {self.crop!r}")

    @property
    def step(self) -> int:
        return self.stride or self.frames

    def to_dict(self) -> dict:
        """JSON-ready, for the set's manifest (what a resumed run must agree with)."""
        return {
            "frames": self.frames,
            "stride": self.step,
            "size": list(self.size) if self.size else None,
            "short_side": self.short_side,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}" if self.fps else None,
            "crop": self.crop,
        }


@dataclass(frozen=True)
class Geometry:
    """What happens to every frame of one video: resize to ``resize`` (H, W) (None: keep), then
    crop ``crop`` = (top, left, height, width) (None: keep)."""

    source: tuple[int, int]  # (H, W)
    resize: tuple[int, int] | None
    crop: tuple[int, int, int, int] | None

    @property
    def output(self) -> tuple[int, int]:
        if self.crop is not None:
            return self.crop[2], self.crop[3]
        return self.resize or self.source

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """``H, W, 3`` uint8 -> the clip's ``h, w, 3`` uint8."""
        if self.resize is not None and self.resize != self.source:
            x = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
            x = F.interpolate(x, size=self.resize, mode="bilinear", antialias=True, align_corners=False)
            frame = x[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        if self.crop is not None:
            top, left, h, w = self.crop
            frame = frame[top : top + h, left : left + w]
        return np.ascontiguousarray(frame)


def _center(h: int, w: int, th: int, tw: int) -> tuple[int, int, int, int] | None:
    if (th, tw) == (h, w):
        return None
    return (h - th) // 2, (w - tw) // 2, th, tw


def plan_geometry(height: int, width: int, spec: ClipSpec, multiple: int) -> Geometry:
    """The resize and crop that turn ``height x width`` frames into this spec's clip frames.

    ``--size WxH``: with ``--crop center`` scale to cover W x H keeping the aspect, then crop the
    middle; with ``--crop none`` stretch to W x H. ``--short-side P`` (or neither): scale the short
    side to P keeping the aspect (or keep the size); ``--crop center`` then crops each side to a
    multiple of ``multiple`` (the model's spatial factor), so the latents carry no padding.
    """
    src = (height, width)
    if spec.size is not None:
        tw, th = spec.size
        if spec.crop == "none":
            return Geometry(src, (th, tw), None)
        scale = max(th / height, tw / width)
        rh, rw = max(th, round(height * scale)), max(tw, round(width * scale))
        return Geometry(src, (rh, rw), _center(rh, rw, th, tw))
    rh, rw = height, width
    if spec.short_side is not None:
        scale = spec.short_side / min(height, width)
        rh, rw = max(1, round(height * scale)), max(1, round(width * scale))
        if height <= width:
            rh = spec.short_side
        else:
            rw = spec.short_side
    resize = (rh, rw) if (rh, rw) != src else None
    if spec.crop == "none":
        return Geometry(src, resize, None)
    th, tw = max(multiple, rh // multiple * multiple), max(multiple, rw // multiple * multiple)
    if th > rh or tw > rw:  # smaller than one latent pixel: keep it and let the model pad
        return Geometry(src, resize, None)
    return Geometry(src, resize, _center(rh, rw, th, tw))


def resample(frames: Iterable[np.ndarray], source_fps: Fraction, fps: Fraction | None):
    """``(output index, source index, frame)`` for every frame of the resampled timeline: output
    frame ``j`` is the source frame nearest ``j / fps`` seconds (all frames when ``fps`` is None)."""
    if fps is None or fps == source_fps:
        for i, frame in enumerate(frames):
            yield i, i, frame
        return
    ratio = Fraction(source_fps) / fps  # source frames per output frame
    j = 0
    for i, frame in enumerate(frames):
        while math.floor(j * ratio + Fraction(1, 2)) == i:
            yield j, i, frame
            j += 1


def count_resampled(source_frames: int, source_fps: Fraction, fps: Fraction | None) -> int:
    """How many frames :func:`resample` yields for ``source_frames`` source frames."""
    if fps is None or fps == source_fps:
        return source_frames
    ratio = Fraction(source_fps) / fps
    # frames j with floor(j * ratio + 1/2) <= source_frames - 1, i.e. j * ratio < source_frames - 1/2
    return math.ceil((source_frames - Fraction(1, 2)) / ratio)


@dataclass
class Clip:
    """One cut clip: output frames ``[start, start + len(frames))`` of the resampled timeline,
    taken from source frames ``[source_start, source_end)``."""

    index: int
    start: int
    length: int
    frames: list[np.ndarray]  # empty for a clip the caller did not want
    source_start: int
    source_end: int

    @property
    def end(self) -> int:
        return self.start + self.length


def iter_clips(
    frames: Iterable[np.ndarray],
    spec: ClipSpec,
    source_fps: Fraction,
    transform: Callable[[np.ndarray], np.ndarray] = lambda f: f,
    wanted: Callable[[int], bool] = lambda k: True,
    on_frame: Callable[[], None] | None = None,
) -> Iterator[Clip]:
    """Yield the clips ``k = 0, 1, ...`` (output frames ``[k*stride, k*stride + frames)``) of one
    video as they complete; an incomplete last window is dropped. Only frames that belong to a
    clip with ``wanted(k)`` are transformed and kept (a resumed run skips finished clips cheaply);
    unwanted clips are yielded with no frames, so the caller still sees every window."""
    n, step = spec.frames, spec.step
    kept: dict[int, tuple[int, np.ndarray]] = {}  # output index -> (source index, frame)
    sources: dict[int, int] = {}
    next_clip = 0
    for j, i, frame in resample(frames, source_fps, spec.fps):
        if on_frame is not None:
            on_frame()
        first = max(0, -(-(j - n + 1) // step))
        if any(wanted(k) for k in range(first, j // step + 1)):
            kept[j] = (i, transform(frame))
        sources.setdefault(j, i)
        while next_clip * step + n - 1 <= j:
            k, start = next_clip, next_clip * step
            picked = [kept[t][1] for t in range(start, start + n)] if wanted(k) else []
            yield Clip(k, start, n, picked, sources[start], sources[start + n - 1] + 1)
            next_clip += 1
            low = next_clip * step
            for t in [t for t in kept if t < low]:
                del kept[t]
            for t in [t for t in sources if t < low]:
                del sources[t]
