"""The video source opens its file once per encode, carries the probed geometry forward, reads a
pipe, and the latent file it feeds is written in one pass or, when the container's frame count
is wrong, through the writer's fallback with the same bytes."""

import os
import threading

import av
import numpy as np
import pytest
import torch
from modelkit import small_model

from vaekit.io.latent_file import LatentReader
from vaekit.io.synthetic import write_sample_clip
from vaekit.io.video import iter_frames
from vaekit.runtime import TorchBackend
from vaekit.runtime.jobs import encode_file
from vaekit.runtime.pipeline import VideoSource

_BACKEND = TorchBackend(small_model(torch.float32))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """mp4, 40x24 (a multiple of 8), 10 frames (not 1 + 4k: 4 latent frames)."""
    folder = tmp_path_factory.mktemp("source")
    return write_sample_clip(folder / "c.mp4", num_frames=10, width=40, height=24, seed=4)


@pytest.fixture
def opens(monkeypatch):
    """The paths av.open is asked to read, in order."""
    seen, real = [], av.open

    def counting(file, mode="r", *args, **kwargs):
        if mode == "r":
            seen.append(str(file))
        return real(file, mode, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    return seen


def test_an_encode_opens_its_input_once(tmp_path, clip, opens):
    summary = encode_file(_BACKEND, clip, tmp_path / "c.latent.safetensors", save_logvar=True)
    assert opens == [str(clip)]
    assert summary["frames"] == 10
    assert summary["latent_shape"] == [16, 4, 3, 5]
    assert summary["latent_layout"] == "one-pass"


def test_one_open_yields_the_frames_a_fresh_read_yields(clip, opens):
    source = VideoSource(clip)
    assert (source.info.width, source.info.height, source.frame_count) == (40, 24, 10)
    assert source.latent_frames(4) == 4
    frames = list(source.frames())
    assert len(opens) == 1
    again = list(source.frames())  # a second pass opens the file again
    assert len(opens) == 2
    fresh = list(iter_frames(clip, threads=False))
    assert len(frames) == len(again) == len(fresh) == 10
    assert all(np.array_equal(a, b) for a, b in zip(frames, fresh, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(again, fresh, strict=True))


def test_frames_without_a_probe_open_once_and_fill_in_the_geometry(clip, opens):
    source = VideoSource(clip, max_frames=6)
    assert len(list(source.frames())) == 6
    assert source.info.frame_count == 10
    assert source.frame_count == 6
    assert len(opens) == 1


def test_a_pipe_is_probed_and_read_in_one_pass(tmp_path, clip):
    """A source that cannot be reopened or seeked: probing it, then reading it, uses one open."""
    mkv = write_sample_clip(tmp_path / "c.mkv", num_frames=10, width=40, height=24, seed=4)
    fifo = tmp_path / "pipe.mkv"
    os.mkfifo(fifo)
    data = mkv.read_bytes()

    def feed():
        with open(fifo, "wb") as f:
            f.write(data)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    source = VideoSource(fifo)
    assert (source.info.width, source.info.height) == (40, 24)
    frames = list(source.frames())
    feeder.join(timeout=30)
    assert not feeder.is_alive()
    expected = list(iter_frames(mkv))
    assert len(frames) == len(expected) == 10
    assert all(np.array_equal(a, b) for a, b in zip(frames, expected, strict=True))


@pytest.mark.parametrize("declared", [6, 14, None], ids=lambda n: f"declared{n}")
def test_a_container_that_miscounts_its_frames_still_gives_the_same_file(
    tmp_path, clip, monkeypatch, declared
):
    """The container says ``declared`` frames (3 or 5 latent frames, or none), the clip has 10 (4
    latent frames): the writer notices and falls back; the file is byte for byte the honest one."""
    honest = tmp_path / "honest.latent.safetensors"
    encode_file(_BACKEND, clip, honest)
    monkeypatch.setattr(VideoSource, "frame_count", property(lambda self: declared))
    lied = tmp_path / "lied.latent.safetensors"
    summary = encode_file(_BACKEND, clip, lied)
    assert summary["latent_layout"] == "scratch"
    assert lied.read_bytes() == honest.read_bytes()
    assert LatentReader(lied).info.frame_count == 10
