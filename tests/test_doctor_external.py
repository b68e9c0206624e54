"""vaekit doctor on other trainers' logs: real logs people posted (tests/fixtures/doctor/external/,
each with a NAME.source.md saying where it is from and what an expert reads in it), and the
formats, names, positions, loss types and conventions they use.

The verdicts asserted for the external fixtures are the ones their source notes give.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from vaekit.doctor import diagnose, load_run, main
from vaekit.doctor.aliases import DEFAULT_TABLE, AliasTable
from vaekit.doctor.conventions import Conventions, infer_gan_loss
from vaekit.doctor.formats.text import scan_line

EXT = Path(__file__).parent / "fixtures" / "doctor" / "external"

# name -> what must be read and judged: overall verdict, trainer, unit, training lines, first and
# last position, keys that must be read (vaekit names), keys that must be listed as unrecognised
EXPECTED = {
    "monai_2d_ldm_autoencoderkl.log": dict(
        overall="ok", trainer="monai", gan="lsgan", unit="epoch", lines=100, first=0, last=99,
        keys={"rec_loss", "g_loss", "disc_loss"}, val_lines=10, disc_start=11,
    ),
    "monai_2d_vqgan.log": dict(
        overall="ok", trainer="monai", gan="lsgan", unit="epoch", lines=100, first=0, last=99,
        keys={"rec_loss", "g_loss", "disc_loss"}, val_lines=0,
    ),
    "monai_2d_autoencoderkl.log": dict(
        overall="ok", trainer="monai", gan="lsgan", unit="epoch", lines=100, first=0, last=99,
        keys={"rec_loss", "g_loss", "disc_loss"},
    ),
    "monai_3d_ldm_autoencoderkl.log": dict(
        overall="watch", trainer="monai", gan="lsgan", unit="epoch", lines=100, first=0, last=99,
        keys={"rec_loss", "g_loss", "disc_loss"}, disc_start=6,
    ),
    "monai_3d_autoencoderkl_narrow_bar.log": dict(
        overall="ok", trainer="monai", unit="epoch", lines=100, first=0, last=99, keys={"rec_loss"},
    ),
    "monai_maisi_vae_one_epoch.log": dict(
        overall="insufficient", trainer="monai", unit="epoch", lines=1, first=0, last=0,
        keys={"rec_loss", "kl_loss", "perception_loss", "vae_loss"}, val_lines=1,
    ),
    "monai_maisi_vae_issue1926.log": dict(
        overall="insufficient", trainer="monai", unit="epoch", lines=4, first=201, last=204,
        keys={"rec_loss", "kl_loss", "perception_loss", "vae_loss"},
    ),
    "llamagen_vqgan_epoch7.log": dict(
        overall="insufficient", trainer="llamagen", gan="hinge", unit="epoch", lines=1, first=7, last=7,
        keys={"rec_loss", "perception_loss", "g_loss", "disc_loss", "d_weight", "logits_real", "logits_fake"},
    ),
    "lightningdit_vavae_progress_bar.log": dict(
        overall="insufficient", trainer="ldm", unit="step", lines=6, first=1, last=6,
        keys={"total_loss", "disc_loss"},
    ),
    "stablesr_lightning_metrics.csv": dict(
        overall="insufficient", trainer="unknown", unit="step", lines=13, first=49, last=649,
        keys={"loss"}, unrecognised={"train/loss_simple_step", "train/loss_vlb_step"},
    ),
}


def test_every_external_fixture_has_a_source_note_and_an_expectation():
    logs = sorted(p.name for p in EXT.iterdir() if not p.name.endswith(".source.md"))
    assert logs == sorted(EXPECTED)
    assert 8 <= len(logs) <= 12
    for name in logs:
        note = (EXT / (Path(name).stem + ".source.md")).read_text()
        assert "Source:" in note and "Expert reading" in note and "Trimmed" in note, name
    assert sum(p.stat().st_size for p in EXT.iterdir()) < 1_000_000


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_external_log_is_read_and_judged(name):
    exp = EXPECTED[name]
    run = load_run(EXT / name)
    assert run.unit == exp["unit"]
    assert len(run.train) == exp["lines"]
    assert (run.train[0].step, run.train[-1].step) == (exp["first"], exp["last"])
    read = {k for r in run.train for k in r.values}
    assert exp["keys"] <= read, exp["keys"] - read
    if "val_lines" in exp:
        assert len(run.val) == exp["val_lines"]
    rep = diagnose(run)
    assert rep.overall == exp["overall"], rep.to_text()
    conv = rep.summary["conventions"]
    assert conv["trainer"] == exp["trainer"]
    if "gan" in exp:
        assert conv["gan_loss"] == exp["gan"]
    if "disc_start" in exp:
        assert rep.phases["disc_start"] == exp["disc_start"]
    assert set(rep.summary["unrecognised_keys"]) == exp.get("unrecognised", set())
    text = rep.to_text()
    assert f"Overall: {exp['overall'].upper()}" in text
    assert f"positions are {exp['unit']}s" in text
    if exp["overall"] == "insufficient":
        assert rep.insufficient and rep.insufficient["needed"]
        assert "what would be needed" in rep.next_steps()[0]


def test_monai_lsgan_discriminator_is_judged_against_its_own_chance_level():
    healthy = diagnose(load_run(EXT / "monai_2d_ldm_autoencoderkl.log")).finding("disc_loss", "adversarial")
    assert healthy.level == "ok" and healthy.evidence["chance_level"] == 0.25
    assert healthy.evidence["band"] == pytest.approx([0.125, 0.375])
    assert "least-squares" in healthy.message and "epoch" not in healthy.evidence
    winning = diagnose(load_run(EXT / "monai_3d_ldm_autoencoderkl.log")).finding("disc_loss", "adversarial")
    assert winning.level == "watch" and winning.evidence["recent_median"] < 0.125
    assert "since epoch" in winning.message  # positions said in the log's unit


def test_monai_warm_up_phase1_level_is_the_end_of_phase1_not_its_median():
    rec = diagnose(load_run(EXT / "monai_2d_ldm_autoencoderkl.log")).finding("rec_loss", "adversarial")
    # phase 1 falls 0.107 -> 0.0252; its median (0.0306) would be the level of epoch 6
    assert rec.evidence["phase1_level"] == pytest.approx(0.0266)
    assert rec.level == "ok" and "No real spike" in rec.message


def test_validation_lines_are_not_training_lines():
    run = load_run(EXT / "monai_2d_ldm_autoencoderkl.log")
    assert [r.values for r in run.val][:2] == [{"val/loss": 0.0273}, {"val/loss": 0.0220}]
    assert [r.step for r in run.val][:2] == [10, 20]
    assert not any("loss" in r.values for r in run.train)
    maisi = load_run(EXT / "monai_maisi_vae_one_epoch.log")
    assert maisi.val[0].values["val/rec_loss"] == pytest.approx(0.1676610678434372)
    assert maisi.train[0].values["rec_loss"] == pytest.approx(0.3500463513657451)


def test_llamagen_generator_and_discriminator_lines_are_one_step_and_unscaled():
    run = load_run(EXT / "llamagen_vqgan_epoch7.log")
    (r,) = run.train
    assert r.values["rec_loss"] == 0.0441 and r.values["disc_loss"] == 0.4980
    assert r.values["logits_fake"] == -0.1396 and r.values["disc_weight"] == 0.5
    d = diagnose(run).finding("disc_loss", "adversarial")
    assert d.evidence["recent_median"] == pytest.approx(0.996) and d.evidence["divided_by"] == ["disc_weight"]
    p = diagnose(run).finding("perception_loss", "adversarial")
    assert p.level == "ok" and p.evidence["judged_by"] == "trend" and "ceiling" not in p.evidence


def test_cut_off_progress_bars_are_said():
    run = load_run(EXT / "monai_3d_autoencoderkl_narrow_bar.log")
    assert any("cut off at the terminal width" in n for n in run.notes)
    assert {k for r in run.train for k in r.values} == {"rec_loss"}


def test_insufficient_is_in_the_json_and_exits_0():
    out, err = io.StringIO(), io.StringIO()
    rc = main(EXT / "stablesr_lightning_metrics.csv", json_out=True, out=out, err=err)
    data = json.loads(out.getvalue())
    assert rc == 0 and data["overall"] == "insufficient"
    assert "no metric the rules judge" in data["insufficient"]["reason"]
    assert set(data["unrecognised_keys"]) == {"train/loss_simple_step", "train/loss_vlb_step"}
    assert any("[aliases]" in n for n in data["insufficient"]["needed"])


def test_aliases_from_the_rules_file_map_unknown_keys(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[aliases]\nrec_loss = ["loss_simple"]\n')
    out, err = io.StringIO(), io.StringIO()
    rc = main(EXT / "stablesr_lightning_metrics.csv", json_out=True, rules_path=rules, out=out, err=err)
    data = json.loads(out.getvalue())
    assert rc == 0, err.getvalue()
    assert data["overall"] != "insufficient"
    assert set(data["unrecognised_keys"]) == {"train/loss_vlb_step"}
    assert data["summary"]["keys"]["train/loss_simple_step"] == "rec_loss"
    bad = tmp_path / "bad.toml"
    bad.write_text('[aliases]\nnot_a_metric = ["x"]\n')
    rc = main(EXT / "stablesr_lightning_metrics.csv", rules_path=bad, out=io.StringIO(), err=(e := io.StringIO()))
    assert rc == 2 and "unknown metric 'not_a_metric'" in e.getvalue() and e.getvalue().count("\n") == 1


# ----------------------------------------------------------------------------------------------
# names


@pytest.mark.parametrize(
    "raw, name",
    [
        ("recons_loss", "rec_loss"), ("recon_loss", "rec_loss"), ("reconstruction", "rec_loss"),
        ("reconstruction_loss", "rec_loss"), ("generator_loss", "g_loss"), ("generator_adv_loss", "g_loss"),
        ("gen_loss", "g_loss"), ("gan_loss", "g_loss"), ("discriminator_loss", "disc_loss"),
        ("discriminator_adv_loss", "disc_loss"), ("discloss", "disc_loss"), ("aeloss", "total_loss"),
        ("disc_adaptive_weight", "d_weight"), ("discriminator_factor", "disc_factor"), ("kld", "kl_loss"),
        ("p_loss", "perception_loss"), ("perceptual", "perception_loss"), ("perceptual_loss", "perception_loss"),
        ("train/aeloss_step", "total_loss"), ("train/rec_loss_step", "rec_loss"), ("_step", "step"),
        ("Run 3 - train/discloss", "disc_loss"), ("train_vae_loss", "vae_loss"),
    ],
)
def test_alias_table(raw, name):
    kn = DEFAULT_TABLE.normalize(raw)
    assert kn.known and kn.name == name and not kn.val


def test_key_places_validation_epoch_means_and_training_psnr():
    assert DEFAULT_TABLE.normalize("val_rec_loss").full == "val/rec_loss"
    assert DEFAULT_TABLE.normalize("val/rec_loss_epoch").epoch_mean
    assert DEFAULT_TABLE.normalize("psnr").val  # a bare psnr is a validation metric...
    assert not DEFAULT_TABLE.normalize("train/psnr").val  # ...unless a training prefix says otherwise
    assert not DEFAULT_TABLE.normalize("loss_simple").known
    assert AliasTable({"rec_loss": ["loss_simple"]}).normalize("train/loss_simple_step").name == "rec_loss"


def test_a_training_bars_psnr_stays_training(tmp_path):
    p = tmp_path / "bar.log"
    p.write_text(
        "".join(
            f"Epoch {e}: 100%|#####| 50/50 [00:10<00:00, 5.0it/s, rec_loss={0.05 - e * 0.001:.4f}, psnr={25 + e}]\n"
            for e in range(8)
        )
        + "Validation: psnr: 31.5\n"
    )
    run = load_run(p)
    assert [r.values["psnr"] for r in run.train][:2] == [25, 26]
    assert [r.values for r in run.val] == [{"val/psnr": 31.5}]


# ----------------------------------------------------------------------------------------------
# formats


def test_terminal_capture_with_carriage_return_refreshes(tmp_path):
    # a terminal capture keeps every refresh of an epoch's bar on one line, separated by \r
    epochs = []
    for e in range(2):
        renders = [
            f"Epoch {e}:  {n * 10}%|##  | {n * 10}/100 [00:0{n}<00:09, 9.9it/s, v_num=0, train/rec_loss_step={0.2 - e * 0.05 - n * 0.001:.3f}]"
            for n in range(1, 11)
        ]
        epochs.append("\r".join(renders))
    p = tmp_path / "capture.log"
    p.write_text("\n".join(epochs) + "\n")
    run = load_run(p)
    assert len(run.train) == 20 and run.train[0].step == 10 and run.train[-1].step == 200
    assert run.train[-1].values["rec_loss"] == pytest.approx(0.14)


def test_metric_logger_lines():
    # the shape of MAE / DeiT's MetricLogger (no real tokenizer log of this shape was found)
    line = "Epoch: [1]  [200/1251]  eta: 0:05:01  lr: 0.000051  loss: 0.5200 (0.5500)  rec_loss: 0.0410 (0.0450)  time: 0.34  data: 0.0001  max mem: 22193"
    tl = scan_line(line, 1, DEFAULT_TABLE)
    assert (tl.epoch, tl.batch, tl.batches) == (1, 200, 1251)
    assert tl.values == {"lr": 0.000051, "loss": 0.52, "rec_loss": 0.041, "time": 0.34, "data": 0.0001, "mem": 22193}
    assert "eta" not in tl.values  # a clock is not a number


def test_metric_logger_log_gets_global_steps(tmp_path):
    lines = []
    for e in range(2):
        for n in (0, 400, 800, 1200):
            lines.append(f"Epoch: [{e}]  [{n:4d}/1251]  eta: 0:01:00  lr: 0.0001  rec_loss: {0.1 - e * 0.01 - n * 1e-5:.4f} (0.09)  time: 0.3")
        lines.append(f"Epoch: [{e}] Total time: 0:07:00 (0.3 s / it)")
        lines.append(f"Averaged stats: lr: 0.0001  rec_loss: {0.09 - e * 0.01:.4f} (0.09)")
    p = tmp_path / "log.txt"
    p.write_text("\n".join(lines) + "\n")
    run = load_run(p)
    assert [r.step for r in run.train] == [0, 400, 800, 1200, 1251, 1651, 2051, 2451]
    assert run.unit == "step" and run.steps_per_epoch == 1251
    assert sum(run.keys.set_aside.values()) == 2  # the two "Averaged stats" lines


def test_semicolon_train_and_valid_lines(tmp_path):
    lines = [
        f"Train: epoch {e}; reconstruction: {0.2 - e * 0.01:.3f}; generator: 0.7; discriminator: 0.69;" for e in range(6)
    ]
    lines.append("Valid: epoch 5; reconstruction: 0.160;")
    p = tmp_path / "train.log"
    p.write_text("\n".join(lines) + "\n")
    run = load_run(p)
    assert run.unit == "epoch" and len(run.train) == 6
    assert run.train[0].values == {"rec_loss": 0.2, "g_loss": 0.7, "disc_loss": 0.69}
    assert [r.values for r in run.val] == [{"val/rec_loss": 0.16}]


def test_generator_discriminator_lines_merge_with_their_step_line(tmp_path):
    lines = []
    for s in range(1, 7):
        lines.append(f"(Generator) rec_loss: 0.05{s}, perceptual_loss: 0.2, generator_adv_loss: 0.01, disc_adaptive_weight: 0.9, disc_weight: 0.5")
        lines.append("(Discriminator) discriminator_adv_loss: 0.49, disc_weight: 0.5, logits_real: 0.02, logits_fake: -0.01")
        lines.append(f"(step={s * 100:07d}) Train Loss: 0.3{s}, Train Steps/Sec: 1.20")
    p = tmp_path / "vq.log"
    p.write_text("\n".join(lines) + "\n")
    run = load_run(p)
    assert [r.step for r in run.train] == [100, 200, 300, 400, 500, 600]
    r = run.train[2]
    assert r.values["rec_loss"] == 0.053 and r.values["disc_loss"] == 0.49 and r.values["loss"] == 0.33
    assert run.keys.unrecognised == {}


def test_lightning_metrics_csv_keeps_step_rows_and_sets_epoch_rows_aside(tmp_path):
    rows = ["epoch,step,train/rec_loss_step,train/discloss_step,train/rec_loss_epoch,val/rec_loss"]
    for s in range(0, 120, 10):
        rows.append(f"{s // 40},{s},{0.1 - s * 1e-4:.4f},0.0,,")
        if s % 40 == 30:
            rows.append(f"{s // 40},{s},,,{0.09:.4f},")
            rows.append(f"{s // 40},{s},,,,{0.095:.4f}")
    p = tmp_path / "metrics.csv"
    p.write_text("\n".join(rows) + "\n")
    run = load_run(p)
    assert run.fmt == "csv" and len(run.train) == 12 and [r.step for r in run.train][:3] == [0, 10, 20]
    assert all("rec_loss" in r.values for r in run.train)
    assert len(run.val) == 3 and run.val[0].values == {"val/rec_loss": 0.095}
    assert any("epoch-mean" in k for k in run.keys.set_aside)


def test_wandb_export_csv(tmp_path):
    rows = ['"Step","sunny-3 - train/rec_loss","sunny-3 - train/rec_loss__MIN","sunny-3 - train/rec_loss__MAX","sunny-3 - train/kld"']
    rows += [f"{s},{0.05 - s * 1e-5:.5f},0.01,0.09,{300 + s}" for s in range(0, 1000, 100)]
    p = tmp_path / "wandb_export.csv"
    p.write_text("\n".join(rows) + "\n")
    run = load_run(p)
    assert [r.step for r in run.train][-1] == 900
    assert set(run.train[0].values) == {"rec_loss", "kl_loss"}
    assert any("__MIN/__MAX" in n for n in run.notes)


def test_tensorboard_event_file(tmp_path):
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    logdir = tmp_path / "tb"
    w = torch_tb.SummaryWriter(str(logdir))
    for s in range(0, 600, 20):
        w.add_scalar("train/rec_loss", 0.05 * math.exp(-s / 300) + 0.01, s)
        w.add_scalar("train/p_loss", 0.3, s)
        w.add_scalar("train/discloss", 0.0 if s < 300 else 1.0, s)
        w.add_scalar("train/g_loss", 0.0 if s < 300 else -0.05, s)
        w.add_scalar("train/mystery_term", 1.0, s)
    w.close()
    run = load_run(logdir)
    assert run.fmt == "tensorboard" and run.unit == "step"
    assert [r.step for r in run.train][:3] == [0, 20, 40] and run.train[-1].step == 580
    assert {"rec_loss", "perception_loss", "disc_loss", "g_loss"} <= set(run.train[-1].values)
    rep = diagnose(run)
    assert rep.phases["disc_start"] == 300
    assert set(rep.summary["unrecognised_keys"]) == {"train/mystery_term"}
    assert "train/mystery_term" in rep.to_text()
    # the event file itself is read too
    (event,) = list(logdir.glob("*tfevents*"))
    assert len(load_run(event).train) == 30


# ----------------------------------------------------------------------------------------------
# loss types and trainer conventions


def test_gan_loss_from_values():
    c = Conventions(trainer="unknown")
    infer_gan_loss(c, None, [0.26, 0.24, 0.25], [0.3, 0.28])
    assert (c.gan_loss, c.gan_source) == ("lsgan", "values")
    c = Conventions(trainer="unknown")
    infer_gan_loss(c, None, [0.70, 0.68], [0.7, 0.71])
    assert c.gan_loss == "vanilla" and c.chance == pytest.approx(math.log(2))
    c = Conventions(trainer="unknown")
    infer_gan_loss(c, None, [0.3, 0.3], [-0.4, 0.1])
    assert c.gan_loss == "hinge" and "negative" in c.gan_why
    c = Conventions(trainer="unknown")
    infer_gan_loss(c, "vanilla", [0.25], [0.3])
    assert (c.gan_loss, c.gan_source) == ("vanilla", "recipe")


def _adv_log(tmp_path, name, body):
    p = tmp_path / name
    p.write_text("\n".join(body(s) for s in range(0, 2000, 50)) + "\n")
    return diagnose(load_run(p))


def test_vanilla_discriminator_at_ln2_is_healthy_not_low(tmp_path):
    rep = _adv_log(
        tmp_path, "bce.log",
        lambda s: f"step {s}: rec_loss: 0.02, g_loss: 0.70, disc_loss: {0.0 if s < 500 else 0.69:.2f}",
    )
    d = rep.finding("disc_loss", "adversarial")
    assert rep.summary["conventions"]["gan_loss"] == "vanilla"
    assert d.level == "ok" and d.evidence["band"] == pytest.approx([0.3466, 1.0397], rel=1e-3)


def test_taming_nll_holds_perception_inside_rec(tmp_path):
    rep = _adv_log(
        tmp_path, "taming.log",
        lambda s: f"{{'train/total_loss': 0.31, 'train/quant_loss': 0.01, 'train/nll_loss': 0.3, "
        f"'train/rec_loss': 0.3, 'train/p_loss': 0.25, 'train/d_weight': 0.8, 'train/disc_factor': 0.0, "
        f"'train/g_loss': 0.0, 'global_step': {s}}}",
    )
    b = rep.finding("bookkeeping")
    assert rep.summary["conventions"]["trainer"] == "taming"
    assert b.level == "ok" and "taming convention" in b.message
    assert b.evidence["identities"]["nll_folded"] == {"checked": 40, "violations": 0}


def test_wfvae_summed_nll_and_d_weight_at_its_clamp_are_normal(tmp_path):
    rep = _adv_log(
        tmp_path, "wfvae.log",
        lambda s: f"step {s}: train/rec_loss: 0.03, train/nll_loss: {0.03 * 196608:.1f}, train/kl_loss: 90000, "
        f"train/wavelet_loss: 0.2, train/d_weight: {0.0 if s < 500 else 500000.0}, "
        f"train/g_loss: {0.0 if s < 500 else -0.1}, train/disc_loss: {0.0 if s < 500 else 1.0}",
    )
    assert rep.summary["conventions"]["trainer"] == "wfvae"
    b = rep.finding("bookkeeping")
    assert b.level == "ok" and "sum over pixels" in b.message and "about 196,6" in b.message
    dw = rep.finding("d_weight", "adversarial")
    assert dw.level == "ok" and "maintainers call this normal" in dw.message


def test_another_trainers_identity_failure_is_a_question_not_an_act(tmp_path):
    rep = _adv_log(
        tmp_path, "other.log",
        lambda s: f"step {s}: rec_loss: 0.02, perceptual_loss: 0.1, nll_loss: 0.5",
    )
    b = rep.finding("bookkeeping")
    assert b.level == "watch" and "not vaekit's" in b.message
    assert rep.finding("perception_loss", "vae").evidence["judged_by"] == "trend"


def test_html_page_says_insufficient_and_lists_unrecognised_keys(tmp_path):
    from vaekit.doctor.html import write_html

    run = load_run(EXT / "stablesr_lightning_metrics.csv")
    page = write_html(run, diagnose(run), tmp_path / "r.html", plot=False).read_text()
    assert 'class="verdict insufficient"' in page and "Too little to judge" in page
    assert 'id="unrecognised"' in page and "train/loss_vlb_step (13)" in page
