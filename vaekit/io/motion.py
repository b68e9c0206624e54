"""Motion-rich synthetic clips: fast cameras, moving occluders, blur, cuts, fades, noise, codec loss.

:mod:`vaekit.io.synthetic` films a still photograph with a slow camera (0.1-1.2% of the view per
frame). A VAE trained only on that never sees fast motion, occlusion or scene changes, and learns to
cross-fade through them. This module makes clips that have them, from the same bundled photographs:

* a camera over a photo whose view centre moves at a log-uniform 0.1-12 px/frame (output pixels),
  with zoom (changing by up to a factor 1.5 over the clip) and roll (+-8 degrees, drifting up to 8);
* 1-4 *sprites*: pieces of the same or other photos cut out with soft blob masks, each moving on
  its own (up to 16 px/frame, spinning, growing or shrinking) and composited in depth order, so
  they occlude and uncover the background and each other;
* motion blur (2-4 sub-frames at fractional times, averaged) in a share of clips;
* hard cuts (the first frame of the new shot uniform in 1..T-1) and cross-dissolves to a different
  photo and camera; static clips; gaussian sensor noise; x264 re-encoding at crf 18-35.

A clip is described by a :class:`MotionSpec` drawn by :func:`sample_motion_spec` from a
``torch.Generator`` and rendered by :func:`render_motion_clip`; the pair is deterministic (the same
generator state gives the same clip bit for bit). :data:`SHARES` lists how often each kind of clip
and effect is drawn; ``docs/motion-data.md`` has the measured statistics
(:func:`motion_statistics`). The trainer's ``builtin:motion`` source reads clips from here.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import av
import numpy as np
import torch
import torch.nn.functional as F

from vaekit.io.synthetic import (
    CameraPath,
    CameraPose,
    _affine,
    _read_photo,
    _working_photo,
    list_photos,
    load_photo,
    random_camera_path,
)

# How often each kind of clip / effect is drawn (probabilities per clip, before conditioning).
SHARES = {
    "slow": 0.20,  # today's builtin:photos clip (random_camera_path), nothing else
    "static": 0.10,  # a still view (maybe with still sprites); noise / re-encode may apply
    "motion": 0.70,  # fast camera + 1-4 moving sprites; all effects below may apply
    # conditional on a "motion" clip:
    "cut": 0.28,  # -> ~20% of all clips
    "fade": 0.10,  # -> ~7% of all clips
    "blur": 0.40,  # -> ~28% of all clips
    # conditional on a "motion" or "static" clip:
    "noise": 0.30,  # -> ~24% of all clips
    "reencode": 0.0625,  # -> ~5% of all clips
}
CAMERA_SPEED = (0.1, 12.0)  # px/frame of the view centre, log-uniform (output pixels)
SPRITE_SPEED = (0.5, 16.0)  # px/frame of a sprite's centre, log-uniform
# builtin:fastmotion: every clip is a "motion" clip (no slow or static ones), faster on both counts
FAST_CAMERA_SPEED = (2.0, 16.0)
FAST_SPRITE_SPEED = (4.0, 16.0)
MAX_ZOOM = 5.0  # a fast pan needs a magnified view to fit in the photo; capped here
_LEVELS = (1, 2, 4)  # working photos whose widest view samples 1, 2, 4 photo px per output px


@dataclass(frozen=True)
class Sprite:
    """A piece of ``photo`` cut out with a soft blob mask, moving over the frame.

    Texture: a square of side ``crop`` x the photo's short side, centred at ``(crop_x, crop_y)``
    (photo fractions), turned by ``crop_angle`` degrees. Mask: an ellipse with axes ``axes`` (texture
    half-widths) whose radius wobbles by harmonics ``wobble`` ((k, amplitude, phase), ...), with a
    soft edge ``softness`` wide. On screen, at frame ``t``: centre ``(x + vx t, y + vy t)`` px,
    side ``size * exp(growth t)`` px, rotation ``angle + spin t`` degrees.
    """

    photo: str
    crop_x: float
    crop_y: float
    crop: float
    crop_angle: float
    axes: tuple[float, float]
    wobble: tuple[tuple[int, float, float], ...]
    softness: float
    x: float
    y: float
    vx: float
    vy: float
    size: float
    growth: float
    angle: float
    spin: float

    def at(self, t: float) -> tuple[float, float, float, float]:
        """``(centre x, centre y, side, angle)`` at frame time ``t`` (output pixels, degrees)."""
        return (
            self.x + self.vx * t,
            self.y + self.vy * t,
            self.size * math.exp(self.growth * t),
            self.angle + self.spin * t,
        )

    @property
    def speed(self) -> float:
        return math.hypot(self.vx, self.vy)


@dataclass(frozen=True)
class Shot:
    """One continuous view: a camera path over ``photo`` and the sprites in front of it (bottom first).

    ``level`` picks the working copy of the photo (1, 2 or 4: the widest view samples that many photo
    pixels per output pixel; 1 is :func:`~vaekit.io.synthetic.camera_motion_clip`'s copy).
    ``speed`` is the sampled mean speed of the view centre in px/frame (for the statistics).
    """

    photo: str
    camera: CameraPath
    level: int = 1
    sprites: tuple[Sprite, ...] = ()
    speed: float = 0.0


@dataclass(frozen=True)
class MotionSpec:
    """Everything that decides a clip; :func:`render_motion_clip` is a pure function of it.

    ``kind``: "slow", "static" or "motion" (see :data:`SHARES`). ``shots``: one, or two when
    ``transition`` is "cut" (frames ``cut..T-1`` show the second shot) or "fade" (frames
    ``cut..cut+fade-1`` dissolve into the second shot). ``subframes`` > 1: motion blur, the average of
    that many renders at times spread over ``shutter`` of a frame. ``noise``: gaussian sigma in 0-255
    units (0: none), drawn from ``noise_seed``. ``crf`` > 0: re-encoded with libx264 at that crf.
    """

    num_frames: int
    resolution: int
    kind: str
    shots: tuple[Shot, ...]
    transition: str = "none"
    cut: int = 0
    fade: int = 0
    subframes: int = 1
    shutter: float = 0.0
    noise: float = 0.0
    noise_seed: int = 0
    crf: int = 0

    def shot_of_frame(self, i: int) -> int:
        """Which shot frame ``i`` mostly shows (the second one from the cut or mid-fade on)."""
        if self.transition == "cut":
            return int(i >= self.cut)
        if self.transition == "fade":
            return int(i - self.cut + 1 > self.fade / 2)
        return 0


# ------------------------------------------------------------------------------------------------
# sampling


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _photo_size(name: str) -> tuple[int, int]:
    """(width, height) of the photo as bundled."""
    h, w = _read_photo(name).shape[:2]
    return w, h


def _fast_camera(
    rng: np.random.Generator, name: str, num_frames: int, resolution: int, speeds: tuple = CAMERA_SPEED
) -> tuple:
    """A camera path whose view centre moves at a log-uniform speed in output px/frame, with zoom and
    roll, kept inside the photo by magnifying the view as much as the pan needs (up to MAX_ZOOM)."""
    photo_w, photo_h = _photo_size(name)
    short = min(photo_w, photo_h)
    speed = _log_uniform(rng, *speeds)
    heading = rng.uniform(0.0, 2 * math.pi)
    angle0 = float(rng.uniform(-8.0, 8.0))
    angle1 = float(np.clip(angle0 + rng.uniform(-8.0, 8.0), -12.0, 12.0))
    zoom0 = float(rng.uniform(1.0, 2.2))
    zoom1 = zoom0 * math.exp(rng.uniform(-0.4, 0.4))
    ease = float(rng.uniform(0.0, 0.5))
    # For a square output, a view at zoom z spans short/z photo px whatever its roll, and samples
    # short/(res * k * z) photo px per output px, k = |cos| + |sin| of the roll.
    k = abs(math.cos(math.radians((angle0 + angle1) / 2))) + abs(
        math.sin(math.radians((angle0 + angle1) / 2))
    )
    zmin, zgeo = min(zoom0, zoom1), math.sqrt(zoom0 * zoom1)
    travel = speed * max(num_frames - 1, 0) * short / (resolution * k * zgeo)  # photo px at f = 1
    tx, ty = travel * math.cos(heading), travel * math.sin(heading)
    need = max(1.0, (abs(tx) + short / zmin) / photo_w, (abs(ty) + short / zmin) / photo_h) * 1.002
    f = min(need, MAX_ZOOM / max(zoom0, zoom1))
    if f < need:  # too fast to fit even magnified: slow down to what fits
        room = min(
            (photo_w * f - short / zmin) / abs(tx) if tx else math.inf,
            (photo_h * f - short / zmin) / abs(ty) if ty else math.inf,
        )
        tx, ty, speed = tx * room * 0.998, ty * room * 0.998, speed * room * 0.998
    zoom0, zoom1 = zoom0 * f, zoom1 * f
    tx, ty, half = tx / f, ty / f, short / (2 * zmin * f)
    x0 = rng.uniform(half + max(0.0, -tx), max(half + max(0.0, -tx), photo_w - half - max(0.0, tx)))
    y0 = rng.uniform(half + max(0.0, -ty), max(half + max(0.0, -ty), photo_h - half - max(0.0, ty)))
    path = CameraPath(
        start=CameraPose(x0 / photo_w, y0 / photo_h, zoom0, angle0),
        end=CameraPose((x0 + tx) / photo_w, (y0 + ty) / photo_h, zoom1, angle1),
        ease=ease,
    )
    return path, speed, zmin * f


def _static_camera(rng: np.random.Generator) -> tuple:
    pose = CameraPose(*(float(v) for v in rng.uniform(0.3, 0.7, size=2)), float(rng.uniform(1.0, 2.0)),
                      float(rng.uniform(-6.0, 6.0)))  # fmt: skip
    return CameraPath(pose, pose, 0.0), 0.0, pose.zoom


def _level_for(zoom: float) -> int:
    """The coarsest working copy that a view at ``zoom`` does not minify (largest level <= zoom)."""
    return max(d for d in _LEVELS if d <= max(zoom, 1.0))


def _sample_sprite(
    rng: np.random.Generator,
    photos: Sequence[str],
    num_frames: int,
    resolution: int,
    moving: bool,
    speeds: tuple = SPRITE_SPEED,
) -> Sprite:
    res, span = resolution, max(num_frames - 1, 1)
    speed = _log_uniform(rng, *speeds) if moving else 0.0
    heading = rng.uniform(0.0, 2 * math.pi)
    vx, vy = speed * math.cos(heading), speed * math.sin(heading)
    mid_x, mid_y = (float(v) for v in rng.uniform(0.15 * res, 0.85 * res, size=2))
    crop = float(rng.uniform(0.15, 0.6))
    n_wobble = int(rng.integers(0, 4))
    return Sprite(
        photo=str(photos[int(rng.integers(len(photos)))]),
        crop_x=float(rng.uniform(crop / 2, 1 - crop / 2)),
        crop_y=float(rng.uniform(crop / 2, 1 - crop / 2)),
        crop=crop,
        crop_angle=float(rng.uniform(-30.0, 30.0)),
        axes=(float(rng.uniform(0.45, 1.0)), float(rng.uniform(0.45, 1.0))),
        wobble=tuple(
            (int(rng.integers(2, 6)), float(rng.uniform(0.03, 0.15)), float(rng.uniform(0, 2 * math.pi)))
            for _ in range(n_wobble)
        ),
        softness=float(rng.uniform(0.03, 0.3)),
        x=mid_x - vx * span / 2,
        y=mid_y - vy * span / 2,
        vx=vx,
        vy=vy,
        size=float(rng.uniform(0.2, 0.6)) * res,
        growth=float(rng.uniform(-0.35, 0.35)) / span if moving else 0.0,
        angle=float(rng.uniform(0.0, 360.0)),
        spin=float(rng.uniform(-3.0, 3.0)) if moving else 0.0,
    )


def _sample_shot(
    rng: np.random.Generator,
    photo: str,
    photos: Sequence[str],
    num_frames: int,
    resolution: int,
    kind: str,
    fast: bool = False,
) -> Shot:
    if kind == "static":
        camera, speed, zoom = _static_camera(rng)
        n_sprites = int(rng.integers(0, 3))
    else:
        speeds = FAST_CAMERA_SPEED if fast else CAMERA_SPEED
        camera, speed, zoom = _fast_camera(rng, photo, num_frames, resolution, speeds)
        n_sprites = int(rng.integers(1, 5))
    sprite_speeds = FAST_SPRITE_SPEED if fast else SPRITE_SPEED
    sprites = tuple(
        _sample_sprite(rng, photos, num_frames, resolution, kind != "static", sprite_speeds)
        for _ in range(n_sprites)
    )
    return Shot(photo, camera, _level_for(zoom), sprites, speed)


def sample_motion_spec(
    gen: torch.Generator,
    photos: Sequence[str],
    num_frames: int,
    resolution: int,
    *,
    photo: str | None = None,
    kind: str | None = None,
    fast: bool = False,
) -> MotionSpec:
    """Draw one clip's description from ``gen`` (consumes one draw of it).

    ``photo``: the first shot's background (default: one of ``photos``, drawn); ``photos``: where
    sprites and the second shot of a cut or fade come from. ``kind`` forces "slow", "static" or
    "motion" (default: drawn with :data:`SHARES`); effects are still drawn. ``fast`` (the
    ``builtin:fastmotion`` source) makes the default kind "motion" and draws camera and sprite
    speeds from :data:`FAST_CAMERA_SPEED` / :data:`FAST_SPRITE_SPEED`.
    """
    if num_frames < 1 or resolution < 1:
        raise ValueError(f"need num_frames, resolution >= 1, got {num_frames}, {resolution}")
    photos = list(photos)
    if not photos:
        raise ValueError("need at least one photo")
    available = set(list_photos())
    for name in [*photos, *([photo] if photo else [])]:
        if name not in available:
            load_photo(name)  # raises the InputError that names the choices
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=gen)))
    if photo is None:
        photo = photos[int(rng.integers(len(photos)))]
    u = rng.uniform(size=8)  # one uniform per decision, drawn up front: kinds do not shift the stream
    if kind is None and fast:
        kind = "motion"
    if kind is None:
        kind = (
            "slow"
            if u[0] < SHARES["slow"]
            else "static"
            if u[0] < SHARES["slow"] + SHARES["static"]
            else "motion"
        )
    elif kind not in ("slow", "static", "motion"):
        raise ValueError(f"kind must be slow, static or motion, got {kind!r}")
    T, res = num_frames, resolution
    if kind == "slow":
        path = random_camera_path(int(rng.integers(0, 2**31 - 1)), T)
        return MotionSpec(T, res, "slow", (Shot(photo, path, 1, (), _slow_speed(path, photo, T, res)),))
    first = _sample_shot(rng, photo, photos, T, res, kind, fast)
    shots, transition, cut, fade, subframes, shutter = (first,), "none", 0, 0, 1, 0.0
    if kind == "motion":
        if T >= 2 and u[1] < SHARES["cut"] + SHARES["fade"]:
            transition = "cut" if u[1] < SHARES["cut"] else "fade"
            cut = int(rng.integers(1, T))  # the new shot's first (cut) / first mixed (fade) frame
            fade = min(int(rng.integers(2, 7)), T - cut) if transition == "fade" else 0
            others = [p for p in photos if p != photo] or photos
            second = others[int(rng.integers(len(others)))]
            shots = (first, _sample_shot(rng, second, photos, T, res, "motion", fast))
        if u[2] < SHARES["blur"]:
            subframes, shutter = int(rng.integers(2, 5)), float(rng.uniform(0.5, 1.0))
    noise = _log_uniform(rng, 0.5, 6.0) if u[3] < SHARES["noise"] else 0.0
    crf = int(rng.integers(18, 36)) if u[4] < SHARES["reencode"] else 0
    return MotionSpec(
        T, res, kind, shots, transition, cut, fade, subframes, shutter, noise,
        int(rng.integers(0, 2**62)), crf,
    )  # fmt: skip


def _slow_speed(path: CameraPath, photo: str, num_frames: int, resolution: int) -> float:
    """Mean view-centre speed (output px/frame) of a path, as rendered."""
    thetas = _camera_matrices(path, _level_size(photo, resolution, 1), [0.0, num_frames - 1.0],
                              num_frames, resolution)  # fmt: skip
    return float(_displacements(thetas, resolution)[0][0]) / max(num_frames - 1, 1)


# ------------------------------------------------------------------------------------------------
# rendering


def _level_size(name: str, resolution: int, level: int) -> tuple[int, int]:
    """(width, height) of the working copy ``level`` of a photo (as :func:`_working_photo` makes it)."""
    w, h = _photo_size(name)
    shrink = min(w, h) / (resolution * level)
    if shrink <= 1.0:
        return w, h
    return max(1, round(w / shrink)), max(1, round(h / shrink))


@functools.lru_cache(maxsize=64)
def _working(name: str, resolution: int, level: int) -> torch.Tensor:
    """The photo as a 1x3xHxW float tensor (0-255) whose short side is ``resolution * level`` (or
    the photo's own, if smaller)."""
    return _working_photo(load_photo(name), resolution * level, resolution * level)


def _grid(thetas: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``affine_grid(thetas, (N, C, height, width), align_corners=False)``, by broadcasting."""
    x = (torch.arange(width, dtype=torch.float32) * 2 + 1) / width - 1
    y = ((torch.arange(height, dtype=torch.float32) * 2 + 1) / height - 1)[:, None]
    t = thetas[:, :, :, None, None]
    return torch.stack([t[:, i, 0] * x + t[:, i, 1] * y + t[:, i, 2] for i in (0, 1)], dim=-1)


def _camera_matrices(
    path: CameraPath, size: tuple[int, int], times: Sequence[float], num_frames: int, resolution: int
) -> torch.Tensor:
    span = max(num_frames - 1, 1)
    poses = [path.at(min(max(t / span, 0.0), 1.0)) for t in times]
    return torch.stack([_affine(p, size[0], size[1], resolution, resolution) for p in poses])


def _sprite_texture(sprite: Sprite, resolution: int, side: int) -> torch.Tensor:
    """1 x 4 x side x side: premultiplied RGB (0-255) and alpha (0-1) of a sprite."""
    w, h = _photo_size(sprite.photo)
    crop_px = sprite.crop * min(w, h)
    level = next((d for d in _LEVELS if sprite.crop * min(w, h, resolution * d) >= side), _LEVELS[-1])
    source = _working(sprite.photo, resolution, level)
    a = math.radians(sprite.crop_angle)
    sx, sy = crop_px / w, crop_px / h  # texture [-1, 1] -> photo normalised coordinates
    theta = torch.tensor(
        [[[sx * math.cos(a), -sx * math.sin(a), 2 * sprite.crop_x - 1],
          [sy * math.sin(a), sy * math.cos(a), 2 * sprite.crop_y - 1]]], dtype=torch.float32,
    )  # fmt: skip
    rgb = F.grid_sample(source, _grid(theta, side, side), mode="bilinear", padding_mode="border",
                        align_corners=False)  # fmt: skip
    u = (torch.arange(side, dtype=torch.float32) * 2 + 1) / side - 1
    px, py = u[None, :] / sprite.axes[0], u[:, None] / sprite.axes[1]
    r, phi = torch.sqrt(px * px + py * py), torch.atan2(py, px)
    edge = torch.ones_like(phi)
    for k, amplitude, phase in sprite.wobble:
        edge = edge + amplitude * torch.cos(k * phi + phase)
    # the blob, soft edge included, stays inside the texture square (|u| <= 1)
    scale = (1 / max(sprite.axes) - sprite.softness / 2) / (1 + sum(amp for _, amp, _ in sprite.wobble))
    alpha = ((edge * scale - r) / sprite.softness + 0.5).clamp(0, 1)
    alpha = alpha * alpha * (3 - 2 * alpha)  # smoothstep edge
    return torch.cat([rgb * alpha, alpha[None, None]], dim=1)


def _composite_sprite(frames: torch.Tensor, sprite: Sprite, times: Sequence[float], resolution: int) -> None:
    """Draw ``sprite`` over ``frames`` (N x 3 x res x res, in place) at ``times``."""
    res = resolution
    poses = [sprite.at(t) for t in times]
    side = max(4, min(2 * res, math.ceil(max(p[2] for p in poses))))
    halves = [
        p[2] / 2 * (abs(math.cos(math.radians(p[3]))) + abs(math.sin(math.radians(p[3])))) for p in poses
    ]
    x0 = max(0, math.floor(min(p[0] - hw for p, hw in zip(poses, halves))))
    x1 = min(res, math.ceil(max(p[0] + hw for p, hw in zip(poses, halves))))
    y0 = max(0, math.floor(min(p[1] - hw for p, hw in zip(poses, halves))))
    y1 = min(res, math.ceil(max(p[1] + hw for p, hw in zip(poses, halves))))
    if x1 <= x0 or y1 <= y0:
        return
    tex = _sprite_texture(sprite, res, side)
    rw, rh = x1 - x0, y1 - y0
    rows = []
    for cx, cy, size, angle in poses:  # region pixel -> texture coordinates
        a = math.radians(angle)
        c, s = math.cos(a) * 2 / size, math.sin(a) * 2 / size
        ox, oy = x0 + rw / 2 - cx, y0 + rh / 2 - cy
        rows.append([[c * rw / 2, s * rh / 2, c * ox + s * oy], [-s * rw / 2, c * rh / 2, -s * ox + c * oy]])
    grid = _grid(torch.tensor(rows, dtype=torch.float32), rh, rw)
    layer = F.grid_sample(tex.expand(len(poses), -1, -1, -1), grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)  # fmt: skip
    region = frames[:, :, y0:y1, x0:x1]
    region.mul_(1 - layer[:, 3:]).add_(layer[:, :3])


def _render_shot(shot: Shot, times: Sequence[float], num_frames: int, resolution: int) -> torch.Tensor:
    """N x 3 x res x res float (0-255): the shot at frame times ``times``."""
    source = _working(shot.photo, resolution, shot.level)
    size = (source.shape[3], source.shape[2])
    thetas = _camera_matrices(shot.camera, size, times, num_frames, resolution)
    frames = F.grid_sample(source.expand(len(times), -1, -1, -1), _grid(thetas, resolution, resolution),
                           mode="bilinear", padding_mode="border", align_corners=False)  # fmt: skip
    for sprite in shot.sprites:
        _composite_sprite(frames, sprite, times, resolution)
    return frames


def _shot_frames(spec: MotionSpec, shot: Shot, frames: range) -> torch.Tensor:
    """len(frames) x 3 x res x res: the shot at those frames, sub-frame averaged when blurred."""
    if spec.kind == "static":  # nothing moves: render once
        return _render_shot(shot, [0.0], spec.num_frames, spec.resolution).expand(len(frames), -1, -1, -1)
    n = spec.subframes
    offsets = [spec.shutter * ((j + 0.5) / n - 0.5) for j in range(n)] if n > 1 else [0.0]
    times = [i + o for i in frames for o in offsets]
    out = _render_shot(shot, times, spec.num_frames, spec.resolution)
    return out.view(len(frames), n, *out.shape[1:]).mean(dim=1) if n > 1 else out


@functools.cache
def x264_available() -> bool:
    """Whether PyAV can encode with libx264 here (re-encoding is skipped when not)."""
    try:
        av.codec.Codec("libx264", "w")
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False
    return True


def reencode(frames: np.ndarray, crf: int) -> np.ndarray:
    """``T x H x W x 3`` uint8 through libx264 (yuv420p, crf ``crf``, in memory) and back."""
    t, h, w = frames.shape[:3]
    padded = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = padded.shape[2], padded.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        stream.codec_context.thread_count = 1
        for frame in padded:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer, "r") as container:
        container.streams.video[0].thread_count = 1
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if len(decoded) != t:
        raise RuntimeError(f"x264 round trip gave {len(decoded)} frames for {t}")
    return np.stack(decoded)[:, :h, :w]


def render_motion_clip(spec: MotionSpec) -> torch.Tensor:
    """The clip of ``spec``: ``T x res x res x 3`` uint8 RGB (like stacked
    :func:`~vaekit.io.synthetic.camera_motion_clip` frames). Deterministic."""
    T, res = spec.num_frames, spec.resolution
    first = spec.shots[0]
    if spec.transition == "none":
        clip = _shot_frames(spec, first, range(T))
    else:
        end_first = spec.cut + spec.fade if spec.transition == "fade" else spec.cut
        clip = torch.empty(T, 3, res, res)
        clip[:end_first] = _shot_frames(spec, first, range(end_first))
        second = _shot_frames(spec, spec.shots[1], range(spec.cut, T))
        if spec.transition == "fade":
            w = torch.arange(1, spec.fade + 1, dtype=torch.float32).view(-1, 1, 1, 1) / (spec.fade + 1)
            mixed = slice(spec.cut, spec.cut + spec.fade)
            clip[mixed] = clip[mixed] * (1 - w) + second[: spec.fade] * w
            clip[spec.cut + spec.fade :] = second[spec.fade :]
        else:
            clip[spec.cut :] = second
    if spec.noise > 0:
        g = torch.Generator().manual_seed(spec.noise_seed)
        clip = clip + torch.randn(clip.shape, generator=g) * spec.noise
    out = clip.round().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    if spec.crf and x264_available():
        out = torch.from_numpy(reencode(out.numpy(), spec.crf))
    return out


def motion_clip(
    gen: torch.Generator,
    photos: Sequence[str],
    num_frames: int,
    resolution: int,
    *,
    photo: str | None = None,
    fast: bool = False,
) -> torch.Tensor:
    """:func:`sample_motion_spec` then :func:`render_motion_clip`."""
    spec = sample_motion_spec(gen, photos, num_frames, resolution, photo=photo, fast=fast)
    return render_motion_clip(spec)


# ------------------------------------------------------------------------------------------------
# statistics


def _displacements(thetas: torch.Tensor, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Per consecutive pair of camera matrices: how far the scene point under the view centre moves
    on screen, and the most any of the frame's corners' points move (zoom and roll included), px."""
    m = thetas.double().numpy()  # output normalised -> photo normalised; shared pixel scale cancels
    res = resolution
    pts = np.array([[0.5, 0.5], [0, 0], [1, 0], [0, 1], [1, 1]]) * res
    norm = pts * 2 / res - 1
    centre, worst = [], []
    for a, b in zip(m[:-1], m[1:]):
        photo = norm @ a[:, :2].T + a[:, 2]
        back = np.linalg.solve(b[:, :2], (photo - b[:, 2]).T).T  # in frame t+1's normalised coords
        d = np.linalg.norm((back - norm) * res / 2, axis=1)
        centre.append(d[0])
        worst.append(d.max())
    return np.asarray(centre), np.asarray(worst)


def spec_displacements(spec: MotionSpec) -> dict[str, np.ndarray]:
    """px/frame, per frame pair of the clip (pairs across a hard cut left out), from the sampled
    parameters: ``camera`` (view centre), ``camera_max`` (worst frame corner: pan + zoom + roll),
    ``sprites`` (every sprite's centre, for each pair of frames it is drawn in)."""
    T, res = spec.num_frames, spec.resolution
    camera, camera_max, sprites = [], [], []
    for index, shot in enumerate(spec.shots):
        pairs = [i for i in range(T - 1) if spec.shot_of_frame(i) == index == spec.shot_of_frame(i + 1)]
        if not pairs:
            continue
        size = _level_size(shot.photo, res, shot.level)
        thetas = _camera_matrices(shot.camera, size, [float(i) for i in range(T)], T, res)
        c, w = _displacements(thetas, res)
        camera += list(c[pairs])
        camera_max += list(w[pairs])
        sprites += [sprite.speed for sprite in shot.sprites for _ in pairs]
    return {k: np.asarray(v, dtype=np.float64) for k, v in
            (("camera", camera), ("camera_max", camera_max), ("sprites", sprites))}  # fmt: skip


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {"p10": 0.0, "p50": 0.0, "p90": 0.0, "max": 0.0}
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"p10": float(p10), "p50": float(p50), "p90": float(p90), "max": float(values.max())}


def motion_statistics(
    n_clips: int = 2000,
    num_frames: int = 17,
    resolution: int = 128,
    seed: int = 0,
    fast: bool = False,
    reference: bool = True,
) -> dict:
    """Measure ``n_clips`` sampled ``builtin:motion`` clips (over all installed photos) against the
    same number of today's ``builtin:photos`` clips (:func:`random_camera_path`), without rendering.

    Returns ``{"motion": {...}, "motion_only": {...}, "photos": {...}, "shares": {...}}``: for all
    ``builtin:motion`` clips, for its "motion" kind alone and for ``builtin:photos``, percentiles
    (p10/p50/p90/max, px/frame) of ``camera``, ``camera_max`` and (not photos) ``sprites``
    displacements (see :func:`spec_displacements`); ``shares``: fraction of motion clips that are
    slow / static / motion, have a cut / fade / blur / noise / re-encode, and mean sprites per clip.
    ``fast`` measures ``builtin:fastmotion`` instead of ``builtin:motion``; ``reference=False``
    leaves out the ``builtin:photos`` reference (``"photos"`` is then absent).
    """
    photos = list_photos()
    gen = torch.Generator().manual_seed(seed)
    specs = [sample_motion_spec(gen, photos, num_frames, resolution, fast=fast) for _ in range(n_clips)]
    parts = [spec_displacements(s) for s in specs]
    keys = ("camera", "camera_max", "sprites")
    motion = {k: _percentiles(np.concatenate([p[k] for p in parts])) for k in keys}
    moving = [p for p, s in zip(parts, specs) if s.kind == "motion"]
    motion_only = {k: _percentiles(np.concatenate([p[k] for p in moving] or [np.zeros(0)])) for k in keys}
    out = {"motion": motion, "motion_only": motion_only, "shares": _shares(specs)}
    if reference:
        out["photos"] = _photos_reference(photos, n_clips, num_frames, resolution, seed)
    return out


def _photos_reference(photos: list[str], n_clips: int, num_frames: int, resolution: int, seed: int) -> dict:
    """Displacement percentiles of ``n_clips`` of today's ``builtin:photos`` clips."""
    rng = np.random.default_rng(seed)
    base_c, base_w = [], []
    for _ in range(n_clips):
        name = photos[int(rng.integers(len(photos)))]
        path = random_camera_path(int(rng.integers(0, 2**31 - 1)), num_frames)
        thetas = _camera_matrices(path, _level_size(name, resolution, 1),
                                  [float(i) for i in range(num_frames)], num_frames, resolution)  # fmt: skip
        c, w = _displacements(thetas, resolution)
        base_c.append(c)
        base_w.append(w)
    return {"camera": _percentiles(np.concatenate(base_c)), "camera_max": _percentiles(np.concatenate(base_w))}


def _shares(specs: list) -> dict:
    """Fractions of clip kinds and effects among ``specs``, and the mean sprites per clip."""
    n = len(specs)
    return {
        "slow": sum(s.kind == "slow" for s in specs) / n,
        "static": sum(s.kind == "static" for s in specs) / n,
        "motion": sum(s.kind == "motion" for s in specs) / n,
        "cut": sum(s.transition == "cut" for s in specs) / n,
        "fade": sum(s.transition == "fade" for s in specs) / n,
        "blur": sum(s.subframes > 1 for s in specs) / n,
        "noise": sum(s.noise > 0 for s in specs) / n,
        "reencode": sum(s.crf > 0 for s in specs) / n,
        "sprites_per_clip": sum(len(s.shots[0].sprites) for s in specs) / n,
    }
