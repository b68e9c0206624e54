"""Whole training runs of the small model on CPU: bookkeeping, phases, resume, NaN, bad files, export."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from modelkit import SMALL
from trainkit import identity_errors, read_lines, small_model_dir, small_recipe, train_lines, val_lines

from vaekit.cli import main
from vaekit.errors import InputError
from vaekit.model import CausalVideoVAE, VAEConfig, load_model
from vaekit.train import Recipe, TrainingStopped, latest_checkpoint, load_checkpoint, losses, train
from vaekit.train.recipe import tomllib


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return small_model_dir(tmp_path_factory.mktemp("model") / "small")


@pytest.fixture(scope="module")
def full_run(model_dir, tmp_path_factory):
    """8 steps, discriminator from step 4, (random-backbone) perceptual term, validation every 4."""
    recipe = small_recipe(
        model_dir,
        tmp_path_factory.mktemp("runs") / "full",
        max_steps=8,
        disc_start=4,
        perceptual_weight=0.5,
        lpips_net="alex",
        lpips_random_backbone=True,
        val_data=["builtin:photos:coffee"],
        val_clips=2,
        val_every=4,
        save_every=2,
        keep_last=2,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = train(recipe)
    return recipe, summary, [str(w.message) for w in caught]


def test_every_line_has_the_keys_and_holds_the_identities(full_run):
    recipe, summary, _ = full_run
    lines = train_lines(recipe.out)
    assert [r["step"] for r in lines] == list(range(8))
    for r in lines:
        assert set(losses.LOSS_KEYS) <= r.keys() and {"epoch", "phase", "lr", "samples_per_s"} <= r.keys()
        assert r["global_batch_size"] == 2
        assert identity_errors(r, recipe.kl_weight) == []
    assert all(r["perception_loss"] > 0 for r in lines)  # the identities are checked with a real term


def test_the_discriminator_switches_on_at_disc_start(full_run):
    recipe, _, _ = full_run
    lines = train_lines(recipe.out)
    for r in lines[:4]:
        assert r["phase"] == "vae" and r["disc_factor"] == 0.0
        assert r["disc_loss"] == r["g_loss"] == r["d_weight"] == r["logits_real"] == r["logits_fake"] == 0.0
        assert r["total_loss"] == r["vae_loss"]
    for r in lines[4:]:
        assert r["phase"] == "adversarial" and r["disc_factor"] == 1.0
        assert r["disc_loss"] > 0 and r["d_weight"] > 0 and r["logits_real"] != 0 and r["logits_fake"] != 0
        assert r["total_loss"] != r["vae_loss"]


def test_run_folder_holds_recipe_validation_samples_checkpoints_and_the_ema_model(full_run):
    recipe, summary, messages = full_run
    run = Path(recipe.out)
    assert Recipe.from_mapping(tomllib.loads((run / "config.toml").read_text())) == recipe
    vals = val_lines(run)
    assert [v["step"] for v in vals] == [0, 4, 8]
    assert all({"val/psnr", "val/ssim", "val/psnr_ema", "val/ssim_ema"} <= v.keys() for v in vals)
    assert not any("val/lpips" in v for v in vals)  # random backbone: never reported as LPIPS
    assert any("RANDOM backbone" in m for m in messages)
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step_{s:08d}.png" for s in (0, 4, 8)]
    assert list((run / "tb").iterdir())
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000006.pt", "step_00000008.pt"]
    state = load_checkpoint(latest_checkpoint(run))
    assert state["step"] == 8 and set(state) >= {
        "model",
        "disc",
        "opt_g",
        "opt_d",
        "scaler",
        "ema",
        "rng",
        "data",
    }
    exported = load_model(summary["model"])
    for name, tensor in exported.state_dict().items():
        torch.testing.assert_close(tensor, state["ema"]["weights"][name])
    assert not torch.equal(exported.decoder.conv_out.weight, state["model"]["decoder.conv_out.weight"])
    # train() from Python gives the model the run's identity too, never the preset's statistics
    assert exported.config.name == run.name and exported.config.latent_stats_computed is False
    assert exported.config.latents_mean is None


def test_export_model_command_writes_a_loadable_folder(full_run, tmp_path):
    recipe, _, _ = full_run
    result = CliRunner().invoke(main, ["model-from-run", recipe.out, str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    torch.testing.assert_close(
        load_model(tmp_path / "m").decoder.conv_out.weight,
        load_model(f"{recipe.out}/model").decoder.conv_out.weight,
    )


def test_fine_tuning_starts_from_init_weights(full_run, model_dir, tmp_path):
    recipe, summary, _ = full_run
    tuned = small_recipe(model_dir, tmp_path / "tuned", init_weights=summary["model"], max_steps=0)
    start = load_model(train(tuned)["model"])  # no steps: the EMA export is the starting point
    for name, tensor in load_model(summary["model"]).state_dict().items():
        torch.testing.assert_close(start.state_dict()[name], tensor)
    with pytest.raises(InputError, match="another architecture"):
        train(tuned.replace(model="tiny", out=str(tmp_path / "wrong")))


def test_freeze_decoder_fine_tunes_the_encoder_alone(full_run, model_dir, tmp_path):
    _, summary, _ = full_run
    start = load_model(summary["model"]).state_dict()
    kw = dict(init_weights=summary["model"], max_steps=3, disc_start=100, save_every=1)
    tuned = small_recipe(model_dir, tmp_path / "enc", freeze=["decoder"], **kw)
    train(tuned)
    state = load_checkpoint(latest_checkpoint(tuned.out))
    moved = {name for name, t in state["model"].items() if not torch.equal(t, start[name])}
    assert moved and all(name.startswith("encoder.") for name in moved)
    assert len(state["opt_g"]["state"]) == sum(1 for n in start if n.startswith("encoder."))
    lines = train_lines(tuned.out)
    assert all(identity_errors(r, tuned.kl_weight) == [] for r in lines)
    # resuming under another freeze is a one-line error, not a torch traceback
    with pytest.raises(InputError, match="other optimizer groups"):
        train(tuned.replace(freeze=[], max_steps=4), resume=True)
    for bad, match in (
        (dict(freeze=["decoder"], disc_start=1), "phase 1 only"),
        (dict(freeze=["encoder", "decoder"]), "train nothing"),
        (dict(freeze=["head"]), "freeze takes"),
    ):
        with pytest.raises(InputError, match=match):
            small_recipe(model_dir, tmp_path / "bad", **{**kw, **bad})
    with pytest.raises(InputError, match="needs init_weights"):
        small_recipe(model_dir, tmp_path / "bad", freeze=["encoder"])


def test_branch_lr_scale_steps_the_v2_branches_faster(tmp_path):
    """``branch_lr_scale`` gives the motion and group-mixing branches (and only them) its multiple
    of the scheduled lr; resuming under another scale is a one-line error."""
    v2 = tmp_path / "v2"
    v2.mkdir()
    config = VAEConfig(**SMALL, motion_levels=[1], group_mixing=True, resample_kernel=3, lead_in="replicate")
    (v2 / "config.json").write_text(config.to_json())
    recipe = small_recipe(v2, tmp_path / "run", branch_lr_scale=10.0, max_steps=2, disc_start=100, save_every=1)
    train(recipe)
    state = load_checkpoint(latest_checkpoint(recipe.out))
    base, branch = state["opt_g"]["param_groups"]
    assert (base["lr_scale"], branch["lr_scale"]) == (1.0, 10.0)
    assert branch["lr"] == pytest.approx(10 * base["lr"]) and base["lr"] > 0
    names = [n for n, p in CausalVideoVAE(config).named_parameters()]
    branch_names = {n for n in names if ".motion." in n or ".mix." in n}
    assert len(branch["params"]) == len(branch_names) > 0
    assert len(base["params"]) == len(names) - len(branch_names)
    with pytest.raises(InputError, match="other optimizer groups"):
        train(recipe.replace(branch_lr_scale=1.0, max_steps=3), resume=True)
    with pytest.raises(InputError, match="branch_lr_scale must be > 0"):
        small_recipe(v2, tmp_path / "bad", branch_lr_scale=0.0)


def test_a_run_dir_with_checkpoints_needs_resume(full_run):
    recipe, _, _ = full_run
    result = CliRunner().invoke(main, ["train", "--config", f"{recipe.out}/config.toml"])
    assert result.exit_code == 2
    assert "already holds checkpoints; pass --resume" in result.output


def test_resume_continues_exactly(model_dir, tmp_path):
    def recipe(out, steps):
        return small_recipe(model_dir, tmp_path / out, max_steps=steps, disc_start=2, val_every=3,
                            val_data=["builtin:photos:coffee"], val_clips=1)  # fmt: skip

    train(recipe("whole", 6))
    train(recipe("split", 3))
    train(recipe("split", 6), resume=True)
    whole, split = read_lines(tmp_path / "whole"), read_lines(tmp_path / "split")
    for line in whole + split:
        line.pop("samples_per_s", None)
    assert len(whole) == 6 + 3 and split == whole
    a = load_checkpoint(latest_checkpoint(tmp_path / "whole"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "split"))
    for part in ("model", "disc"):
        for name in a[part]:
            assert torch.equal(a[part][name], b[part][name]), name


def test_a_non_finite_loss_skips_the_step(model_dir, tmp_path, monkeypatch):
    real = losses.vae_terms
    calls = []

    def poisoned(*args):
        terms = real(*args)
        calls.append(1)
        if len(calls) == 3:  # step 2
            terms["rec_loss"] = terms["rec_loss"] * float("nan")
            terms["nll_loss"] = terms["rec_loss"] + terms["perception_loss"]
            terms["vae_loss"] = terms["nll_loss"]
        return terms

    monkeypatch.setattr(losses, "vae_terms", poisoned)
    recipe = small_recipe(model_dir, tmp_path / "nan", max_steps=5, save_every=1, keep_last=10)
    with pytest.warns(UserWarning, match="step 2: non-finite total_loss; the update was skipped"):
        summary = train(recipe)
    assert summary["step"] == 5 and not summary["interrupted"]
    assert [r["step"] for r in train_lines(recipe.out)] == [0, 1, 3, 4]
    before = load_checkpoint(tmp_path / "nan/checkpoints/step_00000002.pt")
    after = load_checkpoint(tmp_path / "nan/checkpoints/step_00000003.pt")
    assert after["step"] == 3
    for name in before["model"]:  # the skipped step changed no weight
        assert torch.equal(before["model"][name], after["model"][name]), name


def test_non_finite_steps_in_a_row_stop_the_run_with_a_checkpoint(model_dir, tmp_path, monkeypatch):
    real = losses.vae_terms

    def infinite(*args):
        terms = real(*args)
        return {**terms, "vae_loss": terms["vae_loss"] * float("inf")}

    monkeypatch.setattr(losses, "vae_terms", infinite)
    recipe = small_recipe(model_dir, tmp_path / "diverged", max_steps=10, max_bad_steps=2)
    with (
        pytest.warns(UserWarning),
        pytest.raises(TrainingStopped, match="2 non-finite steps in a row .*checkpoint saved"),
    ):
        train(recipe)
    state = load_checkpoint(latest_checkpoint(recipe.out))
    assert state["step"] == 1 and state["bad_steps"] == 2  # resuming retries step 1


def test_an_unreadable_file_is_skipped_with_one_warning(
    model_dir, tmp_path, sample_clip, text_as_mp4, truncated_mp4
):
    data = tmp_path / "videos"
    data.mkdir()
    for src in (sample_clip, text_as_mp4, truncated_mp4):
        shutil.copy(src, data / src.name)
    recipe = small_recipe(model_dir, tmp_path / "run", data=[str(data)], max_steps=4, num_workers=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = train(recipe)
    assert summary["step"] == 4 and len(train_lines(recipe.out)) == 4
    skipped = [str(w.message) for w in caught if "skipping" in str(w.message)]
    assert len([m for m in skipped if "notes.mp4" in m]) == 1
    assert len([m for m in skipped if "truncated.mp4" in m]) == 1


def test_grad_checkpointing_gives_the_same_steps(model_dir, tmp_path):
    train(small_recipe(model_dir, tmp_path / "plain", max_steps=2, disc_start=1))
    train(small_recipe(model_dir, tmp_path / "ckpt", max_steps=2, disc_start=1, grad_checkpointing=True))
    for a, b in zip(train_lines(tmp_path / "plain"), train_lines(tmp_path / "ckpt"), strict=True):
        for key in losses.LOSS_KEYS:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key


def test_temporal_parts_are_logged_after_the_loss_keys_and_the_doctor_knows_them(model_dir, tmp_path):
    from vaekit.doctor import diagnose, load_run
    from vaekit.logschema import REC_PART_KEYS

    recipe = small_recipe(model_dir, tmp_path / "temporal", max_steps=3, disc_start=2,
                          temporal_weight=0.5, pooled_weight=0.25)  # fmt: skip
    train(recipe)
    lines = train_lines(recipe.out)
    assert [r["step"] for r in lines] == [0, 1, 2]
    for r in lines:
        assert list(r)[-2:] == list(REC_PART_KEYS)  # after the loss keys, in schema order
        assert r["temporal_loss"] > 0
        assert r["pooled_loss"] > 0
        assert r["rec_loss"] > r["temporal_loss"] + r["pooled_loss"]  # the pixel term is in there too
        assert identity_errors(r, recipe.kl_weight) == []
    plain = small_recipe(model_dir, tmp_path / "plain", max_steps=1)
    train(plain)
    assert not set(REC_PART_KEYS) & train_lines(plain.out)[0].keys()  # off: not logged at all
    report = diagnose(load_run(recipe.out))
    assert report.summary["unrecognised_keys"] == {}


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_runs_keep_the_identities(model_dir, tmp_path, precision):
    recipe = small_recipe(
        model_dir, tmp_path / precision, max_steps=3, disc_start=1, mixed_precision=precision
    )
    train(recipe)
    lines = train_lines(recipe.out)
    assert lines and all(identity_errors(r, recipe.kl_weight) == [] for r in lines)


def _rec_loss_halves(recipe) -> None:
    train(recipe)
    rec = [r["rec_loss"] for r in train_lines(recipe.out)]
    late = sorted(rec[-5:])[2]  # median of the last five lines: single batches are noisy
    assert late < 0.5 * rec[0], rec


def test_rec_loss_halves_within_50_steps_at_64px(model_dir, tmp_path):
    _rec_loss_halves(
        small_recipe(
            model_dir,
            tmp_path / "fit",
            resolution=64,
            max_steps=50,
            lr=2e-3,
            disc_start=10_000,
            log_every=5,
            num_workers=1,
        )  # fmt: skip
    )


@pytest.mark.slow
def test_rec_loss_of_the_tiny_preset_halves_within_300_steps_at_64px(tmp_path):
    _rec_loss_halves(
        small_recipe(
            "tiny",
            tmp_path / "fit",
            resolution=64,
            num_frames=9,
            max_steps=300,
            lr=5e-4,
            disc_start=10_000,
            log_every=10,
            num_workers=1,
        )  # fmt: skip
    )


def test_live_and_offline_doctor_use_the_rules_file_the_run_names(model_dir, tmp_path):
    rules = tmp_path / "strict.toml"
    rules.write_text("[grad_norm]\nwatch = 1e-9\nact = 2e-9\n")  # any real gradient is 'act'
    recipe = small_recipe(model_dir, tmp_path / "run", disc_start=100, doctor_rules=str(rules))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(recipe)
    assert any("doctor:" in str(w.message) and "grad_norm" in str(w.message) for w in caught)
    # vaekit doctor reads the same file from the run's config.toml: exit 1 (act) without --rules
    result = CliRunner().invoke(main, ["doctor", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    # the run keeps the file's absolute path; once it is gone, the doctor says so and uses defaults
    assert f'doctor_rules = "{rules.resolve()}"' in (tmp_path / "run" / "config.toml").read_text()
    rules.unlink()
    result = CliRunner().invoke(main, ["doctor", str(tmp_path / "run")])
    assert result.exit_code == 0 and "which is gone; judging with the default thresholds" in result.stderr
    default = small_recipe(model_dir, tmp_path / "plain", disc_start=100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(default)
    assert not any("grad_norm" in str(w.message) for w in caught)


def test_bad_doctor_rules_and_a_doctor_table_in_a_recipe_are_one_line_errors(model_dir, tmp_path):
    rules = tmp_path / "bad.toml"
    rules.write_text("[grad_norm]\nwatch = 30\nact = 20\n")
    with pytest.raises(InputError, match="doctor_rules: rules: grad_norm_watch"):
        train(small_recipe(model_dir, tmp_path / "run", doctor_rules=str(rules)))
    with pytest.raises(InputError, match=r"a \[doctor\] table does not belong in a recipe"):
        Recipe.from_mapping({"data": ["x"], "doctor": {"grad_norm": {"watch": 5.0}}})
