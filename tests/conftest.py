"""Shared pytest fixtures: small real video files (and broken ones) made once per session.

The clips are filmed from photographs bundled with scikit-image by a virtual camera
(:mod:`vaekit.io.synthetic`), so they hold real image content and need no download.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
import skimage.io

from vaekit.io.synthetic import camera_motion_clip, load_photo, write_sample_clip


def _write_phone_clip(
    path: Path, frames, display_rotation: int, hflip: bool = False, vflip: bool = False
) -> Path:
    """An mp4 whose stored frames are ``frames`` and whose display matrix says "turn (and mirror)
    me", as phones store portrait video (written with PyAV directly: vaekit itself writes upright)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.set_display_rotation(display_rotation, hflip=hflip, vflip=vflip)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def write_phone_clip():
    """``write_phone_clip(path, frames, display_rotation, hflip=False, vflip=False)``: an mp4 with a
    display matrix."""
    return _write_phone_clip


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A session-wide folder for the media fixtures below."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def sample_clip(media_dir) -> Path:
    """mp4 (h264, yuv420p), 256x256, 17 frames (1 + 4k), 24 fps, astronaut photo, no audio."""
    return write_sample_clip(media_dir / "sample.mp4", num_frames=17, width=256, height=256, fps=Fraction(24))


@pytest.fixture(scope="session")
def phone_clip(media_dir) -> Path:
    """mp4 stored 64x48 with a 90 degree display rotation: shown (and read) as 48x64, 9 frames."""
    frames = list(camera_motion_clip("chelsea", 9, 64, 48, seed=3))
    return _write_phone_clip(media_dir / "phone.mp4", frames, 90)


@pytest.fixture(scope="session")
def odd_clip(media_dir) -> Path:
    """mp4, 250x150 (not a multiple of 8), 10 frames (not 1 + 4k), 30000/1001 fps, coffee photo."""
    return write_sample_clip(
        media_dir / "odd.mp4",
        photo="coffee",
        num_frames=10,
        width=250,
        height=150,
        fps=Fraction(30000, 1001),
        seed=1,
    )


@pytest.fixture(scope="session")
def audio_clip(media_dir) -> Path:
    """mp4, 128x96, 17 frames at 24 fps with an AAC stereo 440 Hz tone as long as the video."""
    return write_sample_clip(
        media_dir / "audio.mp4", photo="chelsea", num_frames=17, width=128, height=96, seed=2, audio=True
    )


@pytest.fixture(scope="session")
def text_as_mp4(media_dir) -> Path:
    """A plain text file named ``.mp4``."""
    path = media_dir / "notes.mp4"
    path.write_text("this is not a video\n")
    return path


@pytest.fixture(scope="session")
def truncated_mp4(media_dir) -> Path:
    """The first half of the bytes of a 33-frame 256x256 mp4, as after an interrupted
    download: its index (moov, written first) is intact and lists 33 frames, the data stops
    after a few of them (5 decodable)."""
    full = write_sample_clip(media_dir / "full.mp4", photo="coffee", num_frames=33, seed=0)
    data = full.read_bytes()
    path = media_dir / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="session")
def zero_frame_video(media_dir) -> Path:
    """An AVI with a 64x64 mpeg4 video stream and no frames.

    AVI is used because it keeps an empty video stream; an mp4 written without frames drops
    the track entirely (that case is "no video stream", tested separately).
    """
    path = media_dir / "empty.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
    return path


@pytest.fixture(scope="session")
def still_image_png(media_dir) -> Path:
    """A 301x201 RGB PNG (a crop of the astronaut photo): a 1-frame video with odd sizes."""
    path = media_dir / "still.png"
    skimage.io.imsave(path, load_photo("astronaut")[100:301, 100:401], check_contrast=False)
    return path
