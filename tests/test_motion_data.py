"""The motion-rich built-in training source: vaekit.io.motion and builtin:motion in train.data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vaekit.errors import InputError
from vaekit.io.motion import (
    CAMERA_SPEED,
    FAST_CAMERA_SPEED,
    FAST_SPRITE_SPEED,
    SPRITE_SPEED,
    MotionSpec,
    Shot,
    Sprite,
    motion_clip,
    motion_statistics,
    reencode,
    render_motion_clip,
    sample_motion_spec,
    spec_displacements,
    x264_available,
)
from vaekit.io.synthetic import CameraPath, CameraPose, camera_motion_clip, random_camera_path
from vaekit.train.data import ClipBatches, ClipReader, describe, find_items, make_loader

PHOTOS = ["astronaut", "coffee", "rocket", "coins"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _still(photo: str) -> Shot:
    pose = CameraPose(0.5, 0.5, 1.5, 0.0)
    return Shot(photo, CameraPath(pose, pose))


def _assert_reader_clip(clip: torch.Tensor, frames: torch.Tensor) -> None:
    """``clip`` (ClipReader: 3, T, H, W in [-1, 1]) is ``frames`` (T, H, W, 3 uint8), rescaled."""
    torch.testing.assert_close(clip, frames.permute(3, 0, 1, 2).float() / 127.5 - 1, rtol=0, atol=1e-6)


def _diffs(clip: torch.Tensor) -> np.ndarray:
    """Mean absolute difference (0-255) between consecutive frames of a T x H x W x 3 clip."""
    x = clip.numpy().astype(np.float64)
    return np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3))


def test_same_generator_same_clip_other_seed_other_clip():
    for kind in ("motion", "static", "slow"):
        a = render_motion_clip(sample_motion_spec(_gen(1), PHOTOS, 9, 48, kind=kind))
        b = render_motion_clip(sample_motion_spec(_gen(1), PHOTOS, 9, 48, kind=kind))
        c = render_motion_clip(sample_motion_spec(_gen(2), PHOTOS, 9, 48, kind=kind))
        assert torch.equal(a, b) and not torch.equal(a, c)
    assert sample_motion_spec(_gen(5), PHOTOS, 9, 48) == sample_motion_spec(_gen(5), PHOTOS, 9, 48)


def test_clip_shape_dtype_and_every_kind_renders():
    seen = set()
    gen = _gen(0)
    for _ in range(40):
        spec = sample_motion_spec(gen, PHOTOS, 6, 40)
        seen |= {spec.kind, spec.transition} | ({"blur"} if spec.subframes > 1 else set())
        clip = render_motion_clip(spec)
        assert clip.shape == (6, 40, 40, 3) and clip.dtype == torch.uint8
    assert {"slow", "static", "motion", "cut", "blur"} <= seen


def test_slow_clips_are_todays_photo_clips():
    spec = sample_motion_spec(_gen(3), PHOTOS, 7, 48, kind="slow")
    (shot,) = spec.shots
    assert shot.sprites == () and spec.subframes == 1 and spec.noise == 0 and spec.crf == 0
    today = np.stack(list(camera_motion_clip(shot.photo, 7, 48, 48, motion=shot.camera)))
    assert np.array_equal(render_motion_clip(spec).numpy(), today)


def test_a_cut_changes_the_picture_at_the_cut_frame_only():
    first = Shot("astronaut", random_camera_path(0, 9))
    second = Shot("coffee", random_camera_path(1, 9))
    for cut in (1, 4, 8):
        spec = MotionSpec(9, 48, "motion", (first, second), transition="cut", cut=cut)
        d = _diffs(render_motion_clip(spec))
        others = np.delete(d, cut - 1)
        assert d[cut - 1] > 20 and d[cut - 1] > 5 * others.max(), (cut, d)


def test_cut_frames_cover_every_position():
    gen = _gen(0)
    cuts = set()
    for _ in range(400):
        spec = sample_motion_spec(gen, PHOTOS, 4, 16, kind="motion")
        if spec.transition == "cut":
            cuts.add(spec.cut)
            assert spec.shots[1].photo != spec.shots[0].photo
    assert cuts == {1, 2, 3}


def test_a_fade_dissolves_between_the_shots():
    a, b = _still("astronaut"), _still("coffee")
    fade = render_motion_clip(MotionSpec(8, 32, "motion", (a, b), transition="fade", cut=2, fade=3))
    ends = [render_motion_clip(MotionSpec(8, 32, "motion", (s,))).float() for s in (a, b)]
    f = fade.float()
    assert torch.equal(f[:2], ends[0][:2]) and torch.equal(f[5:], ends[1][5:])
    for k in range(3):  # weights 1/4, 2/4, 3/4 of the new shot
        w = (k + 1) / 4
        assert (f[2 + k] - ((1 - w) * ends[0][2 + k] + w * ends[1][2 + k])).abs().max() <= 1


def test_sprites_move_and_occlude():
    sprite = Sprite(
        photo="coffee", crop_x=0.5, crop_y=0.5, crop=0.4, crop_angle=0.0, axes=(0.9, 0.9), wobble=(),
        softness=0.1, x=12.0, y=32.0, vx=5.0, vy=1.0, size=20.0, growth=0.0, angle=0.0, spin=0.0,
    )  # fmt: skip
    shot = _still("astronaut")
    bare = render_motion_clip(MotionSpec(7, 64, "motion", (shot,))).numpy().astype(int)
    drawn = render_motion_clip(MotionSpec(7, 64, "motion", (dataclasses.replace(shot, sprites=(sprite,)),)))
    covered = np.abs(drawn.numpy().astype(int) - bare).max(axis=3) > 12
    centres = []
    for t in range(7):
        ys, xs = np.nonzero(covered[t])
        assert 50 < len(xs) < 400  # a blob of roughly (0.9 * 20 / 1.05)^2 * pi / 4 px
        centres.append((xs.mean() + 0.5, ys.mean() + 0.5))
    centres = np.array(centres)
    expected = np.array([sprite.at(t)[:2] for t in range(7)])
    assert np.abs(centres - expected).max() < 2.0  # follows its path: 5 px/frame right, 1 down
    assert abs(centres[-1, 0] - centres[0, 0] - 30) < 2


def test_sampled_speeds_stay_in_the_documented_ranges():
    gen = _gen(0)
    for _ in range(150):
        spec = sample_motion_spec(gen, PHOTOS, 17, 128)
        for shot in spec.shots:
            if spec.kind == "motion":
                assert CAMERA_SPEED[0] * 0.99 <= shot.speed <= CAMERA_SPEED[1]
                assert 1 <= len(shot.sprites) <= 4
            for sprite in shot.sprites:
                low = SPRITE_SPEED[0] if spec.kind == "motion" else 0.0
                assert low * 0.99 <= sprite.speed <= SPRITE_SPEED[1] * 1.01
        d = spec_displacements(spec)
        if spec.kind == "motion" and spec.transition == "none":
            # what the rendered camera does matches the sampled speed (view kept inside the photo)
            assert d["camera"].mean() == pytest.approx(spec.shots[0].speed, rel=0.1)
        assert d["camera"].max(initial=0) <= 1.3 * CAMERA_SPEED[1] and d["sprites"].max(initial=0) <= 16.2


def test_fast_profile_draws_only_fast_motion_clips():
    gen = _gen(2)
    cameras = []
    for _ in range(120):
        spec = sample_motion_spec(gen, PHOTOS, 17, 128, fast=True)
        assert spec.kind == "motion"
        for shot in spec.shots:
            # the camera may be slowed to what fits in the photo, never sped up
            assert shot.speed <= FAST_CAMERA_SPEED[1]
            cameras.append(shot.speed)
            assert 1 <= len(shot.sprites) <= 4
            for sprite in shot.sprites:
                assert FAST_SPRITE_SPEED[0] * 0.99 <= sprite.speed <= FAST_SPRITE_SPEED[1] * 1.01
    assert np.median(cameras) > 4.0  # log-uniform 2-16 px/frame: median ~5.7
    assert np.mean(np.array(cameras) >= FAST_CAMERA_SPEED[0] * 0.99) > 0.9
    # a forced kind still wins, and the default source's stream is not changed by the option
    assert sample_motion_spec(_gen(1), PHOTOS, 17, 128, fast=True, kind="static").kind == "static"
    assert sample_motion_spec(_gen(1), PHOTOS, 17, 128) == sample_motion_spec(_gen(1), PHOTOS, 17, 128, fast=False)


def test_builtin_fastmotion_source_reads_fast_clips():
    items = find_items(["builtin:fastmotion:astronaut,coffee", "builtin:motion:astronaut"])
    assert [it.label for it in items] == [
        "builtin:fastmotion:astronaut",
        "builtin:fastmotion:coffee",
        "builtin:motion:astronaut",
    ]
    assert describe(items) == "3 built-in motion photos"
    reader = ClipReader(9, 32, 1)
    clip = reader.read(items[0], _gen(0))
    expected = motion_clip(_gen(0), ("astronaut", "coffee"), 9, 32, photo="astronaut", fast=True)
    _assert_reader_clip(clip, expected)
    slow = motion_clip(_gen(0), ("astronaut", "coffee"), 9, 32, photo="astronaut")
    assert not torch.equal(expected, slow)
    with pytest.raises(InputError, match="unknown built-in photos"):
        find_items(["builtin:fastmotion:nope"])


def test_statistics_report_shares_and_beat_todays_source():
    stats = motion_statistics(150, 9, 64, seed=1)
    shares = stats["shares"]
    assert shares["slow"] + shares["static"] + shares["motion"] == pytest.approx(1.0)
    assert 0.05 < shares["cut"] < 0.4 and 0 < shares["fade"] < 0.2
    assert stats["motion_only"]["camera"]["p90"] > 2 * stats["photos"]["camera"]["p90"]
    assert stats["motion"]["sprites"]["max"] <= SPRITE_SPEED[1] * 1.01
    alone = motion_statistics(150, 9, 64, seed=1, reference=False)
    assert "photos" not in alone and alone["motion"] == stats["motion"] and alone["shares"] == shares


@pytest.mark.skipif(not x264_available(), reason="PyAV has no libx264 here")
def test_reencode_keeps_the_clip_close():
    clip = render_motion_clip(sample_motion_spec(_gen(4), PHOTOS, 5, 33, kind="motion")).numpy()
    out = reencode(clip, 30)
    assert out.shape == clip.shape and out.dtype == np.uint8 and not np.array_equal(out, clip)
    assert np.abs(out.astype(int) - clip).mean() < 12
    assert np.array_equal(out, reencode(clip, 30))  # deterministic


def test_unknown_photo_is_an_input_error():
    with pytest.raises(InputError, match=r"unknown built-in photos \['nope'\]; available: astronaut"):
        find_items(["builtin:motion:astronaut,nope"])
    with pytest.raises(InputError, match="unknown or missing photo 'nope'"):
        sample_motion_spec(_gen(0), ["nope"], 5, 32)


def test_builtin_motion_source_end_to_end():
    items = find_items(["builtin:motion:astronaut,coffee", "builtin:photos:coins"])
    assert [it.label for it in items] == [
        "builtin:motion:astronaut",
        "builtin:motion:coffee",
        "builtin:photos:coins",
    ]
    assert describe(items) == "1 built-in photos, 2 built-in motion photos"
    assert len(find_items(["builtin:motion"])) == len(find_items(["builtin:photos"]))
    reader = ClipReader(9, 32, 1)
    clip = reader.read(items[0], _gen(0))
    assert clip.shape == (3, 9, 32, 32) and clip.dtype == torch.float32
    assert clip.min() >= -1 and clip.max() <= 1
    assert torch.equal(clip, reader.read(items[0], _gen(0)))
    expected = motion_clip(_gen(0), ("astronaut", "coffee"), 9, 32, photo="astronaut")
    _assert_reader_clip(clip, expected)
    jittered = ClipReader(9, 32, 1, color_augment=True).read(items[0], _gen(0))
    assert jittered.shape == clip.shape and not torch.equal(jittered, clip)


def test_motion_batches_do_not_depend_on_workers():
    data = ClipBatches(
        find_items(["builtin:motion:astronaut,rocket"]), ClipReader(5, 24, 1), seed=3, batch_size=2
    )
    serial = [b["video"] for b in make_loader(data, 0, 2, 0, pin_memory=False)]
    parallel = [b["video"] for b in make_loader(data, 0, 2, 2, pin_memory=False)]
    for a, b in zip(serial, parallel):
        assert torch.equal(a, b)
    assert not torch.equal(serial[0], serial[1])
