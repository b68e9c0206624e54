"""What a written video keeps of its source's format, and which codec a container takes.

vaekit works on 8-bit RGB frames at a constant rate, and writes 8-bit 4:2:0 (4:4:4 for odd sizes)
at the source's average rate. :func:`pixel_note` and :meth:`FrameClock.variable_rate_note` say in
one line what that changes for a given source (a variable frame rate, more than 8 bits, 4:2:2/4:4:4
chroma, gray), so nothing changes silently. :func:`codec_for` picks the encoder an output
container takes (``.webm``: VP9) or refuses a container/codec pair before any work starts, with
the fix.
"""

from __future__ import annotations

import os
from array import array
from fractions import Fraction
from pathlib import Path

from ..errors import InputError


class FormatChangeWarning(UserWarning):
    """The output does not keep something of the source's format (said in one line)."""


#: containers whose video codecs are limited, and what vaekit writes into them (best first)
CONTAINER_CODECS = {".webm": ("libvpx-vp9", "libsvtav1")}
#: suffixes vaekit does not write, with what to do instead
UNWRITABLE = {
    ".gif": "GIF keeps 256 colours",
    ".y4m": "y4m is raw video",
}


def codec_for(path: str | os.PathLike, codec: str, codec_given: bool) -> str:
    """The encoder to write ``path`` with: ``codec``, or for a container that cannot hold the
    default (``.webm``) the first it takes; InputError (exit 2) for a pair that cannot work."""
    suffix = Path(path).suffix.lower()
    if suffix in UNWRITABLE:
        raise InputError(
            f"{path}: vaekit does not write {suffix} ({UNWRITABLE[suffix]}); write .mp4, .mkv or .webm and convert "
            f"it, e.g. `ffmpeg -i out.mp4 {Path(path).name}`"
        )
    allowed = CONTAINER_CODECS.get(suffix)
    if allowed is None or codec in allowed:
        return codec
    if codec_given:
        raise InputError(
            f"{path}: a {suffix} file holds {' or '.join(allowed)}, not {codec}; pass --codec {allowed[0]} "
            f"or write .mp4/.mkv"
        )
    import av

    for name in allowed:
        if name in av.codecs_available:
            return name
    raise InputError(
        f"{path}: this PyAV build has no {' or '.join(allowed)} encoder for {suffix}; write .mp4"
    )


def _pix_fmt_traits(name: str) -> tuple[int, str] | None:
    """``(bits per sample, chroma)`` of a pixel format: chroma ``4:2:0``, ``4:2:2``, ``4:4:4``,
    ``rgb`` or ``gray``; None when PyAV does not know the name."""
    import av

    try:
        fmt = av.VideoFormat(name, 64, 64)
    except (ValueError, av.FFmpegError):
        return None
    comps = [c for c in fmt.components if not c.is_alpha]
    bits = max(c.bits for c in comps)
    if len(comps) == 1:
        return bits, "gray"
    if any(k in name for k in ("rgb", "bgr", "gbr")):
        return bits, "rgb"
    luma, chroma = comps[0], comps[1]
    sub = (luma.width // max(chroma.width, 1), luma.height // max(chroma.height, 1))
    return bits, {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0"}.get(sub, "other")


def pixel_note(src: str | os.PathLike, src_pix_fmt: str | None, out_pix_fmt: str) -> str | None:
    """One line if writing ``out_pix_fmt`` loses bit depth or chroma of ``src_pix_fmt``."""
    if not src_pix_fmt:
        return None
    got, out = _pix_fmt_traits(src_pix_fmt), _pix_fmt_traits(out_pix_fmt)
    if got is None or out is None:
        return None
    (bits, chroma), (out_bits, out_chroma) = got, out
    lost = []
    if bits > 8:
        lost.append(f"{bits}-bit")
    rank = {"4:2:0": 0, "4:2:2": 1, "4:4:4": 2, "rgb": 2}
    if chroma in rank and rank[chroma] > rank.get(out_chroma, 0):
        lost.append(f"{chroma} chroma")
    if chroma == "gray":
        return f"{src} is gray ({src_pix_fmt}); the output is colour {out_pix_fmt} with the same gray picture"
    if not lost:
        return None
    return (
        f"{src} is {' '.join(lost)} ({src_pix_fmt}); the output is {out_bits}-bit {out_chroma} ({out_pix_fmt}): "
        "vaekit works on 8-bit RGB frames"
    )


class FrameClock:
    """The timestamps of the frames one pass decodes (``add`` each frame's ``pts``), to tell a
    variable frame rate afterwards without reading the file a second time."""

    def __init__(self) -> None:
        self._pts = array("q")
        self.time_base: Fraction | None = None

    def add(self, pts: int | None, time_base: Fraction | None) -> None:
        if pts is not None and time_base is not None:
            self._pts.append(pts)
            self.time_base = time_base

    def variable_rate_note(self, name: str, fps: Fraction) -> str | None:
        """One line if the frames' durations differ by more than 5%: the output is written at
        the constant average rate ``fps``, so frame times shift."""
        pts = sorted(self._pts)
        steps = sorted(b - a for a, b in zip(pts, pts[1:]) if b > a)
        if len(steps) < 2 or self.time_base is None:
            return None
        median = steps[len(steps) // 2]
        if steps[-1] - steps[0] <= 0.05 * median:
            return None
        shortest, longest = (float(v * self.time_base) * 1000 for v in (steps[0], steps[-1]))
        return (
            f"{name} has a variable frame rate (frames {shortest:.1f}-{longest:.1f} ms apart); the output is constant "
            f"at its average, {fps.numerator}/{fps.denominator} fps, so frame times shift (vaekit keeps no per-frame times)"
        )
