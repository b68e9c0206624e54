"""``vaekit eval --suite motion``: fixed clips that show how a causal video VAE copes with motion.

The clips are rendered deterministically (no random numbers at all) from the photographs held
out of the tiny model's training data, :data:`HELD_OUT_PHOTOS`: a static shot, a slow pan
(~1 px/frame), a fast pan (~8 px/frame), sprites moving ~10 px/frame over a slowly panning
background, a hard cut on each slot of a latent group (four clips) and a cross-dissolve over
one group. Sizes are in pixels of the default 256x256 suite; other ``size`` values scale the
whole scene (photos, positions and speeds) by ``size / 256``.

With 4x temporal compression frame 0 is its own latent and frames ``1 + 4g .. 4 + 4g`` form
group ``g``; a frame's *slot* is its position in its group (0..3). Beyond the whole-clip scores
of :func:`vaekit.evaluate.evaluate_frames` (PSNR, SSIM, flicker, LPIPS) every clip gets, for the
model and for the equal-floats baseline: PSNR per slot (frame 0 excluded), PSNR after 8x8
average pooling of both frames (colour and low-frequency fidelity, blind to fine texture), and
for cuts and the dissolve the *recovery*: PSNR of the group holding the transition and of the
group after it, minus the clip's median per-frame PSNR. The two shots of a cut need not be equally
hard to code, so the recovery is also given against each shot's own level
(:func:`shot_recovery`): every frame minus the median frame PSNR of the shot it shows, measured
away from the transition.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .evaluate import _Scores, _summary, evaluate_frames
from .metrics import psnr_from_mse
from .runtime.backend import Backend
from .runtime.pipeline import StreamOptions

SUITES = ("motion",)
# Kept out of train/tiny.toml's training photos (coffee and grass serve as its validation data).
HELD_OUT_PHOTOS = ("coffee", "grass", "grace_hopper")
DEFAULT_SIZE = 256
DEFAULT_FRAMES = 33
MIN_FRAMES = 9  # two whole groups after frame 0: a transition group and the one after it
POOL = 8
CATEGORIES = ("static", "slow_pan", "fast_pan", "sprites", "cut", "fade")

Frame = np.ndarray  # H x W x 3 uint8


# --- rendering -------------------------------------------------------------------------------
# Every clip is a MotionSpec drawn by vaekit.io.motion.render_motion_clip, the renderer of the
# builtin:motion training data, with parameters fixed here instead of sampled. Views use the
# photos' full-resolution copies (level 2) at a zoom that, at 256x256, shows exactly one photo
# pixel per output pixel; positions and speeds below are in those pixels. Coffee is 600x400,
# grass 512x512, grace_hopper 512x600 (width x height).


def _native(photo: str) -> tuple[int, int]:
    """(width, height) of the photo as bundled."""
    from .io.synthetic import load_photo

    h, w = load_photo(photo).shape[:2]
    return w, h


def _camera(photo: str, centre: tuple[float, float], velocity: tuple[float, float], frames: int):
    """A constant-speed pan (``velocity`` px/frame at 256) from ``centre`` (photo px), shortened to
    what stays inside the photo; returns the path and its speed in px/frame at 256."""
    from .io.synthetic import CameraPath, CameraPose

    w, h = _native(photo)
    zoom = min(w, h) / DEFAULT_SIZE
    half = DEFAULT_SIZE / 2
    span = max(frames - 1, 1)
    travel = [v * span for v in velocity]
    fit = min(
        [1.0]
        + [(hi - half - c) / d for c, d, hi in zip(centre, travel, (w, h)) if d > 0]
        + [(c - half) / -d for c, d in zip(centre, travel) if d < 0]
    )
    end = [c + d * max(fit, 0.0) for c, d in zip(centre, travel)]
    path = CameraPath(
        CameraPose(centre[0] / w, centre[1] / h, zoom), CameraPose(end[0] / w, end[1] / h, zoom), ease=0.0
    )
    return path, math.hypot(*velocity) * max(fit, 0.0)


def _shot(photo, centre, velocity, frames, sprites=()):
    from .io.motion import Shot

    path, speed = _camera(photo, centre, velocity, frames)
    return Shot(photo, path, level=2, sprites=tuple(sprites), speed=speed)


def _sprites(size: int, frames: int) -> tuple:
    """Three soft sprites crossing the frame at ~10 px/frame, centred on ``mid`` at mid-clip."""
    from .io.motion import Sprite

    k, half_span = size / DEFAULT_SIZE, max(frames - 1, 1) / 2
    out = []
    for photo, crop_xy, crop, axes, side, mid, v in (
        ("coffee", (0.5, 0.42), 0.75, (0.95, 0.9), 96, (128, 80), (10, 0)),  # the cup
        ("grace_hopper", (0.47, 0.32), 0.45, (0.75, 0.95), 96, (128, 170), (-7, 7)),  # the face
        ("grace_hopper", (0.16, 0.14), 0.3, (1.0, 0.8), 72, (80, 128), (6, -8)),  # stars and stripes
    ):
        out.append(
            Sprite(
                photo,
                *crop_xy,
                crop,
                0.0,
                axes,
                (),
                0.08,
                x=(mid[0] - v[0] * half_span) * k,
                y=(mid[1] - v[1] * half_span) * k,
                vx=v[0] * k,
                vy=v[1] * k,
                size=side * k,
                growth=0.0,
                angle=0.0,
                spin=0.0,
            )  # fmt: skip
        )
    return tuple(out)


# The shots, centre in photo px and velocity in px/frame at 256.
_STILL = ("grace_hopper", (240, 192), (0, 0))  # the face and cap
_SLOW = ("coffee", (240, 200), (1, 0))  # the cup, 1 px/frame to the right
_FAST = ("coffee", (172, 200), (8, 0))  # the same cup at 8 px/frame (256 px over 33 frames)
_SHOT_B = ("grace_hopper", (240, 176), (0, 1))  # the second shot of the cuts and the dissolve
_LAWN = ("grass", (256, 240), (0, 1))  # the sprites' background, 1 px/frame down


def _spec(size: int, frames: int, kind: str, shots, transition: str = "none", cut: int = 0, fade: int = 0):
    from .io.motion import MotionSpec

    return MotionSpec(frames, size, kind, tuple(shots), transition, cut, fade)


def _render(spec) -> list[Frame]:
    from .io.motion import render_motion_clip

    return list(render_motion_clip(spec).numpy())


@dataclass(frozen=True)
class SuiteClip:
    """One clip of a suite. ``transition``: the first frame of the new shot (cut) or of the
    dissolve (fade); ``slot``: that frame's slot. ``spec``: the :class:`vaekit.io.motion.MotionSpec`."""

    name: str
    category: str
    description: str
    photos: tuple[str, ...]
    spec: object = field(repr=False)
    transition: int | None = None
    slot: int | None = None

    def render(self) -> list[Frame]:
        """The frames, ``H x W x 3`` uint8 (deterministic: no random numbers are involved)."""
        return _render(self.spec)


def slot_of(index: int, tc: int = 4) -> int | None:
    """The slot of frame ``index`` (None for frame 0, its own latent)."""
    return None if index == 0 else (index - 1) % tc


def transition_group(frames: int, tc: int = 4) -> int:
    """The group the transitions go into: the middle one of the whole groups, leaving one after it."""
    groups = (frames - 1) // tc
    if groups < 2:
        raise ValueError(f"the suite needs at least {1 + 2 * tc} frames (got {frames})")
    return min(groups // 2, groups - 2)


def pan_spec(speed: float, size: int = DEFAULT_SIZE, frames: int = 17):
    """The suite's coffee pan (the cup, to the right) at ``speed`` px/frame (at 256, scaled by
    ``size / 256`` like the suite), as a MotionSpec to render: ``benchmarks/pan_speed.py`` sweeps
    it. A pan that would leave the photo is shortened (``spec.shots[0].speed`` says by how much)."""
    return _spec(size, frames, "motion", [_shot(_FAST[0], _FAST[1], (speed, 0.0), frames)])


def motion_suite(size: int = DEFAULT_SIZE, frames: int = DEFAULT_FRAMES, tc: int = 4) -> list[SuiteClip]:
    """The clips of ``--suite motion`` (described, not rendered yet: call ``clip.render()``)."""
    if frames < 1 + 2 * tc:
        raise ValueError(f"the motion suite needs at least {1 + 2 * tc} frames (got {frames})")
    if size < 16:
        raise ValueError(f"the motion suite needs frames of at least 16x16 (got {size})")
    first = 1 + tc * transition_group(frames, tc)
    k = size / DEFAULT_SIZE

    def shot(spec, sprites=()):
        return _shot(*spec, frames, sprites)

    def px(shot_):
        return f"{shot_.speed * k:.3g} px/frame"

    slow, fast, b = shot(_SLOW), shot(_FAST), shot(_SHOT_B)
    lawn = shot(_LAWN, _sprites(size, frames))
    clips = [
        SuiteClip("static", "static", "grace_hopper, still camera", ("grace_hopper",),
                  _spec(size, frames, "static", [shot(_STILL)])),
        SuiteClip("slow_pan", "slow_pan", f"coffee, pan {px(slow)}", ("coffee",), _spec(size, frames, "motion", [slow])),
        SuiteClip("fast_pan", "fast_pan", f"coffee, pan {px(fast)}", ("coffee",), _spec(size, frames, "motion", [fast])),
        SuiteClip(
            "sprites", "sprites",
            f"3 soft sprites (coffee, grace_hopper) at ~{10 * k:.3g} px/frame over grass panning {px(lawn)}",
            HELD_OUT_PHOTOS, _spec(size, frames, "motion", [lawn]),
        ),
    ]  # fmt: skip
    for slot in range(tc):
        cut = first + slot
        clips.append(
            SuiteClip(
                f"cut_slot{slot}",
                "cut",
                f"hard cut coffee -> grace_hopper at frame {cut} (slot {slot})",
                ("coffee", "grace_hopper"),
                _spec(size, frames, "motion", [slow, b], "cut", cut),
                transition=cut,
                slot=slot,
            )  # fmt: skip
        )
    clips.append(
        SuiteClip(
            "fade",
            "fade",
            f"cross-dissolve coffee -> grace_hopper over frames {first}-{first + tc - 1} (one group)",
            ("coffee", "grace_hopper"),
            _spec(size, frames, "motion", [slow, b], "fade", first, tc),
            transition=first,
            slot=0,
        )  # fmt: skip
    )
    return clips


# --- metrics ---------------------------------------------------------------------------------


class FrameErrors:
    """Per-frame squared errors of one reconstruction of a clip, in full and after ``pool x pool``
    average pooling of both frames; frames come in order, ``N, 3, H, W`` on 0..255."""

    def __init__(self, pool: int = POOL):
        self.pool = pool
        self.sq: list[float] = []
        self.n: list[int] = []
        self.pooled_sq = 0.0
        self.pooled_n = 0

    def update(self, ref: torch.Tensor, rec: torch.Tensor) -> None:
        ref, rec = ref.double(), rec.double()
        for r, x in zip(ref, rec):
            self.sq.append(float((r - x).pow(2).sum()))
            self.n.append(r.numel())
            k = min(self.pool, *r.shape[-2:])
            d = F.avg_pool2d(r[None], k) - F.avg_pool2d(x[None], k)
            self.pooled_sq += float(d.pow(2).sum())
            self.pooled_n += d.numel()

    def __len__(self) -> int:
        return len(self.sq)

    def frame_psnr(self) -> list[float]:
        return [psnr_from_mse(s / n) for s, n in zip(self.sq, self.n)]

    def frames_psnr(self, indices) -> float | None:
        """PSNR of the pooled MSE of the frames ``indices`` (those past the clip's end ignored)."""
        idx = [i for i in indices if i < len(self)]
        if not idx:
            return None
        return psnr_from_mse(sum(self.sq[i] for i in idx) / sum(self.n[i] for i in idx))

    def slot_sums(self, tc: int = 4) -> tuple[list[float], list[int]]:
        sq, n = [0.0] * tc, [0] * tc
        for i in range(1, len(self)):
            s = slot_of(i, tc)
            sq[s] += self.sq[i]
            n[s] += self.n[i]
        return sq, n


def _r(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(v, nd)


def _slots(sq: list[float], n: list[int]) -> dict:
    psnr = [psnr_from_mse(s / c) if c else None for s, c in zip(sq, n)]
    known = [(p, i) for i, p in enumerate(psnr) if p is not None]
    worst = min(known) if known else None
    return {
        "slot_psnr": [_r(p) for p in psnr],
        "worst_slot": None if worst is None else {"slot": worst[1], "psnr": _r(worst[0])},
    }


def _mean_finite(values: list[float]) -> float | None:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def shot_recovery(frame_psnr: list[float], transition: int, tc: int = 4) -> dict:
    """The recovery against each shot's own level, from per-frame PSNRs (frame 0 excluded).

    Frames before ``transition`` show the first shot, later ones the second. A shot's level is the
    median frame PSNR of its frames outside the transition group and the group after it: frames
    ``1 .. 1 + tc*g - 1`` for the first shot, from ``1 + tc*(g + 2)`` on for the second. Returns
    the two levels, the mean over the transition group's frames of (frame PSNR minus its shot's
    level) and the same mean over the next group (``None`` where a level or the frames are
    missing). A codec that recovers at once scores ~0 on the next group, whatever the shots are."""
    g = (transition - 1) // tc
    start, nxt, rest = 1 + tc * g, 1 + tc * (g + 1), 1 + tc * (g + 2)
    levels = []
    for frames in (frame_psnr[1:start], frame_psnr[rest:]):
        vals = [p for p in frames if math.isfinite(p)]
        levels.append(statistics.median(vals) if vals else None)
    first, second = levels

    def rel(frames: range) -> float | None:
        diffs = []
        for f in frames:
            level = first if f < transition else second
            if f < len(frame_psnr) and level is not None:
                diffs.append(frame_psnr[f] - level)
        return _mean_finite(diffs)

    return {
        "shot_level_psnr": [_r(first), _r(second)],
        "group_shot_db": _r(rel(range(start, nxt))),
        "next_group_shot_db": _r(rel(range(nxt, rest))),
    }


def clip_metrics(errors: FrameErrors, tc: int = 4, transition: int | None = None) -> dict:
    """Per-slot PSNR (frame 0 excluded), the worst slot, pooled PSNR, per-frame PSNR and, with a
    ``transition`` frame, the recovery: PSNR of the group holding it and of the next group, each
    minus the median per-frame PSNR."""
    frame_psnr = errors.frame_psnr()
    out = {
        **_slots(*errors.slot_sums(tc)),
        "pooled_psnr": _r(psnr_from_mse(errors.pooled_sq / max(errors.pooled_n, 1))),
        "frame_psnr": [_r(p) for p in frame_psnr],
    }
    if transition is not None:
        g = (transition - 1) // tc
        median = statistics.median(frame_psnr)
        cut = errors.frames_psnr(range(1 + tc * g, 1 + tc * (g + 1)))
        after = errors.frames_psnr(range(1 + tc * (g + 1), 1 + tc * (g + 2)))
        out["recovery"] = {
            "frame": transition,
            "slot": slot_of(transition, tc),
            "group": g,
            "group_frames": [1 + tc * g, tc * (g + 1)],
            "median_frame_psnr": _r(median),
            "group_psnr": _r(cut),
            "next_group_psnr": _r(after),
            "group_db": _r(None if cut is None else cut - median),
            "next_group_db": _r(None if after is None else after - median),
            **shot_recovery(frame_psnr, transition, tc),
        }
    return out


# --- running ---------------------------------------------------------------------------------


def _side(scores: _Scores, errors: FrameErrors, tc: int, transition: int | None) -> dict:
    return {**scores.result(), **clip_metrics(errors, tc, transition)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 4)


def _aggregate(items: list[tuple[dict, _Scores, _Scores, FrameErrors, FrameErrors]], tc: int) -> dict:
    """Scores pooled over clips: PSNR from pooled MSE, SSIM/LPIPS/flicker means over frames."""
    out = {"clips": len(items)}
    for kind, si, ei in (("model", 1, 3), ("baseline", 2, 4)):
        side = _summary([it[si] for it in items])
        sq, n = [0.0] * tc, [0] * tc
        for it in items:
            s, c = it[ei].slot_sums(tc)
            sq, n = [a + b for a, b in zip(sq, s)], [a + b for a, b in zip(n, c)]
        pooled = sum(it[ei].pooled_sq for it in items) / max(sum(it[ei].pooled_n for it in items), 1)
        side.update(_slots(sq, n), pooled_psnr=_r(psnr_from_mse(pooled)))
        recs = [it[0][kind]["recovery"] for it in items if "recovery" in it[0][kind]]
        for key in ("group_db", "next_group_db", "group_shot_db", "next_group_shot_db"):
            vals = [r[key] for r in recs if r[key] is not None]
            if vals:
                side[f"mean_{key}"] = _r(sum(vals) / len(vals))
        out[kind] = side
    m, b = out["model"], out["baseline"]
    out["psnr_gain_db"] = _r(m["psnr"] - b["psnr"])
    out["pooled_gain_db"] = _r(m["pooled_psnr"] - b["pooled_psnr"])
    if m["worst_slot"] and b["worst_slot"]:
        out["worst_slot_gain_db"] = _r(m["worst_slot"]["psnr"] - b["worst_slot"]["psnr"])
    out["lpips_ratio"] = _ratio(m.get("lpips"), b.get("lpips"))
    return out


def run_suite(
    backend: Backend,
    opts: StreamOptions,
    *,
    suite: str = "motion",
    size: int = DEFAULT_SIZE,
    frames: int = DEFAULT_FRAMES,
    lpips_model=None,
) -> dict:
    """Render every clip of ``suite``, run it through the model and the baseline, score both."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose one of: {', '.join(SUITES)}")
    tc = backend.temporal_compression
    clips = motion_suite(size, frames, tc)
    rows, items = [], {}
    for clip in clips:
        video = clip.render()
        errors = {"model": FrameErrors(), "baseline": FrameErrors()}
        row, model, base = evaluate_frames(
            backend,
            lambda v=video: iter(v),
            opts,
            name=clip.name,
            total=len(video),
            lpips_model=lpips_model,
            observe=lambda kind, ref, rec, e=errors: e[kind].update(ref, rec),
        )
        m = _side(model, errors["model"], tc, clip.transition)
        b = {
            **_side(base, errors["baseline"], tc, clip.transition),
            "downscale": row["baseline"]["downscale"],
        }
        out = {
            "clip": clip.name,
            "category": clip.category,
            "description": clip.description,
            "photos": list(clip.photos),
            "frames": row["frames"],
            "width": row["width"],
            "height": row["height"],
            **(
                {"transition_frame": clip.transition, "transition_slot": clip.slot}
                if clip.transition is not None
                else {}
            ),
            "model": m,
            "baseline": b,
            "psnr_gain_db": _r(m["psnr"] - b["psnr"]),
            "pooled_gain_db": _r(m["pooled_psnr"] - b["pooled_psnr"]),
            "lpips_ratio": _ratio(m.get("lpips"), b.get("lpips")),
            "encode_fps": row["encode_fps"],
            "decode_fps": row["decode_fps"],
        }
        rows.append(out)
        items.setdefault(clip.category, []).append((out, model, base, errors["model"], errors["baseline"]))
    categories = {c: _aggregate(items[c], tc) for c in CATEGORIES if c in items}
    return {
        "suite": suite,
        "model": backend.model_name,
        "backend": backend.name,
        "photos": list(HELD_OUT_PHOTOS),
        "held_out": True,
        "size": size,
        "frames": frames,
        "temporal_compression": tc,
        "pool": POOL,
        "header": header(suite, len(clips), frames, size, backend.model_name, backend.name),
        "clips": rows,
        "summary": {
            "categories": categories,
            "overall": _aggregate([i for c in items.values() for i in c], tc),
        },
    }


def header(suite: str, clips: int, frames: int, size: int, model: str, backend: str) -> str:
    return (
        f"{suite} suite: {clips} clips of {frames} frames at {size}x{size}, rendered from photos held out "
        f"of training ({', '.join(HELD_OUT_PHOTOS)}); model {model} ({backend})"
    )


# --- table -----------------------------------------------------------------------------------


def _f(v, fmt: str, width: int) -> str:
    return (
        f"{'-':>{width}s}"
        if v is None or (isinstance(v, float) and math.isnan(v))
        else format(v, fmt).rjust(width)
    )


def _worst(side: dict) -> str:
    w = side.get("worst_slot")
    return "-" if not w else f"s{w['slot']} {w['psnr']:.2f}"


def _recovery(side: dict) -> str:
    r = side.get("recovery")
    if not r:
        return ""
    a, b = r["group_db"], r["next_group_db"]
    return f"{a:+.2f}/" + ("-" if b is None else f"{b:+.2f}")


def _shot_recovery(side: dict) -> str:
    r = side.get("recovery")
    if not r:
        return ""
    return "/".join("-" if r.get(k) is None else f"{r[k]:+.2f}" for k in ("group_shot_db", "next_group_shot_db"))


def format_suite_table(result: dict) -> str:
    """One row per clip, then one per category and the overall row."""
    has_lpips = "lpips" in result["summary"]["overall"]["model"]
    head = (
        f"{'clip':10s} {'PSNR':>6s} {'base':>6s} {'gain':>6s} {'SSIM':>6s} {'base':>6s}"
        + (f" {'LPIPS':>6s} {'base':>6s}" if has_lpips else "")
        + f" {'pool8':>6s} {'base':>6s} {'worst slot':>10s} {'base':>10s} {'recov grp/next':>14s} {'base':>13s}"
        + f" {'vs shot':>13s} {'base':>13s}"
    )
    lines = [result["header"], "", head, "-" * len(head)]
    for r in result["clips"]:
        m, b = r["model"], r["baseline"]
        s = f"{r['clip']:10s} {m['psnr']:6.2f} {b['psnr']:6.2f} {r['psnr_gain_db']:+6.2f} {m['ssim']:6.4f} {b['ssim']:6.4f}"
        if has_lpips:
            s += f" {m['lpips']:6.4f} {b['lpips']:6.4f}"
        s += f" {m['pooled_psnr']:6.2f} {b['pooled_psnr']:6.2f} {_worst(m):>10s} {_worst(b):>10s}"
        s += f" {_recovery(m):>14s} {_recovery(b):>13s} {_shot_recovery(m):>13s} {_shot_recovery(b):>13s}"
        lines.append(s.rstrip())
    head2 = (
        f"{'category':10s} {'clips':>5s} {'PSNR':>6s} {'base':>6s} {'gain':>6s} {'worst slot':>10s} {'base':>10s}"
        f" {'gain':>6s} {'pool8':>6s} {'base':>6s} {'gain':>6s}"
        + (f" {'LPIPS m/b':>9s}" if has_lpips else "")
    )
    lines += ["", head2, "-" * len(head2)]
    cats = {**result["summary"]["categories"], "overall": result["summary"]["overall"]}
    for name, c in cats.items():
        m, b = c["model"], c["baseline"]
        s = f"{name:10s} {c['clips']:5d} {m['psnr']:6.2f} {b['psnr']:6.2f} {c['psnr_gain_db']:+6.2f}"
        s += f" {_worst(m):>10s} {_worst(b):>10s} {_f(c.get('worst_slot_gain_db'), '+.2f', 6)}"
        s += f" {m['pooled_psnr']:6.2f} {b['pooled_psnr']:6.2f} {c['pooled_gain_db']:+6.2f}"
        if has_lpips:
            s += f" {_f(c['lpips_ratio'], '.3f', 9)}"
        lines.append(s)
    lines.append(
        "worst slot: the slot (0-3 in each 4-frame group) with the lowest PSNR; recov: PSNR of the group "
        "holding the cut/dissolve / of the next group, minus the clip's median frame PSNR (dB); vs shot: "
        "the same two groups, each frame minus the median frame PSNR of its own shot (dB); "
        "pool8: PSNR after 8x8 average pooling; LPIPS m/b < 1: the model is closer"
    )
    return "\n".join(lines)
