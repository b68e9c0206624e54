"""Read and write video files with PyAV, one frame at a time.

Reading: :func:`probe` describes a file, :func:`iter_frames` streams its frames as ``H x W x 3``
uint8 RGB arrays (threaded decoding, any container/codec/pixel format FFmpeg reads, still
images as 1-frame videos). Frames come out upright: a video's display rotation (phones store
portrait as rotated landscape) and a photo's EXIF orientation are applied, as players and
viewers do, and sizes are reported as displayed. Nothing ever holds a whole video in memory.

Writing: :class:`VideoWriter` encodes RGB frames (mp4/libx264/yuv420p by default) with the exact
size, frame count and rational frame rate of the source, optionally carrying over the audio of
another file, and writes through :func:`~vaekit.io.atomic.atomic_output`, so a failed or
interrupted encode leaves no file behind.

Every problem a user can fix is raised as :class:`~vaekit.errors.InputError` or
:class:`~vaekit.errors.OutputError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vaekit.errors import InputError, OutputError
from vaekit.io.atomic import atomic_output
from vaekit.io.formats import FrameClock
from vaekit.io.names import IMAGE_SUFFIXES, VIDEO_SUFFIXES  # noqa: F401 (re-exported; defined there)

# A still image (png, jpg, ...) is read as a 1-frame video at this rate.
STILL_IMAGE_FPS = Fraction(24)

# Containers whose frame count comes from a sample index: there, fewer packets than the index
# lists means the file was cut short (FFmpeg itself stops silently at the end of the data).
_INDEXED_FORMATS = ("mov", "mp4")

# Encoders that refuse odd widths/heights with 4:2:0 chroma; for them an odd size is written
# as 4:4:4 so the exact size survives. The others accept odd sizes in 4:2:0 as they are.
_ODD_SIZE_NEEDS_444 = {"libx264", "libx265"}

# Video encoders offered for writing, best first; :func:`available_codecs` filters them by
# what this PyAV/FFmpeg build contains.
_WRITE_CODECS = ("libx264", "libx265", "libsvtav1", "libvpx-vp9", "mpeg4")

# Smallest width and height these encoders accept (measured with this wheel's libraries).
_MIN_SIDE = {"libx265": 16, "libsvtav1": 4}

_MOV_SUFFIXES = {".mp4", ".mov", ".m4v"}

# Audio codecs that may be stream-copied into these muxers and still play everywhere; other
# codecs are transcoded (to aac, or opus for webm). Muxers not listed take any codec they accept.
_AUDIO_COPY_ONLY = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac"},
    "webm": {"opus", "vorbis"},
}


@dataclass
class VideoInfo:
    """What :func:`probe` knows about a video file without decoding it."""

    path: Path
    width: int
    height: int
    fps: Fraction
    # As the container declares it; None when it does not say or contradicts its own duration
    # (e.g. an mp4 cut with an edit list indexes frames it never shows). frame_count_exact()
    # decodes to count.
    frame_count: int | None
    duration_s: float | None
    codec: str
    pix_fmt: str | None
    has_audio: bool
    # How the stored pictures are shown upright: mirrored left-right first (if ``mirrored``), then
    # turned ``rotation`` degrees clockwise (0, 90, 180, 270), from a video's display matrix or an
    # image's EXIF orientation. width and height above are already those of the upright picture.
    rotation: int = 0
    mirrored: bool = False


# ---------------------------------------------------------------------------------------------
# Reading


def _ffmpeg_reason(err: Exception) -> str:
    """FFmpeg's short description of an error, without the file name PyAV appends."""
    return getattr(err, "strerror", None) or str(err)


def _open_input(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open ``path`` for reading, turning every failure into a one-line InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise InputError(f"{p} is a folder, not a video file; pass a file inside it")
    try:
        return av.open(str(p), "r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise InputError(
            f"{p} is not a video file PyAV/FFmpeg can read ({_ffmpeg_reason(err)}); "
            "check that it is a complete video or image"
        ) from None


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first video stream of ``container``, or InputError when there is none."""
    if not container.streams.video:
        raise InputError(f"{path} has no video stream; pass a video or image file")
    return container.streams.video[0]


def _is_still_image(container: av.container.InputContainer) -> bool:
    """True for single images (png, jpg, ...) opened through FFmpeg's image demuxers."""
    name = container.format.name
    return name == "image2" or name.endswith("_pipe")


# Orientation as EXIF numbers it (1 upright ... 8), for videos and images alike: how to show the
# stored picture upright, and (clockwise degrees, mirrored) of that turn for reports.
_ORIENT = {
    1: (lambda a: a, 0, False),
    2: (lambda a: a[:, ::-1], 0, True),
    3: (lambda a: np.rot90(a, 2), 180, False),
    4: (lambda a: a[::-1], 180, True),
    5: (lambda a: a.transpose(1, 0, 2), 270, True),
    6: (lambda a: np.rot90(a, -1), 90, False),
    7: (lambda a: np.rot90(a, 2).transpose(1, 0, 2), 90, True),
    8: (lambda a: np.rot90(a, 1), 270, False),
}


# The 2x2 part of an FFmpeg display matrix (a, b, c, d), reduced to -1/0/1, for the eight
# orientations; anything else (a free angle) is left as stored, as FFmpeg's autorotation does.
_MATRIX_ORIENT = {
    (1, 0, 0, 1): 1,
    (-1, 0, 0, 1): 2,
    (-1, 0, 0, -1): 3,
    (1, 0, 0, -1): 4,
    (0, 1, 1, 0): 5,
    (0, 1, -1, 0): 6,
    (0, -1, -1, 0): 7,
    (0, -1, 1, 0): 8,
}


def _frame_orientation(frame: av.VideoFrame) -> int:
    """The orientation a video frame's display matrix gives (rotations and mirrors)."""
    try:
        for side in frame.side_data:
            if side.type.name == "DISPLAYMATRIX":
                a, b, _, c, d = struct.unpack("=9i", bytes(side))[:5]
                key = tuple(max(-1, min(1, round(v / 65536))) for v in (a, b, c, d))
                return _MATRIX_ORIENT.get(key, 1)
        return 1
    except (ValueError, struct.error):  # side data PyAV cannot name: fall back to its angle
        angle = getattr(frame, "rotation", 0) or 0  # counter-clockwise degrees, as ffprobe prints
        return (1, 8, 3, 6)[round(angle / 90) % 4] if angle % 90 == 0 else 1


def _image_orientation(path: Path) -> int:
    """The EXIF orientation of a still image (1 when it has none or Pillow cannot read it).

    Images go through Pillow's reading of the tag rather than FFmpeg's display matrix, which
    keeps the rotation but loses the mirror of orientations 2, 4, 5 and 7.
    """
    try:
        from PIL import Image

        with Image.open(path) as image:
            value = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - any unreadable header just means "no orientation"
        return 1
    return value if value in _ORIENT else 1


def _upright(rgb: np.ndarray, orientation: int) -> np.ndarray:
    return np.ascontiguousarray(_ORIENT[orientation][0](rgb) if orientation != 1 else rgb)


def _stream_fps(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Fraction:
    """The frame rate as an exact rational: average rate, else FFmpeg's guess."""
    if _is_still_image(container):
        return STILL_IMAGE_FPS
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        return STILL_IMAGE_FPS
    return Fraction(rate.numerator, rate.denominator)


def _stream_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    """Duration in seconds from the stream, else from the container, else None."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _declared_frame_count(
    stream: av.video.stream.VideoStream, fps: Fraction, duration: float | None
) -> int | None:
    """The container's frame count if it agrees with duration x fps (to 1%), else None."""
    frames = stream.frames
    if not frames:
        return None
    if duration is not None and abs(frames - duration * fps) > max(1.5, 0.01 * frames):
        return None
    return frames


def _describe(container, stream, path: Path, orientation: Callable[[], int]) -> VideoInfo:
    """What ``container`` says of its first video stream; ``orientation()`` is asked last (it
    may decode the first frame)."""
    ctx = stream.codec_context
    still = _is_still_image(container)
    fps = _stream_fps(container, stream)
    duration = 1 / float(fps) if still else _stream_duration(container, stream)
    frame_count = 1 if still else _declared_frame_count(stream, fps, duration)
    width, height = ctx.width, ctx.height
    _, rotation, mirrored = _ORIENT[orientation()]
    if rotation % 180:
        width, height = height, width
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        frame_count=frame_count,
        duration_s=duration,
        codec=ctx.codec.canonical_name,
        pix_fmt=stream.format.name if stream.format else None,
        has_audio=bool(container.streams.audio),
        rotation=rotation,
        mirrored=mirrored,
    )


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the first video stream of ``path`` (size, rational fps, frame count, codec).

    Raises InputError for a missing file, a folder, a file FFmpeg cannot read or one without a
    video stream. Still images report 1 frame at :data:`STILL_IMAGE_FPS`. (To probe a file and
    then read its frames, open it once as a :class:`VideoReader`.)
    """
    with VideoReader(path, threads=False) as reader:
        return reader.info


class VideoReader:
    """One input file, opened once: :attr:`info` (what :func:`probe` says) on opening, then
    :meth:`frames` (what :func:`iter_frames` yields) from the same open container.

    Reading a video's orientation decodes its first frame; that frame is kept and yielded first,
    not decoded again, and nothing is seeked or reopened, so a source that cannot be reopened or
    seeked (a pipe) works too. The frames can be read once. Errors as :func:`probe` (on opening)
    and :func:`iter_frames` (while reading): a file damaged from its first frame on, or without
    frames, still opens and fails when its frames are read.
    """

    def __init__(self, path: str | os.PathLike[str], *, threads: bool = True):
        self.path = p = Path(path)
        self._container = container = _open_input(p)
        self._first = self._failed = None
        self._read = False
        #: the timestamps of the frames read so far (a variable frame rate, told after the pass)
        self.clock = FrameClock()
        try:
            stream = _video_stream(container, p)
            if threads:
                stream.thread_type = "AUTO"
            self._decoded = _decode(container, stream, p)
            if _is_still_image(container):
                # a photo's EXIF tag (FFmpeg's display matrix loses the mirror of 2, 4, 5 and 7)
                self.orientation = _image_orientation(p)
                self.info = _describe(container, stream, p, lambda: self.orientation)
            else:
                self.orientation = 1  # until the first frame's display matrix says otherwise
                self.info = _describe(container, stream, p, self._first_orientation)
        except BaseException:
            container.close()
            raise

    def _first_orientation(self) -> int:
        """A video's orientation, from its first frame's display matrix (the frame is kept)."""
        try:
            self._first = next(self._decoded, None)
            if self._first is not None:
                self.orientation = _frame_orientation(self._first)
        except InputError as err:  # damaged from the start, or no frames: frames() raises it
            self._failed = err
        return self.orientation

    def frames(self) -> Iterator[np.ndarray]:
        """The frames as C-contiguous ``H x W x 3`` uint8 RGB arrays, upright; the file is closed
        when the iterator is exhausted, fails, or is closed early."""
        if self._read:
            raise RuntimeError(f"{self.path}: a VideoReader reads its frames once; open the file again")
        self._read = True
        return self._frames()

    def _frames(self) -> Iterator[np.ndarray]:
        try:
            if self._failed is not None:
                raise self._failed
            if self._first is not None:
                first, self._first = self._first, None
                self.clock.add(first.pts, first.time_base)
                yield _rgb(first, self.orientation)
            for frame in self._decoded:
                self.clock.add(frame.pts, frame.time_base)
                yield _rgb(frame, self.orientation)
        finally:
            self.close()

    def close(self) -> None:
        self._first = None
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _truncated(path: Path, frames: int, reason: str) -> InputError:
    return InputError(
        f"{path} is truncated or corrupt after {frames} frames ({reason}); re-download or re-export the file"
    )


def _decode(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: Path,
    whole: bool = True,
):
    """Yield decoded frames of ``stream``; InputError if the file ends early or is damaged.

    ``whole=False`` (after a seek) skips the checks that need every packet to have been seen.
    """
    indexed = whole and container.format.name.split(",")[0] in _INDEXED_FORMATS
    declared = stream.frames if indexed else 0
    packets = frames = 0
    try:
        for packet in container.demux(stream):
            packets += packet.size > 0
            for frame in packet.decode():
                frames += 1
                yield frame
    except av.FFmpegError as err:
        raise _truncated(path, frames, _ffmpeg_reason(err)) from None
    if frames == 0 and whole:
        raise InputError(f"{path} contains no video frames; pass a video with at least one frame")
    if packets < declared:
        raise _truncated(path, frames, f"its index lists {declared} frames, the data holds {packets}")


def iter_frames(
    path: str | os.PathLike[str], *, threads: bool = True, start: int = 0
) -> Iterator[np.ndarray]:
    """Yield the frames of ``path`` one by one as C-contiguous ``H x W x 3`` uint8 RGB arrays.

    Decoding runs on FFmpeg's threads when ``threads`` is true. Colour conversion honours the
    colour matrix and range the file declares. ``start`` skips to frame ``start``: the demuxer
    seeks to the keyframe before it and decodes forward, so a clip from the middle of a long
    video costs one GOP, not the whole prefix (frames are placed by timestamp at the stream's
    average rate; streams without timestamps are decoded from the start and counted). The file
    is closed when the iterator is exhausted, fails, or is closed early (``close()`` or garbage
    collection). Raises InputError for unreadable files, files without frames, and files that
    end early or are damaged (after yielding the frames before the damage).
    """
    if start <= 0:
        yield from VideoReader(path, threads=threads).frames()
        return
    p = Path(path)
    container = _open_input(p)
    try:
        stream = _video_stream(container, p)
        if threads:
            stream.thread_type = "AUTO"
        # a photo's EXIF tag, or the video's display matrix as its first frame carries it
        orientation = _image_orientation(p) if _is_still_image(container) else None
        for frame in _frames_from(container, stream, p, start):
            if orientation is None:
                orientation = _frame_orientation(frame)
            yield _rgb(frame, orientation)
    finally:
        container.close()


def _rgb(frame: av.VideoFrame, orientation: int) -> np.ndarray:
    """A decoded frame as an upright ``H x W x 3`` uint8 RGB array (the colour matrix and range
    the file declares honoured; contiguous: rows of odd widths are padded in FFmpeg's buffer)."""
    return _upright(frame.to_ndarray(format="rgb24", src_color_range=frame.color_range), orientation)


def _frames_from(container, stream, path: Path, start: int):
    """Decoded frames from frame index ``start`` on: seek by timestamp, or decode and count."""
    fps = _stream_fps(container, stream)
    base = stream.start_time or 0
    if stream.time_base and fps:
        target = base + int(round(Fraction(start) / fps / stream.time_base))
        half_frame = Fraction(1, 2) / fps / stream.time_base
        try:
            container.seek(target, stream=stream, backward=True, any_frame=False)
            seeked = True
        except av.FFmpegError:
            seeked = False
        if seeked:
            for frame in _decode(container, stream, path, whole=False):
                if frame.pts is None:  # no timestamps after all: start over and count
                    break
                if frame.pts >= target - half_frame:
                    yield frame
            else:
                return
            container.seek(0, stream=stream)
    for index, frame in enumerate(_decode(container, stream, path)):
        if index >= start:
            yield frame


def frame_count_exact(path: str | os.PathLike[str]) -> int:
    """Count the frames of ``path`` by decoding them all (slow but exact for any container)."""
    p = Path(path)
    with _open_input(p) as container:
        stream = _video_stream(container, p)
        stream.thread_type = "AUTO"
        return sum(1 for _ in _decode(container, stream, p))


# ---------------------------------------------------------------------------------------------
# Writing


def available_codecs() -> list[str]:
    """Video encoders :class:`VideoWriter` supports that this PyAV build contains, best first."""
    return [name for name in _WRITE_CODECS if name in av.codecs_available]


def _quality_options(codec: str, crf: int, preset: str) -> dict[str, str]:
    """Encoder options that give constant quality ``crf`` (lower is better, 0-51 scale)."""
    if codec == "libx264":
        return {"crf": str(crf), "preset": preset}
    if codec == "libx265":
        return {"crf": str(crf), "preset": preset, "x265-params": "log-level=error"}
    if codec == "libvpx-vp9":
        return {"crf": str(min(crf, 63)), "b": "0"}
    if codec == "libsvtav1":
        return {"crf": str(min(crf, 63))}
    return {}


def _video_encoder(codec: str) -> av.Codec:
    """The FFmpeg video encoder named ``codec``, or OutputError listing the usual choices."""
    try:
        encoder = av.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        encoder = None
    if encoder is None or encoder.type != "video":
        choices = ", ".join(available_codecs())
        raise OutputError(
            f"video encoder {codec!r} is not available in this PyAV build; use one of: {choices}"
        )
    return encoder


def _pick_pix_fmt(encoder: av.Codec, width: int, height: int) -> str:
    """yuv420p; yuv444p where the encoder cannot store an odd size in 4:2:0; else the
    encoder's first format when it has no yuv420p."""
    supported = [f.name for f in encoder.video_formats or ()]
    if supported and "yuv420p" not in supported:
        return supported[0]
    odd = width % 2 or height % 2
    return "yuv444p" if odd and encoder.name in _ODD_SIZE_NEEDS_444 else "yuv420p"


def _encode_error(path: Path, codec: str, err: Exception) -> OutputError:
    return OutputError(f"cannot encode {path} with {codec}: {_ffmpeg_reason(err)}")


def _encoder_layout(layout: av.AudioLayout) -> str:
    """A named channel layout audio encoders accept: the source's own when it has one of
    these names, else mono or stereo (e.g. WAV files often say just "2 channels")."""
    if layout.name in {"mono", "stereo", "2.1", "3.0", "4.0", "5.0", "5.1", "7.1"}:
        return layout.name
    return "mono" if layout.nb_channels == 1 else "stereo"


def _close_quietly(container: av.container.Container) -> None:
    """Close ``container``; used on the way out, where a failed close changes nothing."""
    with contextlib.suppress(av.FFmpegError, OSError):
        container.close()


class _AudioTrack:
    """The audio of a source file, copied (or transcoded) into an output in step with its video.

    Packets are stream-copied when the output container accepts the codec (e.g. aac in mp4),
    else decoded and re-encoded to aac (opus for webm). Audio is cut at the video's end, to
    the granularity of one audio packet (about 20 ms).
    """

    def __init__(self, source: str | os.PathLike[str]):
        self.source = Path(source)
        self._src = _open_input(self.source)
        if not self._src.streams.audio:
            self._src.close()
            raise InputError(
                f"{self.source} has no audio stream; drop --audio-from or pick a file with audio"
            )
        self._in = self._src.streams.audio[0]
        self._packets = self._src.demux(self._in)
        self._pending: av.Packet | None = None
        start = self._src.start_time or 0
        self._offset = round(start / av.time_base / self._in.time_base)
        self._out = None
        self._transcode = False

    def add_to(self, container: av.container.OutputContainer) -> None:
        """Create the output audio stream: a copy of the source's, or an aac/opus encoder."""
        allowed = _AUDIO_COPY_ONLY.get(container.format.name)
        if allowed is None or self._in.codec_context.codec.canonical_name in allowed:
            try:
                self._out = container.add_stream_from_template(self._in)
                return
            except ValueError:
                pass  # the muxer refuses this codec: transcode below
        self._transcode = True
        ctx = self._in.codec_context
        codec = "libopus" if container.format.name == "webm" else "aac"
        rate = 48000 if codec == "libopus" else ctx.sample_rate  # opus only runs at 48 kHz
        self._out = container.add_stream(codec, rate=rate, layout=_encoder_layout(ctx.layout))

    def _next_packet(self) -> av.Packet | None:
        if self._pending is None:
            for packet in self._packets:
                if packet.dts is not None:
                    self._pending = packet
                    break
        return self._pending

    def pump(self, container: av.container.OutputContainer, until_s: float) -> None:
        """Mux the source audio that starts before ``until_s`` seconds."""
        while (packet := self._next_packet()) is not None:
            if (packet.pts - self._offset) * packet.time_base >= until_s:
                return
            self._pending = None
            if self._transcode:
                for frame in packet.decode():
                    if frame.pts is not None:
                        frame.pts -= self._offset
                    container.mux(self._out.encode(frame))
            else:
                packet.pts -= self._offset
                packet.dts -= self._offset
                packet.stream = self._out
                container.mux(packet)

    def finish(self, container: av.container.OutputContainer, duration_s: float) -> None:
        """Mux the audio up to ``duration_s`` and flush the encoder when transcoding."""
        self.pump(container, duration_s)
        if self._transcode:
            container.mux(self._out.encode(None))

    def close(self) -> None:
        self._src.close()


class _AtomicFrameWriter:
    """What every frame writer shares: an ExitStack that holds the atomic output (and whatever the
    writer opened), the frame check, and an exit that renames only after ``_finish`` succeeded."""

    path: Path
    width: int
    height: int
    frames_written: int
    _stack: contextlib.ExitStack

    def _check_frame(self, frame: np.ndarray) -> None:
        expected = (self.height, self.width, 3)
        if frame.dtype != np.uint8 or frame.shape != expected:
            raise ValueError(f"expected a uint8 frame of shape {expected}, got {frame.dtype} {frame.shape}")

    def _finish(self) -> None:
        """Complete the file (the rename happens after this); writing nothing is an OutputError."""
        if self.frames_written == 0:
            raise OutputError(f"no frames were written to {self.path}; nothing was saved")

    def _release(self) -> None:
        """Forget the open output once the ``with`` block is over."""

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._finish()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        else:
            return self._stack.__exit__(exc_type, exc, tb)
        finally:
            self._release()


class VideoWriter(_AtomicFrameWriter):
    """Encode RGB frames into a video file, atomically (nothing at ``path`` until success).

    Use as a context manager::

        with VideoWriter("out.mp4", 250, 150, Fraction(30000, 1001)) as w:
            for frame in frames:          # H x W x 3 uint8 RGB
                w.write(frame)

    The container comes from the suffix of ``path`` (mp4, mkv, mov, webm, ...). The stream
    keeps ``fps`` as an exact rational (time base 1/fps, frame i at pts i), the exact size and
    the exact number of frames written. ``pix_fmt=None`` picks yuv420p, or yuv444p for odd
    sizes with encoders that need even ones for 4:2:0 (libx264, libx265). Frames are converted
    with the BT.709 matrix in limited range and tagged so. mp4/mov files get ``+faststart``.
    ``audio_from`` copies that file's audio into the output, cut to the video's length.

    An exception inside the ``with`` block (Ctrl-C included) removes the partial file. Writing
    no frames at all is an OutputError and leaves nothing behind either.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: Fraction | int | float,
        *,
        codec: str = "libx264",
        crf: int = 18,
        preset: str = "medium",
        pix_fmt: str | None = None,
        audio_from: str | os.PathLike[str] | None = None,
    ):
        encoder = _video_encoder(codec)
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        min_side = _MIN_SIDE.get(encoder.name, 1)
        if min(width, height) < min_side:
            raise OutputError(
                f"{encoder.name} cannot encode frames smaller than {min_side}x{min_side} "
                f"(got {width}x{height}); use --codec libx264"
            )
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        # A float (29.97002997...) becomes the simple fraction it stands for (30000/1001).
        self.fps = Fraction(fps).limit_denominator(1_000_000) if isinstance(fps, float) else Fraction(fps)
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.codec = encoder.name
        self.pix_fmt = pix_fmt or _pick_pix_fmt(encoder, self.width, self.height)
        self.frames_written = 0
        self._options = _quality_options(self.codec, crf, preset)
        self._qscale = max(1, min(31, round(crf / 6))) if self.codec == "mpeg4" else None
        self._audio_from = audio_from
        self._stack = contextlib.ExitStack()
        self._container = None
        self._stream = None
        self._audio: _AudioTrack | None = None

    def __enter__(self) -> VideoWriter:
        try:
            if self._audio_from is not None:
                self._audio = _AudioTrack(self._audio_from)
                self._stack.callback(self._audio.close)
            temp = self._stack.enter_context(atomic_output(self.path))
            self._container = self._open(temp)
            self._stack.callback(_close_quietly, self._container)
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        return self

    def _open(self, temp: Path) -> av.container.OutputContainer:
        """Open the temporary output file and add the video (and audio) streams."""
        options = {"movflags": "+faststart"} if self.path.suffix.lower() in _MOV_SUFFIXES else {}
        try:
            container = av.open(str(temp), "w", options=options)
        except ValueError:
            raise OutputError(
                f"cannot tell the container format of {self.path} from its suffix; use .mp4, .mkv, .mov or .webm"
            ) from None
        try:
            self._stream = self._add_video_stream(container)
            if self._audio is not None:
                self._audio.add_to(container)
        except (av.FFmpegError, ValueError) as err:
            container.close()
            raise _encode_error(self.path, self.codec, err) from None
        return container

    def _add_video_stream(self, container: av.container.OutputContainer) -> av.video.stream.VideoStream:
        if self.codec == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # errors only; SVT-AV1 prints a banner otherwise
        stream = container.add_stream(self.codec, rate=self.fps, options=self._options)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, self.pix_fmt
        stream.time_base = 1 / self.fps
        ctx = stream.codec_context
        ctx.time_base = 1 / self.fps
        if self._qscale is not None:
            ctx.qscale = True
            ctx.global_quality = self._qscale * 118  # FF_QP2LAMBDA: qscale -> lambda units
        if self.pix_fmt.startswith("yuv"):
            ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1  # BT.709
            ctx.color_range = 1  # limited ("tv") range
        return stream

    def write(self, frame: np.ndarray) -> None:
        """Encode one ``height x width x 3`` uint8 RGB frame."""
        if self._container is None:
            raise RuntimeError("VideoWriter.write() called outside its `with` block")
        self._check_frame(frame)
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self.pix_fmt.startswith("yuv"):
            video_frame = video_frame.reformat(
                format=self.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG"
            )
        video_frame.pts = self.frames_written
        video_frame.time_base = 1 / self.fps
        try:
            self._container.mux(self._stream.encode(video_frame))
            self.frames_written += 1
            if self._audio is not None:
                self._audio.pump(self._container, self.frames_written / self.fps)
        except av.FFmpegError as err:
            raise _encode_error(self.path, self.codec, err) from None

    def _finish(self) -> None:
        """Flush the encoders and close the container (the rename happens after this)."""
        super()._finish()
        try:
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.finish(self._container, self.frames_written / self.fps)
            self._container.close()
        except av.FFmpegError as err:
            raise _encode_error(self.path, self.codec, err) from None

    def _release(self) -> None:
        self._container = None


class ImageWriter(_AtomicFrameWriter):
    """Write the single frame of a 1-frame result as an image (``.png``, ``.jpg``, ``.webp``, ...),
    atomically, with the same interface as :class:`VideoWriter`. A second frame is an OutputError:
    more than one frame needs a video file."""

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, *, audio_from=None):
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.frames_written = 0
        if audio_from is not None:
            raise OutputError(f"{self.path} is an image and cannot carry audio; drop --audio-from")
        self._stack = contextlib.ExitStack()
        self._temp: Path | None = None

    def __enter__(self) -> ImageWriter:
        self._temp = self._stack.enter_context(atomic_output(self.path))
        return self

    def write(self, frame: np.ndarray) -> None:
        from PIL import Image

        if self._temp is None:
            raise RuntimeError("ImageWriter.write() called outside its `with` block")
        if self.frames_written:
            raise OutputError(
                f"{self.path} is an image but there is more than one frame; write a video (.mp4)"
            )
        self._check_frame(frame)
        options = {"quality": 95} if self.path.suffix.lower() in {".jpg", ".jpeg", ".webp"} else {}
        try:
            Image.fromarray(np.ascontiguousarray(frame), "RGB").save(self._temp, **options)
        except (KeyError, ValueError) as err:  # Pillow: unknown extension or unsupported mode
            raise OutputError(f"cannot write {self.path} as an image: {err}") from None
        self.frames_written = 1

    def _release(self) -> None:
        self._temp = None


def open_writer(
    path: str | os.PathLike[str],
    width: int,
    height: int,
    fps: Fraction | int | float,
    *,
    frame_count: int | None = None,
    **video_options,
) -> VideoWriter | ImageWriter:
    """A :class:`VideoWriter`, or an :class:`ImageWriter` when ``path`` has an image suffix. With
    ``frame_count`` given, asking for an image of more than one frame fails before any work."""
    if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        return VideoWriter(path, width, height, fps, **video_options)
    if frame_count is not None and frame_count != 1:
        raise OutputError(
            f"{path} is an image but the result has {frame_count} frames; write a video (.mp4, .mkv, .webm)"
        )
    return ImageWriter(path, width, height, audio_from=video_options.get("audio_from"))
