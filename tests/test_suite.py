"""vaekit eval --suite motion: the fixed clips, the per-slot / pooled / recovery metrics, the command."""

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from modelkit import small_model

from vaekit.cli import main
from vaekit.eval_suite import (
    CATEGORIES,
    HELD_OUT_PHOTOS,
    FrameErrors,
    clip_metrics,
    format_suite_table,
    motion_suite,
    pan_spec,
    shot_recovery,
    slot_of,
    transition_group,
)
from vaekit.model import save_model

SIZE, FRAMES = 64, 13


@pytest.fixture(scope="module")
def clips():
    return motion_suite(SIZE, FRAMES)


@pytest.fixture(scope="module")
def rendered(clips):
    return {c.name: np.stack(c.render()) for c in clips}


def test_suite_clips_are_fixed_and_independent_of_the_random_state(clips, rendered):
    assert [c.category for c in clips] == ["static", "slow_pan", "fast_pan", "sprites", *["cut"] * 4, "fade"]
    assert set(c.category for c in clips) == set(CATEGORIES)
    torch.manual_seed(123)
    np.random.seed(7)
    again = {c.name: np.stack(c.render()) for c in motion_suite(SIZE, FRAMES)}
    for name, frames in rendered.items():
        assert frames.shape == (FRAMES, SIZE, SIZE, 3) and frames.dtype == np.uint8
        assert np.array_equal(frames, again[name]), name
    assert not np.diff(rendered["static"].astype(int), axis=0).any()  # the static clip is still
    for name in ("slow_pan", "fast_pan", "sprites"):
        assert np.diff(rendered[name].astype(int), axis=0).any(axis=(1, 2, 3)).all()  # every frame moves
    assert {p for c in clips for p in c.photos} == set(HELD_OUT_PHOTOS)


def test_cut_clips_cut_on_their_slot_in_a_middle_group(clips, rendered):
    g = transition_group(FRAMES)
    cuts = [c for c in clips if c.category == "cut"]
    assert [c.slot for c in cuts] == [0, 1, 2, 3]
    for c in cuts:
        frames = rendered[c.name].astype(float)
        change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # change[i]: frame i -> i + 1
        assert int(change.argmax()) + 1 == c.transition, c.name
        assert change.max() > 3 * np.delete(change, change.argmax()).max()  # a cut, not motion
        assert slot_of(c.transition) == c.slot and (c.transition - 1) // 4 == g
        assert 1 + 4 * (g + 1) + 3 < FRAMES  # the group after the cut lies inside the clip
    fade = next(c for c in clips if c.category == "fade")
    assert fade.transition == 1 + 4 * g  # the dissolve fills group g
    frames = rendered["fade"].astype(float)
    t = fade.transition
    a, b = frames[t - 1], frames[t + 4]  # the last frame of the first shot, the first of the second
    to_a = [np.abs(frames[t + k] - a).mean() for k in range(4)]
    to_b = [np.abs(frames[t + k] - b).mean() for k in range(4)]
    assert to_a == sorted(to_a) and to_b == sorted(to_b, reverse=True)  # a gradual dissolve


def _noise_frames(n, seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(40, 216, (1, 3, size, size), generator=g).to(torch.uint8) for _ in range(n)]


def test_slot_psnr_isolates_an_error_in_one_slot():
    refs = _noise_frames(13)
    errors = FrameErrors()
    for i, ref in enumerate(refs):
        rec = ref.clone()
        if i == 0 or slot_of(i) == 2:  # frames 0 (its own latent, excluded), 3, 7, 11
            rec = rec + 5
        errors.update(ref, rec)
    m = clip_metrics(errors)
    expect = 10 * math.log10(255**2 / 25)
    assert m["slot_psnr"][2] == pytest.approx(expect, abs=1e-3)
    assert [m["slot_psnr"][s] for s in (0, 1, 3)] == [math.inf] * 3
    assert m["worst_slot"] == {"slot": 2, "psnr": pytest.approx(expect, abs=1e-3)}
    assert m["frame_psnr"][0] == pytest.approx(expect, abs=1e-3) and m["frame_psnr"][1] == math.inf
    # a constant offset survives 8x8 pooling unchanged
    assert m["pooled_psnr"] == pytest.approx(10 * math.log10(255**2 / (25 * 4 / 13)), abs=1e-3)


def test_recovery_compares_the_cut_group_and_the_next_with_the_median_frame():
    refs = _noise_frames(13, seed=1)
    errors = FrameErrors()
    # frame errors: 2 everywhere, 10 in group 1 (frames 5-8), 4 in group 2 (frames 9-12)
    for i, ref in enumerate(refs):
        errors.update(ref, ref + (10 if 5 <= i <= 8 else 4 if i >= 9 else 2))
    r = clip_metrics(errors, transition=6)["recovery"]
    median = 10 * math.log10(255**2 / 16)  # 5 frames at 2, 4 at 10, 4 at 4: the median frame has 4
    assert (r["frame"], r["slot"], r["group"], r["group_frames"]) == (6, 1, 1, [5, 8])
    assert r["median_frame_psnr"] == pytest.approx(median, abs=1e-3)
    assert r["group_db"] == pytest.approx(10 * math.log10(16 / 100), abs=2e-3)
    assert r["next_group_db"] == pytest.approx(0, abs=2e-3)


def test_shot_recovery_measures_each_frame_against_its_own_shot():
    # shot 1 (frames 1-16) codes at 30 dB, shot 2 (from frame 19) at 24 dB; a cut at frame 19
    # (group 4 = frames 17-20): frames 17, 18 at 27 dB, 19 at 18, 20 at 22; the next group at 24
    psnr = [40.0] + [30.0] * 16 + [27.0, 27.0, 18.0, 22.0] + [24.0] * 12
    r = shot_recovery(psnr, transition=19)
    assert r["shot_level_psnr"] == [30.0, 24.0]
    assert r["group_shot_db"] == pytest.approx(((27 - 30) * 2 + (18 - 24) + (22 - 24)) / 4)
    assert r["next_group_shot_db"] == 0.0  # recovered at once, though shot 2 is 6 dB below shot 1
    # a lasting loss after the cut shows; infinite (lossless) frames are left out of the levels
    psnr2 = psnr[:21] + [21.0] * 4 + [24.0] * 7 + [math.inf]
    assert shot_recovery(psnr2, transition=19)["next_group_shot_db"] == -3.0
    # a cut in the last group: no second-shot level, so no number rather than a made-up one
    short = shot_recovery([40.0] + [30.0] * 8, transition=7)
    assert short["shot_level_psnr"] == [30.0, None] and short["next_group_shot_db"] is None
    assert short["group_shot_db"] == 0.0  # frames 5, 6 of the first shot at its level


def test_pan_spec_is_the_suites_pan_at_any_speed():
    fast = next(c for c in motion_suite(64, 9) if c.name == "fast_pan")
    assert pan_spec(8, 64, 9) == fast.spec
    from vaekit.io.motion import render_motion_clip

    still = render_motion_clip(pan_spec(0, 64, 9)).numpy().astype(int)
    assert np.array_equal(still[0], still[-1])
    step = [
        np.abs(np.diff(render_motion_clip(pan_spec(v, 64, 9)).numpy().astype(int), axis=0)).mean()
        for v in (2, 8)
    ]
    assert 0 < step[0] < step[1]


def test_pooled_psnr_is_higher_than_full_psnr_for_noise():
    refs = _noise_frames(5, seed=2, size=64)
    g = torch.Generator().manual_seed(3)
    errors = FrameErrors()
    for ref in refs:
        rec = (ref.float() + torch.randn(ref.shape, generator=g) * 8).round().clamp(0, 255).to(torch.uint8)
        errors.update(ref, rec)
    full = 10 * math.log10(255**2 * sum(errors.n) / sum(errors.sq))
    assert clip_metrics(errors)["pooled_psnr"] > full + 10  # 64 pixels per pool: ~18 dB less noise


def test_suite_photos_are_held_out_of_the_tiny_recipe():
    recipe = Path(__file__).parents[1] / "train" / "tiny.toml"
    if not recipe.is_file():
        pytest.skip("train/tiny.toml is not in this checkout")
    data = tomllib.loads(recipe.read_text())["data"]["data"]
    trained = {
        p
        for entry in data
        if entry.startswith(("builtin:photos:", "builtin:motion:"))
        for p in entry.split(":", 2)[2].split(",")
    }
    assert trained and not trained & set(HELD_OUT_PHOTOS)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(small_model(torch.float32, seed=11), tmp_path_factory.mktemp("m") / "small")


def test_eval_suite_command_json_and_table(model_dir):
    args = ["eval", "--suite", "motion", "--suite-size", str(SIZE), "--suite-frames", str(FRAMES)]
    res = CliRunner().invoke(main, [*args, "--json", "--model", str(model_dir), "--quiet"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert (d["suite"], d["size"], d["frames"], d["photos"], d["held_out"]) == (
        "motion",
        SIZE,
        FRAMES,
        list(HELD_OUT_PHOTOS),
        True,
    )
    assert "held out" in d["header"] and all(p in d["header"] for p in HELD_OUT_PHOTOS)
    assert [c["clip"] for c in d["clips"]] == [c.name for c in motion_suite(SIZE, FRAMES)]
    has_lpips = "lpips_net" in d
    for c in d["clips"]:
        assert (c["frames"], c["width"], c["height"]) == (FRAMES, SIZE, SIZE)
        for side in (c["model"], c["baseline"]):
            assert len(side["slot_psnr"]) == 4 and len(side["frame_psnr"]) == FRAMES
            assert side["worst_slot"]["psnr"] == min(side["slot_psnr"])
            assert {"psnr", "ssim", "flicker", "pooled_psnr"} <= side.keys() and (
                "lpips" in side
            ) == has_lpips
            assert ("recovery" in side) == (c["category"] in ("cut", "fade"))
        assert c["psnr_gain_db"] == pytest.approx(c["model"]["psnr"] - c["baseline"]["psnr"], abs=2e-3)
    cut = next(c for c in d["clips"] if c["clip"] == "cut_slot3")
    assert cut["transition_slot"] == 3 and cut["model"]["recovery"]["frame"] == cut["transition_frame"]
    summary = d["summary"]
    assert list(summary["categories"]) == list(CATEGORIES) and summary["categories"]["cut"]["clips"] == 4
    for s in (*summary["categories"].values(), summary["overall"]):
        assert {"psnr_gain_db", "pooled_gain_db", "worst_slot_gain_db", "lpips_ratio"} <= s.keys()
        assert len(s["model"]["slot_psnr"]) == 4 and s["model"]["worst_slot"]["slot"] in range(4)
    assert "mean_group_db" in summary["categories"]["cut"]["model"]
    assert "mean_group_shot_db" in summary["categories"]["cut"]["model"]
    table = format_suite_table(d)
    assert table.splitlines()[0] == d["header"] and "cut_slot2" in table and "overall" in table


def test_eval_needs_videos_or_a_suite(model_dir):
    res = CliRunner().invoke(main, ["eval", "--model", str(model_dir)])
    assert res.exit_code == 2 and "--suite" in res.output
    res = CliRunner().invoke(
        main, ["eval", "--suite", "motion", "--suite-frames", "5", "--model", str(model_dir)]
    )
    assert res.exit_code == 2 and "at least 9 frames" in res.output


def test_eval_videos_and_suite_together(model_dir, sample_clip):
    args = ["eval", str(sample_clip), "--frames", "5", "--suite", "motion", "--suite-size", "32"]
    args += ["--suite-frames", "9", "--model", str(model_dir), "--lpips-net", "none", "--quiet"]
    res = CliRunner().invoke(main, [*args, "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["videos"][0]["frames"] == 5 and "overall" in d  # the videos' result, as without --suite
    assert (
        d["suite"]["frames"] == 9
        and len(d["suite"]["clips"]) == 9
        and "lpips" not in d["suite"]["clips"][0]["model"]
    )
