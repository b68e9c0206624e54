"""Synthetic clips: bundled photographs filmed by a virtual camera, and sample files."""

from __future__ import annotations

import socket
import time
from fractions import Fraction

import numpy as np
import pytest

from vaekit.errors import InputError
from vaekit.io.synthetic import (
    CameraPath,
    CameraPose,
    camera_motion_clip,
    list_photos,
    load_photo,
    random_camera_path,
    write_sample_clip,
)
from vaekit.io.video import iter_frames, probe


def clip(*args, **kwargs) -> np.ndarray:
    return np.stack(list(camera_motion_clip(*args, **kwargs)))


def test_bundled_photos_load_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    names = list_photos()
    # grace_hopper ships with matplotlib, china and flower with scikit-learn (a dev dependency)
    assert {"astronaut", "chelsea", "coffee", "rocket", "camera", "grace_hopper", "china", "flower"} <= set(
        names
    )
    for name in names:
        photo = load_photo(name)
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
        assert min(photo.shape[:2]) >= 300 and photo.std() > 10  # a real picture, not a blank


def test_load_photo_returns_a_private_copy():
    photo = load_photo("coffee")
    photo[:] = 0
    assert load_photo("coffee").any()


def test_photo_of_a_missing_package_names_the_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "sklearn" else real(name))
    assert "china" not in list_photos() and "coffee" in list_photos()
    with pytest.raises(
        InputError, match="photo 'china' ships with scikit-learn, which is not installed; pip install"
    ):
        load_photo("china")


def test_unknown_photo_is_an_input_error():
    with pytest.raises(InputError, match="unknown or missing photo 'lily'; choose one of: astronaut"):
        load_photo("lily")  # in skimage.data, but only as a download


def test_clip_shape_dtype_and_determinism():
    a = clip("astronaut", 17, 96, 64, seed=3)
    assert a.shape == (17, 64, 96, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, clip("astronaut", 17, 96, 64, seed=3))
    assert not np.array_equal(a, clip("astronaut", 17, 96, 64, seed=4))


def test_camera_moves_smoothly():
    frames = clip("coffee", 17, 128, 128, seed=0).astype(np.float64)
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert steps.min() > 0  # every frame differs from the previous one
    # consecutive frames are close compared to the whole move
    assert steps.max() < 0.5 * np.abs(frames[-1] - frames[0]).mean()


def test_frames_never_show_past_the_photo_edge():
    flat = np.full((120, 200, 3), 77, np.uint8)
    extreme = CameraPath(CameraPose(0.0, 0.0, 1.0, -30.0), CameraPose(1.0, 1.0, 1.0, 30.0))
    frames = clip(flat, 9, 64, 48, motion=extreme)
    assert (frames == 77).all()


def test_explicit_static_path_gives_identical_frames():
    pose = CameraPose(0.4, 0.6, 1.5, 2.0)
    frames = clip("rocket", 5, 80, 60, motion=CameraPath(pose, pose))
    assert all(np.array_equal(frames[0], f) for f in frames[1:])
    assert frames[0].std() > 10


def test_zoom_magnifies():
    photo = load_photo("camera")
    wide = clip(photo, 1, 64, 64, motion=CameraPath(CameraPose(zoom=1.0), CameraPose(zoom=1.0)))[0]
    close = clip(photo, 1, 64, 64, motion=CameraPath(CameraPose(zoom=4.0), CameraPose(zoom=4.0)))[0]

    # magnified content is smoother: smaller differences between neighbouring pixels
    def roughness(f):
        return np.abs(np.diff(f.astype(float), axis=1)).mean()

    assert roughness(close) < 0.6 * roughness(wide)


def test_random_paths_stay_plausible():
    for seed in range(50):
        path = random_camera_path(seed, 33)
        for pose in (path.start, path.end):
            assert 1.0 <= pose.zoom <= 2.0 and abs(pose.angle) <= 6.0 and 0 <= path.ease <= 1


def test_clip_is_fast():
    list(camera_motion_clip("astronaut", 2, 256, 256, seed=0))  # warm-up: photo cache, torch
    start = time.perf_counter()
    frames = list(camera_motion_clip("astronaut", 17, 256, 256, seed=1))
    assert len(frames) == 17 and time.perf_counter() - start < 1.0


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="num_frames"):
        next(camera_motion_clip("astronaut", 0, 64, 64))
    with pytest.raises(ValueError, match="uint8 array"):
        next(camera_motion_clip(np.zeros((10, 10), np.uint8), 1, 64, 64))


def test_write_sample_clip_with_audio(tmp_path):
    path = write_sample_clip(
        tmp_path / "s.mp4",
        photo="motorcycle",
        num_frames=9,
        width=96,
        height=64,
        fps=Fraction(25),
        seed=5,
        audio=True,
    )
    info = probe(path)
    assert (info.width, info.height, info.frame_count, info.fps) == (96, 64, 9, Fraction(25))
    assert info.has_audio
    decoded = np.stack(list(iter_frames(path))).astype(float)
    source = clip("motorcycle", 9, 96, 64, seed=5)
    mse = ((decoded - source) ** 2).mean(axis=(1, 2, 3))
    assert (10 * np.log10(255**2 / mse)).min() > 29  # crf 18 on small, detailed frames: ~31 dB
