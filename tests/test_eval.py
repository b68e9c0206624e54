"""vaekit eval: metrics, the equal-floats baseline, and the command."""

import json
import math

import pytest
import torch
from click.testing import CliRunner
from modelkit import small_model

from vaekit.cli import main
from vaekit.evaluate import Flicker, baseline_factor, baseline_frame, evaluate
from vaekit.model import save_model
from vaekit.runtime import TorchBackend
from vaekit.runtime.jobs import StreamOptions


def test_baseline_keeps_as_many_floats_as_the_latent():
    # 17 frames of 256x256 -> 16 x 5 x 32 x 32 latent floats
    f = baseline_factor(17, 256, 256, 16 * 5 * 32 * 32)
    assert math.isclose((256 / f) ** 2 * 3 * 17, 16 * 5 * 32 * 32, rel_tol=1e-9)
    frame = torch.randint(0, 256, (1, 3, 40, 60)).float()
    assert torch.equal(baseline_frame(frame, 1.0), frame)  # factor 1 is lossless
    smooth = torch.linspace(0, 255, 60).expand(1, 3, 40, 60)
    assert (baseline_frame(smooth, 4.0) - smooth).abs().mean() < 2  # a ramp survives downscaling


def test_flicker_measures_changes_not_errors():
    f = Flicker()
    for t in range(4):
        ref = torch.full((1, 3, 4, 4), float(t * 10))
        f.update(ref, ref + 5)  # a constant error does not flicker
    assert f.value == 0
    g = Flicker()
    for t in range(3):
        ref = torch.zeros(1, 3, 4, 4)
        g.update(ref, ref + (5 if t % 2 else 0))
    assert g.value == 5


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(small_model(torch.float32, seed=11), tmp_path_factory.mktemp("m") / "small")


def test_evaluate_rows_and_pooled_overall(model_dir, sample_clip, odd_clip):
    import vaekit

    backend = TorchBackend(vaekit.load(model_dir))
    r = evaluate(backend, [sample_clip, odd_clip], StreamOptions(), max_frames=9)
    a, b = r["videos"]
    assert (a["frames"], a["width"], a["height"]) == (9, 256, 256) and (b["width"], b["height"]) == (250, 150)
    for row in (a, b, r["overall"]):
        assert 0 < row["baseline"]["psnr"] < 60 and row["psnr_gain_db"] == pytest.approx(
            row["psnr"] - row["baseline"]["psnr"], abs=2e-3
        )
    lo, hi = sorted([a["psnr"], b["psnr"]])
    assert lo - 1e-6 <= r["overall"]["psnr"] <= hi + 1e-6  # pooled MSE lies between the videos'
    assert "lpips" not in r["overall"]  # no real backbone weights here: no LPIPS number at all


def test_eval_command_table_and_json(model_dir, sample_clip):
    runner = CliRunner()
    res = runner.invoke(main, ["eval", str(sample_clip), "--model", str(model_dir), "--frames", "5"])
    assert res.exit_code == 0, res.output
    assert "overall" in res.stdout and "PSNR" in res.stdout
    res = runner.invoke(
        main, ["eval", str(sample_clip), "--model", str(model_dir), "--frames", "5", "--json"]
    )
    d = json.loads(res.stdout)
    assert d["videos"][0]["frames"] == 5 and d["videos"][0]["baseline"]["downscale"] > 1
