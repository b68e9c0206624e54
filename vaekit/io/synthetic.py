"""Real-looking video clips without downloads: a virtual camera moving over a still photograph.

scikit-image ships a few photographs inside its wheel (astronaut, coffee, rocket, ...).
:func:`camera_motion_clip` films one of them with a smooth camera path (pan, zoom, small
rotation) and yields the frames; :func:`write_sample_clip` encodes such a clip to a video file.
Tests use these clips as realistic inputs, the trainer as an offline data source.

Only files present in the installed scikit-image package are read; nothing here ever reaches
the network (some ``skimage.data`` images are fetched on first use; those are not offered).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import skimage.data
import skimage.io
import torch
import torch.nn.functional as F

from vaekit.errors import InputError
from vaekit.io.video import VideoWriter

# Photographs bundled in installed wheels: name -> file in ``skimage.data.data_dir``, or
# ``PACKAGE:PATH`` inside another package's folder (matplotlib, and scikit-learn when installed,
# the ``train`` extra). Grayscale ones are returned as 3 equal channels.
_PHOTO_FILES = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "retina": "retina.jpg",
    "camera": "camera.png",
    "moon": "moon.png",
    "coins": "coins.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "grace_hopper": "matplotlib:mpl-data/sample_data/grace_hopper.jpg",  # colour portrait, 512x600
    "china": "sklearn:datasets/images/china.jpg",  # colour, temple and trees, 640x427
    "flower": "sklearn:datasets/images/flower.jpg",  # colour, close-up of a flower, 640x427
}
_PHOTO_PACKAGES = {"matplotlib": "matplotlib", "sklearn": "scikit-learn"}


def _photo_path(name: str) -> Path | None:
    """Where the photo ``name`` lies; None when the package that ships it is not installed."""
    package, _, inner = _PHOTO_FILES[name].rpartition(":")
    if not package:
        return Path(skimage.data.data_dir) / inner
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / inner


def list_photos() -> list[str]:
    """Names of the photographs present in the installed packages (no download)."""
    return [name for name in _PHOTO_FILES if (path := _photo_path(name)) is not None and path.is_file()]


@functools.cache
def _read_photo(name: str) -> np.ndarray:
    image = skimage.io.imread(_photo_path(name))
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3])
    image.setflags(write=False)
    return image


def load_photo(name: str) -> np.ndarray:
    """The photograph ``name`` as an ``H x W x 3`` uint8 RGB array (a fresh copy)."""
    if name not in list_photos():
        package = _PHOTO_FILES.get(name, "").rpartition(":")[0]
        if package in _PHOTO_PACKAGES and _photo_path(name) is None:
            raise InputError(
                f"photo {name!r} ships with {_PHOTO_PACKAGES[package]}, which is not installed; "
                f"pip install {_PHOTO_PACKAGES[package]}"
            )
        if name in _PHOTO_FILES:
            raise InputError(
                f"photo {name!r} is missing from this installation ({_photo_path(name)}); "
                f"choose one of: {', '.join(list_photos())}"
            )
        raise InputError(f"unknown or missing photo {name!r}; choose one of: {', '.join(list_photos())}")
    return _read_photo(name).copy()


@dataclass(frozen=True)
class CameraPose:
    """Where the virtual camera looks.

    ``x``, ``y``: centre of view as fractions of the photo's width and height (0.5 = middle).
    ``zoom``: 1 shows the largest view of the output's aspect that fits in the photo; 2 shows
    half of that width. ``angle``: roll in degrees. A pose that would look past the photo's
    edge is moved inward, so frames never show anything but the photo.
    """

    x: float = 0.5
    y: float = 0.5
    zoom: float = 1.0
    angle: float = 0.0


@dataclass(frozen=True)
class CameraPath:
    """A camera move from ``start`` to ``end`` over the clip.

    ``ease`` blends constant speed (0) with smooth start and stop (1).
    """

    start: CameraPose
    end: CameraPose
    ease: float = 0.5

    def at(self, t: float) -> CameraPose:
        """The pose at time ``t`` in [0, 1]."""
        smooth = t * t * (3 - 2 * t)
        u = (1 - self.ease) * t + self.ease * smooth
        a, b = self.start, self.end
        return CameraPose(
            x=a.x + (b.x - a.x) * u,
            y=a.y + (b.y - a.y) * u,
            zoom=a.zoom * (b.zoom / a.zoom) ** u,  # geometric: constant apparent zoom speed
            angle=a.angle + (b.angle - a.angle) * u,
        )


def random_camera_path(seed: int, num_frames: int) -> CameraPath:
    """A random but plausible camera move: pan at 0.1-1.2% of the view width per frame, up to
    about 25% zoom in or out, a roll within +-6 degrees, and a random speed profile."""
    rng = np.random.default_rng(seed)
    zoom0 = float(rng.uniform(1.0, 1.6))
    zoom1 = float(np.clip(zoom0 * math.exp(rng.uniform(-0.25, 0.25)), 1.0, 2.0))
    angle0 = float(rng.uniform(-4.0, 4.0))
    angle1 = float(np.clip(angle0 + rng.uniform(-3.0, 3.0), -6.0, 6.0))
    # Pan length in photo fractions; the view spans roughly 1/zoom of the photo.
    travel = rng.uniform(0.001, 0.012) * max(num_frames - 1, 0) / zoom0
    heading = rng.uniform(0.0, 2 * math.pi)
    dx, dy = travel * math.cos(heading) / 2, travel * math.sin(heading) / 2
    cx, cy = (float(v) for v in rng.uniform(0.3, 0.7, size=2))
    return CameraPath(
        start=CameraPose(cx - dx, cy - dy, zoom0, angle0),
        end=CameraPose(cx + dx, cy + dy, zoom1, angle1),
        ease=float(rng.uniform(0.0, 1.0)),
    )


def _fit_scale(photo_w: int, photo_h: int, width: int, height: int, angle_deg: float) -> float:
    """Photo pixels per output pixel for the largest view, rotated by ``angle_deg``, that fits."""
    c, s = abs(math.cos(math.radians(angle_deg))), abs(math.sin(math.radians(angle_deg)))
    return min(photo_w / (width * c + height * s), photo_h / (width * s + height * c))


def _affine(pose: CameraPose, photo_w: int, photo_h: int, width: int, height: int) -> torch.Tensor:
    """The 2x3 matrix that maps output coordinates to photo coordinates, both in [-1, 1]
    (``affine_grid`` convention), for a view kept inside the photo."""
    theta = math.radians(pose.angle)
    cos, sin = math.cos(theta), math.sin(theta)
    scale = _fit_scale(photo_w, photo_h, width, height, pose.angle) / max(pose.zoom, 1.0)
    half_x = scale * (width * abs(cos) + height * abs(sin)) / 2
    half_y = scale * (width * abs(sin) + height * abs(cos)) / 2
    cx = min(max(pose.x * photo_w, half_x), photo_w - half_x)
    cy = min(max(pose.y * photo_h, half_y), photo_h - half_y)
    return torch.tensor(
        [
            [scale * width * cos / photo_w, -scale * height * sin / photo_w, 2 * cx / photo_w - 1],
            [scale * width * sin / photo_h, scale * height * cos / photo_h, 2 * cy / photo_h - 1],
        ],
        dtype=torch.float32,
    )


def _working_photo(photo: np.ndarray, width: int, height: int) -> torch.Tensor:
    """The photo as a 1x3xHxW float tensor, shrunk (anti-aliased) so that the widest view
    samples it at about one photo pixel per output pixel; bilinear sampling then does not alias."""
    image = torch.from_numpy(np.ascontiguousarray(photo)).permute(2, 0, 1)[None].float()
    photo_h, photo_w = photo.shape[:2]
    shrink = _fit_scale(photo_w, photo_h, width, height, 0.0)
    if shrink > 1.0:
        size = (max(1, round(photo_h / shrink)), max(1, round(photo_w / shrink)))
        image = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
    return image


def camera_motion_clip(
    photo: str | np.ndarray,
    num_frames: int,
    width: int,
    height: int,
    *,
    seed: int = 0,
    motion: CameraPath | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``num_frames`` frames (``height x width x 3`` uint8 RGB) of a camera moving over a photo.

    ``photo`` is a name from :func:`list_photos` or an ``H x W x 3`` uint8 array. The camera
    follows ``motion``, or :func:`random_camera_path` for ``seed`` (deterministic: the same
    arguments give the same frames). Frames are rendered one at a time by bilinear sampling.
    """
    if num_frames < 1 or width < 1 or height < 1:
        raise ValueError(f"need num_frames, width, height >= 1, got {num_frames}, {width}, {height}")
    image = load_photo(photo) if isinstance(photo, str) else photo
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"photo must be an H x W x 3 uint8 array, got {image.dtype} {image.shape}")
    path = motion if motion is not None else random_camera_path(seed, num_frames)
    source = _working_photo(image, width, height)
    photo_h, photo_w = source.shape[2:]
    for i in range(num_frames):
        pose = path.at(i / (num_frames - 1) if num_frames > 1 else 0.0)
        theta = _affine(pose, photo_w, photo_h, width, height)[None]
        grid = F.affine_grid(theta, [1, 3, height, width], align_corners=False)
        frame = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
        yield frame[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def _write_tone(path: Path, duration_s: float, *, sample_rate: int = 48000, hz: float = 440.0) -> None:
    """Write a quiet stereo sine tone as AAC to ``path`` (an .m4a file)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sample_rate, layout="stereo")
        t = np.arange(round(duration_s * sample_rate)) / sample_rate
        wave = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        for start in range(0, len(wave), 4096):
            chunk = wave[start : start + 4096]
            frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = sample_rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_sample_clip(
    path: str | os.PathLike[str],
    *,
    photo: str | np.ndarray = "astronaut",
    num_frames: int = 33,
    width: int = 256,
    height: int = 256,
    fps: Fraction = Fraction(24),
    seed: int = 0,
    audio: bool = False,
    codec: str = "libx264",
) -> Path:
    """Encode a :func:`camera_motion_clip` to ``path`` and return the path.

    ``audio=True`` adds an AAC 440 Hz tone as long as the video, to test ``--audio-from``.
    """
    frames = camera_motion_clip(photo, num_frames, width, height, seed=seed)
    with tempfile.TemporaryDirectory(prefix="vaekit-tone-") as tmp:
        tone = None
        if audio:
            tone = Path(tmp) / "tone.m4a"
            _write_tone(tone, num_frames / fps + 0.5)
        with VideoWriter(path, width, height, fps, codec=codec, audio_from=tone) as writer:
            for frame in frames:
                writer.write(frame)
    return Path(path)
