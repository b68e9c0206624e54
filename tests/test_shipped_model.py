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
