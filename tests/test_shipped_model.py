"""The trained default model that ships in models/tiny: it loads, it is what its card says, and it
beats the equal-floats baseline on real content it never saw in training."""

from __future__ import annotations

import hashlib
import re
import warnings
from fractions import Fraction

import pytest
import torch
from click.testing import CliRunner

import vaekit
from vaekit.cli import main
from vaekit.evaluate import evaluate_video
from vaekit.io.synthetic import write_sample_clip
from vaekit.model import DEFAULT_MODEL, UntrainedWeightsWarning, resolve_model_dir
from vaekit.runtime import TorchBackend
from vaekit.runtime.jobs import StreamOptions

FOLDER = resolve_model_dir("tiny")
WEIGHTS = FOLDER / "model.safetensors"
CARD = FOLDER / "README.md"
# Over the equal-floats baseline on every held-out photo. The issue asks for 3 dB; the shipped
# weights give 6.4-7.5 dB on these clips, so 5 dB pins them: a worse model cannot ship unnoticed.
MARGIN_DB = 5.0


@pytest.fixture(scope="module")
def vae():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedWeightsWarning)
        return vaekit.load("tiny")


def _held_out(folder, photo):
    """Photos held out of train/tiny.toml; odd size, not 1 + 4k frames, a camera path the trainer never used."""
    return write_sample_clip(
        folder / f"{photo}.mp4",
        photo=photo,
        num_frames=14,
        width=200,
        height=136,
        fps=Fraction(25),
        seed=4242,
    )


@pytest.fixture(scope="module", params=["coffee", "grass", "grace_hopper"])
def held_out_clip(request, tmp_path_factory):
    return _held_out(tmp_path_factory.mktemp("shipped"), request.param)


def test_tiny_is_the_default_and_ships_trained_weights(vae):
    assert DEFAULT_MODEL == "tiny"
    assert vae.trained is True
    assert WEIGHTS.stat().st_size <= 30 * 2**20


def test_card_states_the_sha256_of_the_shipped_file():
    stated = re.findall(r"sha256 of `model\.safetensors`: `([0-9a-f]{64})`", CARD.read_text())
    assert stated, "models/tiny/README.md states no sha256"
    assert hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() == stated[0]


def test_shipped_normalisation_makes_real_latents_standard(vae, held_out_clip):
    from vaekit.io.video import iter_frames
    from vaekit.runtime.jobs import frames_to_tensor

    frames = list(iter_frames(held_out_clip))[:13]
    x = torch.cat([frames_to_tensor(f) for f in frames], dim=2)
    with torch.no_grad():
        z = vae.normalize(vae.encode(x).mode())
    assert abs(z.mean().item()) < 0.5
    assert 0.5 < z.std().item() < 2.0


def test_held_out_round_trip_beats_the_equal_floats_baseline(vae, held_out_clip):
    row, _, _ = evaluate_video(TorchBackend(vae), held_out_clip, StreamOptions())
    base = row["baseline"]
    assert row["psnr_gain_db"] >= MARGIN_DB, row
    assert row["ssim"] > base["ssim"], row
    assert row["flicker"] <= base["flicker"], row


def test_cli_uses_the_trained_default_without_a_warning(held_out_clip, tmp_path):
    result = CliRunner().invoke(main, ["roundtrip", str(held_out_clip), "-o", str(tmp_path / "rt.mp4")])
    assert result.exit_code == 0, result.output
    assert "untrained" not in result.output.lower() and "meaningless" not in result.output
    assert (tmp_path / "rt.mp4").is_file()


# -- the motion suite (v2) -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def suite_128(vae):
    from vaekit.eval_suite import run_suite

    return run_suite(TorchBackend(vae), StreamOptions(), size=128, frames=17)


@pytest.fixture(scope="module")
def suite_128_v1():
    from vaekit.eval_suite import run_suite

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_suite(TorchBackend(vaekit.load("tiny-v1")), StreamOptions(), size=128, frames=17)


def test_v2_is_a_v2_model_and_v1_still_ships(vae):
    assert not vae.config.is_v1 and vae.config.lead_in == "replicate"
    v1 = vaekit.load("tiny-v1")
    assert v1.config.is_v1 and v1.trained


def test_motion_suite_beats_the_baseline_overall_and_on_cuts(suite_128):
    """Not on every category: the fast pan is still below the baseline (models/tiny/README.md)."""
    summary = suite_128["summary"]
    assert summary["overall"]["psnr_gain_db"] >= 2.0, summary["overall"]
    assert summary["categories"]["cut"]["psnr_gain_db"] >= 2.0, summary["categories"]["cut"]


def test_motion_suite_v2_beats_v1_where_v1_was_weakest(suite_128, suite_128_v1):
    """Cuts and the overall score: what v2 was made for (numbers in models/tiny/README.md)."""
    new, old = suite_128["summary"], suite_128_v1["summary"]
    for key in ("cut", "overall"):
        side = new["overall"] if key == "overall" else new["categories"][key]
        ref = old["overall"] if key == "overall" else old["categories"][key]
        assert side["model"]["psnr"] > ref["model"]["psnr"], (key, side["model"]["psnr"], ref["model"]["psnr"])
