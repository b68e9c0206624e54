"""Video I/O: probe, frame iteration, the writer, atomic output and every bad input.

Files are checked by reading them back with PyAV always, and with ffprobe (FFmpeg's own
reader, independent of PyAV's wheel) where it is installed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.io
import torch

from vaekit.errors import InputError, OutputError
from vaekit.io.atomic import atomic_output, atomic_write_bytes
from vaekit.io.synthetic import camera_motion_clip
from vaekit.io.video import (
    STILL_IMAGE_FPS,
    VideoWriter,
    available_codecs,
    frame_count_exact,
    iter_frames,
    probe,
)

needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def ffprobe_streams(path: Path) -> list[dict]:
    """All streams of ``path`` as ffprobe reports them, with decoded frame counts."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["streams"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def write_clip(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(24), **kwargs) -> Path:
    height, width = frames[0].shape[:2]
    with VideoWriter(path, width, height, fps, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def gradient_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """Smooth colour waves drifting over time: any size, distinct per frame, easy to encode."""
    y, x = np.mgrid[0:height, 0:width] / 32.0
    waves = (
        np.stack([np.sin(x + i / 3), np.cos(y - i / 5), np.sin(x + y + i / 4)], axis=2) for i in range(n)
    )
    return [(128 + 100 * w).astype(np.uint8) for w in waves]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ---------------------------------------------------------------------------------------------
# Reading good files


def test_probe_sample_clip(sample_clip):
    info = probe(sample_clip)
    assert (info.width, info.height, info.frame_count) == (256, 256, 17)
    assert info.fps == Fraction(24) and isinstance(info.fps, Fraction)
    assert (info.codec, info.pix_fmt, info.has_audio) == ("h264", "yuv420p", False)
    assert info.duration_s == pytest.approx(17 / 24, abs=1e-3)


def test_iter_frames_matches_the_frames_written(sample_clip):
    source = list(camera_motion_clip("astronaut", 17, 256, 256, seed=0))
    decoded = list(iter_frames(sample_clip))
    assert len(decoded) == 17
    assert all(f.shape == (256, 256, 3) and f.dtype == np.uint8 for f in decoded)
    # crf 18 gives ~36 dB; decoding with the wrong colour matrix would give ~31 dB.
    assert min(psnr(a, b) for a, b in zip(source, decoded)) > 34


def test_decoding_without_threads_gives_the_same_frames(odd_clip):
    threaded = list(iter_frames(odd_clip))
    single = list(iter_frames(odd_clip, threads=False))
    assert len(threaded) == len(single) == 10
    assert all(np.array_equal(a, b) for a, b in zip(threaded, single))


def test_odd_clip_keeps_size_rational_fps_and_frame_count(odd_clip):
    info = probe(odd_clip)
    assert (info.width, info.height, info.frame_count) == (250, 150, 10)
    assert info.fps == Fraction(30000, 1001)
    frames = list(iter_frames(odd_clip))
    assert len(frames) == 10 and frames[0].shape == (150, 250, 3)
    assert all(f.flags.c_contiguous for f in frames)  # FFmpeg pads rows of this width
    assert frame_count_exact(odd_clip) == 10


def test_still_image_is_a_one_frame_video(still_image_png):
    info = probe(still_image_png)
    assert (info.width, info.height, info.frame_count, info.fps) == (301, 201, 1, STILL_IMAGE_FPS)
    frames = list(iter_frames(still_image_png))
    assert len(frames) == 1
    np.testing.assert_array_equal(frames[0], skimage.io.imread(still_image_png))  # PNG is lossless


def test_frame_count_exact_where_the_container_does_not_say(tmp_path):
    path = write_clip(tmp_path / "clip.mkv", gradient_frames(7, 48, 32))
    assert probe(path).frame_count is None  # Matroska stores no frame count
    assert frame_count_exact(path) == 7


@needs_ffmpeg
def test_probe_never_reports_a_wrong_frame_count_for_an_edited_mp4(sample_clip, tmp_path):
    cut = tmp_path / "cut.mp4"  # a stream-copy cut: an edit list hides frames the index keeps
    cmd = ["ffmpeg", "-v", "error", "-ss", "0.3", "-i", str(sample_clip), "-c", "copy", "-t", "0.3", str(cut)]
    subprocess.run(cmd, check=True)
    exact = frame_count_exact(cut)
    assert 0 < exact < 17 and len(list(iter_frames(cut))) == exact
    assert probe(cut).frame_count in (None, exact)


# ---------------------------------------------------------------------------------------------
# Writing


@pytest.fixture(scope="module")
def landscape_frames() -> list[np.ndarray]:
    frames = gradient_frames(6, 64, 48)
    for frame in frames:
        frame[:10, :20] = 255  # a marker in the stored top-left corner
    return frames


# what a display matrix asks for -> how the stored frame is shown upright (as EXIF numbers it)
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: np.rot90(a, 2),
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}
# (counter-clockwise angle as ffprobe prints it, hflip, vflip) -> orientation, clockwise rotation
DISPLAY_MATRICES = [
    ((90, False, False), 8, 270),
    ((180, False, False), 3, 180),
    ((270, False, False), 6, 90),
    ((-90, False, False), 6, 90),
    ((0, True, False), 2, 0),
    ((0, False, True), 4, 180),
    ((90, True, False), 7, 90),
    ((270, True, False), 5, 270),
]


@pytest.mark.parametrize("matrix, orientation, rotation", DISPLAY_MATRICES)
def test_rotated_or_mirrored_video_is_read_upright_with_its_displayed_size(
    tmp_path, write_phone_clip, landscape_frames, matrix, orientation, rotation
):
    stored = list(iter_frames(write_phone_clip(tmp_path / "flat.mp4", landscape_frames, 0)))
    path = write_phone_clip(tmp_path / "phone.mp4", landscape_frames, *matrix)
    info = probe(path)
    size = (48, 64) if rotation % 180 else (64, 48)
    assert (info.width, info.height, info.rotation, info.mirrored) == (
        *size,
        rotation,
        orientation in (2, 4, 5, 7),
    )
    upright = list(iter_frames(path))
    assert len(upright) == 6 and upright[0].shape == (size[1], size[0], 3)
    assert all(u.flags.c_contiguous for u in upright)
    assert all(np.array_equal(u, UPRIGHT[orientation](s)) for u, s in zip(upright, stored))
    # a clip from the middle (seek) comes out upright too
    assert np.array_equal(next(iter_frames(path, start=3)), upright[3])


@needs_ffmpeg
@pytest.mark.parametrize("matrix", [m for m, _, _ in DISPLAY_MATRICES])
def test_upright_frames_match_what_ffmpeg_shows(tmp_path, write_phone_clip, landscape_frames, matrix):
    path = write_phone_clip(tmp_path / "phone.mp4", landscape_frames, *matrix)
    png = tmp_path / "ffmpeg.png"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", str(png)], check=True)
    assert np.array_equal(next(iter_frames(path)), skimage.io.imread(png)[:, :, :3])


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_photos_are_read_as_their_exif_orientation_shows_them(tmp_path, orientation, suffix):
    from PIL import Image, ImageOps

    from vaekit.io.synthetic import load_photo

    image = Image.fromarray(load_photo("chelsea")[::4, ::4])  # 75x113: odd sizes, not square
    exif = image.getexif()
    exif[0x0112] = orientation  # what phones write instead of turning the pixels
    path = tmp_path / f"photo{suffix}"
    image.save(path, exif=exif, quality=95)
    with Image.open(path) as shown:
        expected = np.asarray(ImageOps.exif_transpose(shown).convert("RGB"))  # Pillow's reading
    (frame,) = list(iter_frames(path))
    info = probe(path)
    assert (
        (info.width, info.height)
        == (expected.shape[1], expected.shape[0])
        == (frame.shape[1], frame.shape[0])
    )
    assert info.mirrored == (orientation in (2, 4, 5, 7))
    if suffix == ".png":
        assert np.array_equal(frame, expected)
    else:  # FFmpeg's and libjpeg's decoders differ by a level or two
        assert psnr(frame, expected) > 35


def test_unrotated_video_reports_rotation_zero(sample_clip):
    assert probe(sample_clip).rotation == 0


@pytest.mark.parametrize(
    "fps", [Fraction(30000, 1001), Fraction(24000, 1001), Fraction(25), Fraction(60), Fraction(25, 2)]
)
@pytest.mark.parametrize("count", [1, 2, 10])
def test_round_trip_keeps_rational_fps_and_frame_count(tmp_path, fps, count):
    path = write_clip(tmp_path / "clip.mp4", gradient_frames(count, 48, 32), fps=fps)
    info = probe(path)
    assert info.fps == fps
    assert info.frame_count == count == len(list(iter_frames(path)))
    assert info.duration_s == pytest.approx(count / fps, abs=1e-3)


@pytest.mark.parametrize("codec", available_codecs())
@pytest.mark.parametrize("size", [(251, 151), (64, 48), (17, 33)])
def test_every_codec_keeps_exact_size_and_count(tmp_path, codec, size):
    width, height = size
    frames = gradient_frames(5, width, height)
    path = write_clip(tmp_path / "clip.mp4", frames, fps=Fraction(30000, 1001), codec=codec)
    info = probe(path)
    assert (info.width, info.height, info.frame_count, info.fps) == (width, height, 5, Fraction(30000, 1001))
    decoded = list(iter_frames(path))
    assert len(decoded) == 5 and decoded[0].shape == (height, width, 3)
    assert min(psnr(a, b) for a, b in zip(frames, decoded)) > 30


def test_float_fps_becomes_the_fraction_it_stands_for(tmp_path):
    assert VideoWriter(tmp_path / "a.mp4", 64, 48, 30000 / 1001).fps == Fraction(30000, 1001)
    assert VideoWriter(tmp_path / "b.mp4", 64, 48, 23.976).fps == Fraction(2997, 125)
    assert VideoWriter(tmp_path / "c.mp4", 64, 48, 25).fps == Fraction(25)


def test_odd_size_is_written_as_yuv444_with_libx264(tmp_path):
    writer = VideoWriter(tmp_path / "a.mp4", 251, 151, Fraction(24))
    assert writer.pix_fmt == "yuv444p"
    assert VideoWriter(tmp_path / "b.mp4", 250, 150, Fraction(24)).pix_fmt == "yuv420p"
    path = write_clip(tmp_path / "odd.mp4", gradient_frames(3, 251, 151))
    assert probe(path).pix_fmt == "yuv444p"


def test_mp4_output_is_faststart(sample_clip):
    head = sample_clip.read_bytes()
    assert 0 <= head.find(b"moov") < head.find(b"mdat")  # index first: playable while downloading


@needs_ffprobe
def test_ffprobe_reads_size_fps_and_frame_count(sample_clip, odd_clip, tmp_path):
    odd = write_clip(tmp_path / "odd.mp4", gradient_frames(6, 251, 151), fps=Fraction(24000, 1001))
    expected = {
        sample_clip: (256, 256, "24/1", "17", "yuv420p"),
        odd_clip: (250, 150, "30000/1001", "10", "yuv420p"),
        odd: (251, 151, "24000/1001", "6", "yuv444p"),
    }
    for path, want in expected.items():
        (video,) = [s for s in ffprobe_streams(path) if s["codec_type"] == "video"]
        keys = ("width", "height", "r_frame_rate", "nb_read_frames", "pix_fmt")
        assert tuple(video[k] for k in keys) == want, path
        assert video["avg_frame_rate"] == want[2] and video["color_space"] == "bt709"


# ---------------------------------------------------------------------------------------------
# Audio


def audio_packets(path: Path, count: int) -> list[bytes]:
    with av.open(str(path)) as container:
        packets = (bytes(p) for p in container.demux(audio=0) if p.size)
        return [next(packets) for _ in range(count)]


def test_audio_from_copies_the_source_audio_cut_to_the_video(audio_clip, tmp_path):
    out = write_clip(tmp_path / "out.mp4", gradient_frames(8, 64, 48), audio_from=audio_clip)
    assert probe(out).has_audio
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        duration = float(audio.duration * audio.time_base)
    assert duration == pytest.approx(8 / 24, abs=0.03)  # within about one AAC packet
    assert audio_packets(out, 5) == audio_packets(audio_clip, 5)  # stream copy: same bytes


def test_audio_that_mp4_cannot_hold_is_transcoded_to_aac(tmp_path):
    wav = tmp_path / "tone.wav"
    with av.open(str(wav), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=16000, layout="mono")
        tone = (0.3 * np.sin(np.arange(32000) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None], format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out = write_clip(tmp_path / "out.mp4", gradient_frames(12, 64, 48), audio_from=wav)
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert (audio.codec_context.name, audio.codec_context.sample_rate) == ("aac", 16000)
        assert float(audio.duration * audio.time_base) == pytest.approx(0.5, abs=0.07)


@needs_ffprobe
def test_ffprobe_sees_the_copied_audio(audio_clip, tmp_path):
    out = write_clip(tmp_path / "out.mp4", gradient_frames(8, 64, 48), audio_from=audio_clip)
    kinds = {s["codec_type"]: s["codec_name"] for s in ffprobe_streams(out)}
    assert kinds == {"video": "h264", "audio": "aac"}


def test_audio_from_a_file_without_audio_is_an_input_error(sample_clip, tmp_path):
    with pytest.raises(InputError, match="has no audio stream"):
        write_clip(tmp_path / "out.mp4", gradient_frames(2, 64, 48), audio_from=sample_clip)
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.fixture
def header_only_mp4(tmp_path, odd_clip) -> Path:
    """Only the first box (ftyp) of a real mp4: no index, no data."""
    data = odd_clip.read_bytes()
    path = tmp_path / "header.mp4"
    path.write_bytes(data[: int.from_bytes(data[:4], "big")])
    return path


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing", "no such file"),
        ("folder", "is a folder"),
        ("text", "not a video file PyAV/FFmpeg can read"),
        ("header_only", "not a video file PyAV/FFmpeg can read"),
    ],
)
@pytest.mark.parametrize("reader", [probe, lambda p: next(iter_frames(p)), frame_count_exact])
def test_unreadable_inputs_raise_one_line_input_errors(
    name, message, reader, tmp_path, text_as_mp4, header_only_mp4
):
    path = {
        "missing": tmp_path / "nope.mp4",
        "folder": tmp_path,
        "text": text_as_mp4,
        "header_only": header_only_mp4,
    }[name]
    with pytest.raises(InputError, match=message) as caught:
        reader(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_truncated_file_yields_what_it_has_then_says_where_it_stopped(truncated_mp4):
    assert probe(truncated_mp4).frame_count == 33  # the index survived; the data did not
    frames = []
    with pytest.raises(InputError, match=r"truncated or corrupt after (\d+) frames") as caught:
        for frame in iter_frames(truncated_mp4):
            frames.append(frame)
    assert 0 < len(frames) < 33
    assert f"after {len(frames)} frames" in str(caught.value)


def test_zero_frame_video_is_an_input_error(zero_frame_video):
    assert probe(zero_frame_video).width == 64
    with pytest.raises(InputError, match="contains no video frames"):
        list(iter_frames(zero_frame_video))


def test_file_without_video_stream_is_an_input_error(tmp_path):
    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as container:  # mp4 drops a track that received no frames
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height = 64, 64
        container.start_encoding()
    for reader in (probe, lambda p: list(iter_frames(p))):
        with pytest.raises(InputError, match="has no video stream"):
            reader(path)


# ---------------------------------------------------------------------------------------------
# The frame iterator releases its file


def test_iterator_closes_its_file_when_stopped_early(sample_clip):
    before = open_fds()
    frames = iter_frames(sample_clip)
    next(frames)
    assert open_fds() > before  # the container is open while iterating
    frames.close()
    assert open_fds() == before


def test_iterator_closes_its_file_when_exhausted_or_failing(sample_clip, truncated_mp4):
    before = open_fds()
    assert len(list(iter_frames(sample_clip))) == 17
    with pytest.raises(InputError):
        list(iter_frames(truncated_mp4))
    assert open_fds() == before


# ---------------------------------------------------------------------------------------------
# Atomic output


def test_atomic_output_renames_on_success(tmp_path):
    target = tmp_path / "out.mp4"
    with atomic_output(target) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".out.tmp-") and temp.suffix == ".mp4"
        assert not target.exists()
        temp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    assert leftovers(tmp_path) == ["out.mp4"]


def test_atomic_output_gives_the_mode_of_a_plain_new_file(tmp_path):
    """safetensors replaces the temporary file with a 0600 one; outputs must still be readable by others."""
    import stat

    from safetensors.torch import save_file

    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "w.safetensors") as temp:
            save_file({"x": torch.zeros(2)}, str(temp))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w.safetensors").stat().st_mode) == 0o644


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_output_leaves_nothing_on_error(tmp_path, error):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(type(error)):
        with atomic_output(target) as temp:
            temp.write_bytes(b"partial")
            raise error
    assert leftovers(tmp_path) == ["out.bin"] and target.read_bytes() == b"old"


def test_atomic_output_reports_a_full_disk(tmp_path):
    with pytest.raises(OutputError, match="out.bin: disk full"):
        with atomic_output(tmp_path / "out.bin"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert leftovers(tmp_path) == []


def test_atomic_output_reports_bad_folders(tmp_path):
    with pytest.raises(OutputError, match="folder does not exist"):
        with atomic_output(tmp_path / "missing" / "out.bin"):
            pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        with atomic_output(tmp_path / "file" / "out.bin"):
            pass
    with pytest.raises(OutputError, match="existing folder"):
        with atomic_output(tmp_path):
            pass


def test_atomic_write_bytes(tmp_path):
    path = atomic_write_bytes(tmp_path / "x.json", b"{}")
    assert path.read_bytes() == b"{}" and leftovers(tmp_path) == ["x.json"]


# ---------------------------------------------------------------------------------------------
# The writer on failure


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_writer_leaves_nothing_when_interrupted(tmp_path, error):
    frames = gradient_frames(4, 64, 48)
    with pytest.raises(type(error)):
        with VideoWriter(tmp_path / "out.mp4", 64, 48, Fraction(24)) as writer:
            for frame in frames:
                writer.write(frame)
            raise error
    assert leftovers(tmp_path) == []


REPO = Path(__file__).resolve().parents[1]


def run_python(script: str, *args: str, **kwargs) -> subprocess.Popen:
    """Start ``python -c script args`` with this checkout importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


UNWRITABLE_SCRIPT = """
import os, sys
from fractions import Fraction
import numpy as np
from vaekit.errors import OutputError
from vaekit.io.video import VideoWriter

if os.geteuid() == 0:  # root may write anywhere: continue as nobody
    os.setgid(65534)
    os.setuid(65534)
try:
    with VideoWriter(sys.argv[1], 64, 48, Fraction(24)) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
except OutputError as err:
    print(err)
"""


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_unwritable_output_folder_is_an_output_error():
    folder = Path(tempfile.mkdtemp(prefix="vaekit-ro-"))
    folder.chmod(0o555)
    try:
        out, err = run_python(UNWRITABLE_SCRIPT, str(folder / "out.mp4")).communicate(timeout=60)
        assert out.strip() == f"cannot write {folder / 'out.mp4'}: folder not writable", err
        assert leftovers(folder) == []
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


CTRL_C_SCRIPT = """
import sys
import tempfile
from fractions import Fraction
import numpy as np
from vaekit.io.video import VideoWriter

with VideoWriter(sys.argv[1], 64, 48, Fraction(24)) as writer:
    while True:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        if writer.frames_written == 50:
            print("writing", flush=True)
"""


def test_ctrl_c_in_a_real_process_leaves_nothing(tmp_path):
    proc = run_python(CTRL_C_SCRIPT, str(tmp_path / "out.mp4"))
    try:
        assert proc.stdout.readline() == "writing\n"
        assert any(tmp_path.iterdir())  # the temporary file exists while writing
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert leftovers(tmp_path) == []


def test_failed_write_keeps_the_previous_file(sample_clip, tmp_path):
    target = tmp_path / "out.mp4"
    shutil.copy(sample_clip, target)
    with pytest.raises(ValueError, match="expected a uint8 frame of shape"):
        with VideoWriter(target, 64, 48, Fraction(24)) as writer:
            writer.write(np.zeros((48, 64, 3), np.float32))
    assert target.read_bytes() == sample_clip.read_bytes() and leftovers(tmp_path) == ["out.mp4"]


def test_writing_no_frames_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="no frames were written"):
        with VideoWriter(tmp_path / "out.mp4", 64, 48, Fraction(24)):
            pass
    assert leftovers(tmp_path) == []


def test_writer_rejects_bad_outputs(tmp_path):
    with pytest.raises(OutputError, match="not available in this PyAV build; use one of: libx264"):
        VideoWriter(tmp_path / "out.mp4", 64, 48, Fraction(24), codec="nonsense")
    if "libx265" in available_codecs():
        with pytest.raises(OutputError, match="libx265 cannot encode frames smaller than 16x16"):
            VideoWriter(tmp_path / "out.mp4", 64, 8, Fraction(24), codec="libx265")
    with pytest.raises(OutputError, match="folder does not exist"):
        with VideoWriter(tmp_path / "missing" / "out.mp4", 64, 48, Fraction(24)):
            pass
    with pytest.raises(OutputError, match="container format"):
        with VideoWriter(tmp_path / "out.unknownsuffix", 64, 48, Fraction(24)):
            pass
    assert leftovers(tmp_path) == []


def test_iter_frames_start_seeks_to_the_same_frames(tmp_path):
    """Seeking (keyframes every 8 frames) gives exactly the frames a full decode gives from there."""
    path = tmp_path / "gop.mp4"
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=Fraction(30000, 1001), options={"g": "8", "crf": "18"})
        st.width, st.height, st.pix_fmt = 96, 64, "yuv420p"
        for i in range(40):
            img = np.zeros((64, 96, 3), np.uint8)
            img[..., 0] = i * 6
            img[:, i : i + 5] = 255
            for packet in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in st.encode():
            c.mux(packet)
    full = list(iter_frames(path))
    for start in (1, 7, 8, 9, 33, 39):
        got = list(iter_frames(path, start=start))
        assert len(got) == 40 - start
        assert all(np.array_equal(a, b) for a, b in zip(got, full[start:]))
    assert list(iter_frames(path, start=100)) == []
