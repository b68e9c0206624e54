"""vaekit doctor: parsing, phases, bookkeeping, health rules, the command function.

The fixtures in tests/fixtures/doctor/ re-create the runs that the seed document reads (see
make_fixtures.py there); the verdicts asserted here are the seed's verdicts on them.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaekit.doctor import DoctorError, diagnose, load_run, main, run_from_records
from vaekit.doctor.analyze import detect_phases
from vaekit.doctor.checks import Context, check_bookkeeping
from vaekit.doctor.logs import make_record, normalize_key, parse_text_line, quantum_of
from vaekit.doctor.rules import DEFAULT_RULES, load_rules
from vaekit.doctor.stats import trend

FIX = Path(__file__).parent / "fixtures" / "doctor"


def report_of(name: str, **kw):
    return diagnose(load_run(FIX / name), **kw)


def run_main(*args, **kw) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(*args, out=out, err=err, **kw)
    return rc, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------------------------
# fixtures


def test_fixtures_are_what_the_generator_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_fixtures", FIX / "make_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    written = mod.build(tmp_path)
    assert len(written) >= 12
    for p in written:
        rel = p.relative_to(tmp_path)
        assert (FIX / rel).read_bytes() == p.read_bytes(), f"{rel} differs: rerun make_fixtures.py"


# ----------------------------------------------------------------------------------------------
# the seed's runs


def test_phase1_run_is_healthy_with_kl_silenced():
    rep = report_of("phase1_healthy")
    assert rep.overall == "ok"
    assert rep.phases["disc_start"] is None and rep.phases["phase2"] is None
    assert rep.phases["recipe_disc_start"] == 2000
    kl = rep.finding("kl_loss", "vae")
    assert kl.level == "ok" and kl.evidence["silenced"] is True
    assert kl.evidence["kl_loss_first"] == pytest.approx(37881) and kl.evidence[
        "kl_loss_last"
    ] == pytest.approx(36706)
    assert "silenced" in kl.message and "1e-12" in kl.message
    g = rep.finding("grad_norm", "vae")
    assert g.level == "ok"
    assert 3.0 <= g.evidence["recent_min"] and g.evidence["phase_max"] == pytest.approx(5.3)
    assert g.evidence["pixelloss_weight"] == 10 and g.evidence["batch_size"] == 1
    assert g.evidence["clipped_fraction"] == 1.0
    assert (
        "before clipping" in g.message
        and "pixelloss_weight = 10" in g.message
        and "batch_size = 1" in g.message
    )
    rec = rep.finding("rec_loss", "vae")
    assert rec.level == "ok" and rec.evidence["first"] == 0.0011 and rec.evidence["last"] == 0.0015
    p = rep.finding("perception_loss", "vae")
    assert p.level == "ok" and p.evidence["first"] == 0.0294 and p.evidence["last"] == 0.032
    assert rep.finding("bookkeeping").level == "ok"
    # the seed's nll = vae = 0.0434 line, and its 0.0015 + 0.0199 = 0.0214 line
    run = load_run(FIX / "phase1_healthy")
    by_step = {r.step: r.values for r in run.train}
    assert by_step[320]["nll_loss"] == pytest.approx(0.0434) and by_step[320]["vae_loss"] == pytest.approx(
        0.0434
    )
    assert by_step[480]["nll_loss"] == pytest.approx(0.0214)
    phases = rep.finding("phases")
    assert phases.level == "ok" and "2000" in phases.advice
    assert any("2000" in s for s in rep.next_steps())


def test_bad_run_is_flagged_kl_dominated_without_a_recipe():
    rep = report_of("kl_dominated.jsonl")
    assert rep.summary["recipe"] == {}
    kl = rep.finding("kl_loss", "vae")
    assert kl.level == "act" and kl.evidence["dominant"] is True
    assert kl.evidence["kl_weight_source"] == "inferred"
    assert kl.evidence["kl_weight"] == pytest.approx(1e-4, rel=1e-3)
    assert kl.evidence["kl_share_of_vae_loss"] > 0.99
    assert kl.evidence["kl_term"] == pytest.approx(3.4, abs=0.05)
    assert "dominates" in kl.message
    assert rep.overall == "act"


def test_phase2_start_is_watch_and_expected():
    rep = report_of("phase2_start")
    assert rep.phases["disc_start"] == 2000
    assert rep.overall == "watch"
    rec = rep.finding("rec_loss", "adversarial")
    assert rec.level == "watch" and rec.evidence["expected"] is True
    assert rec.evidence["peak"] == 0.0205 and rec.evidence["peak_step"] == 2080
    assert rec.evidence["phase1_level"] == pytest.approx(0.0033, abs=2e-4)
    assert rec.evidence["spike_ratio"] == pytest.approx(6.2, abs=0.3)
    assert "expected" in rec.message and "2080" in rec.message
    g = rep.finding("grad_norm", "adversarial")
    assert g.level == "ok" and g.evidence["recent_median"] == pytest.approx(6.0, abs=0.5)
    assert g.evidence["phase1_median"] == pytest.approx(2.3, abs=0.2)
    dw = rep.finding("d_weight", "adversarial")
    assert dw.level == "ok" and dw.evidence["first"] == 0.3999
    assert dw.evidence["peak"] == 6.5966 and dw.evidence["peak_step"] == 2280
    t = rep.finding("total_loss", "adversarial")
    assert t.level == "ok" and t.evidence["negative_lines"] > 0 and "normal" in t.message
    d = rep.finding("disc_loss", "adversarial")
    assert d.level == "ok" and d.evidence["recent_median"] == pytest.approx(1.0, abs=0.05)
    lg = rep.finding("logits", "adversarial")
    assert lg.level == "ok"
    assert lg.evidence["logits_real"] == pytest.approx(0.03, abs=0.006)
    assert lg.evidence["logits_fake"] == pytest.approx(0.02, abs=0.006)
    assert rep.finding("bookkeeping").level == "ok"
    assert rep.next_steps()[0].startswith("Nothing to change yet")
    # the seed's total_loss of -0.0295 is one of the lines, and it adds up
    run = load_run(FIX / "phase2_start")
    line = next(r.values for r in run.train if r.step == 2380)
    assert line["total_loss"] == pytest.approx(-0.0295, abs=5e-5)
    assert line["g_loss"] == pytest.approx(-0.0679)
    rc, out, _ = run_main(FIX / "phase2_start")
    assert rc == 0 and "Overall: WATCH" in out and "(expected)" in out


def test_recovered_text_log_in_another_trainers_format():
    run = load_run(FIX / "phase2_recovered.log")
    assert run.fmt == "text"
    # "Epoch 1 step 80" -> global step 2080; the recipe comes from the argument dump
    assert [r.step for r in run.train][:1] == [1500] and run.train[-1].step == 3800
    assert any("restart at every epoch" in n for n in run.notes)
    assert run.recipe()["kl_weight"] == 1e-12 and run.recipe()["pixelloss_weight"] == 10
    rep = diagnose(run)
    assert rep.phases["disc_start"] == 2000 and rep.phases["disc_start_source"] == "disc_factor"
    assert rep.overall == "ok"
    rec = rep.finding("rec_loss", "adversarial")
    assert rec.level == "ok" and rec.evidence["peak"] == 0.0205
    assert 300 <= rec.evidence["recovery_steps"] <= 1000
    assert f"{rec.evidence['recovery_steps']} steps after disc_start" in rec.message
    assert rec.evidence["last"] == 0.005
    p = rep.finding("perception_loss", "adversarial")
    assert p.evidence["last"] == 0.0439
    assert next(r.values for r in run.train if r.step == 3600)["perception_loss"] == 0.0549
    lg = rep.finding("logits", "adversarial")
    assert lg.level == "ok" and lg.evidence["logits_real"] == pytest.approx(-0.02, abs=0.006)
    g = rep.finding("grad_norm", "adversarial")
    assert g.level == "ok" and g.evidence["phase_max"] > 6.0 and g.evidence["recent_median"] < 4.0
    assert "come down" in g.message


def test_dict_repr_log_with_prefixes_and_no_recipe():
    run = load_run(FIX / "phase2_tail.log")
    assert [r.step for r in run.train] == list(range(3400, 3801, 20))
    assert "rec_loss" in run.train[0].values and "logvar" in run.train[0].values  # unknown keys kept
    rep = diagnose(run)
    assert rep.phases["disc_start"] is None and rep.phases["phase1"] is None
    assert rep.phases["phase2"]["lines"] == 21
    assert rep.overall == "ok"
    kl = rep.finding("kl_loss", "adversarial")
    assert kl.evidence["silenced"] and kl.evidence["kl_weight_source"] == "silenced"
    assert 0 < kl.evidence["kl_weight_upper_bound"] < 1e-8
    assert "no phase-1 lines" in rep.finding("rec_loss", "adversarial").message


@pytest.mark.parametrize(
    "name, metrics",
    [
        ("grad_explode.jsonl", ["grad_norm"]),
        ("disc_collapse.jsonl", ["disc_loss", "logits"]),
        ("nan.jsonl", ["nonfinite"]),
        ("rec_never_recovers", ["rec_loss"]),
        ("broken_bookkeeping", ["bookkeeping"]),
    ],
)
def test_runs_that_need_action(name, metrics):
    rep = report_of(name)
    assert rep.overall == "act"
    acts = {f.metric for f in rep.findings if f.level == "act"}
    assert set(metrics) <= acts, acts
    for m in metrics:
        f = rep.finding(m, "adversarial") or rep.finding(m)
        assert f.advice, f"{m} should say what to do"
    rc, out, err = run_main(FIX / name, json_out=True)
    assert rc == 1 and err == ""
    assert json.loads(out)["overall"] == "act"


def test_act_messages_carry_their_numbers():
    g = report_of("grad_explode.jsonl").finding("grad_norm", "adversarial")
    assert g.evidence["recent_max"] > 20 and f"{g.evidence['recent_max']:.3g}" in g.message
    d = report_of("disc_collapse.jsonl").finding("disc_loss", "adversarial")
    assert d.evidence["recent_median"] < 0.1 and "Collapsed" in d.message
    r = report_of("rec_never_recovers").finding("rec_loss", "adversarial")
    assert r.evidence["steps_since_disc_start"] == 2200 and "not recovered" in r.message
    b = report_of("broken_bookkeeping").finding("bookkeeping")
    assert b.evidence["identities"]["nll"]["violations"] == 33
    assert b.evidence["identities"]["vae"]["violations"] == 33
    assert "not applied" in b.message
    n = report_of("nan.jsonl").finding("nonfinite")
    assert n.evidence["keys"]["grad_norm"] == 3 and n.evidence["first_step"] == 2360


def test_rec_loss_is_expected_then_act_as_time_passes():
    """The same stuck rec_loss is 'watch, expected' early in phase 2 and 'act' past the deadline."""
    run = load_run(FIX / "rec_never_recovers")
    early = run_from_records([dict(r.values, step=r.step) for r in run.train if r.step <= 2600], run.config)
    f = diagnose(early).finding("rec_loss", "adversarial")
    assert f.level == "watch" and f.evidence["expected"]
    assert diagnose(run).finding("rec_loss", "adversarial").level == "act"


# ----------------------------------------------------------------------------------------------
# JSON


def test_json_output_schema_and_strictness():
    rc, out, _ = run_main(FIX / "nan.jsonl", json_out=True)
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert set(data) >= {"overall", "phases", "findings"}
    assert data["phases"]["disc_start"] == 2000
    for f in data["findings"]:
        assert set(f) >= {"metric", "level", "message", "evidence"}
        assert f["level"] in ("ok", "watch", "act") and f["message"]
    rc, out, _ = run_main(FIX / "phase1_healthy", json_out=True)
    assert json.loads(out)["phases"]["disc_start"] is None and rc == 0


# ----------------------------------------------------------------------------------------------
# parsing


def test_parse_text_line_forms():
    raw, tok = parse_text_line("Epoch 1 step 80: rec_loss: 0.0205, perception_loss: 0.03, kl_loss=36706.2")
    assert raw == {"epoch": 1, "step": 80, "rec_loss": 0.0205, "perception_loss": 0.03, "kl_loss": 36706.2}
    raw, _ = parse_text_line("{'train/rec_loss': tensor(0.0205, device='cuda:0'), 'train/g_loss': -0.0679}")
    assert raw == {"train/rec_loss": 0.0205, "train/g_loss": -0.0679}
    raw, _ = parse_text_line("it 12/300 [00:10<01:00] loss=nan, grad_norm=inf lr=1e-05 info: ready")
    assert math.isnan(raw["loss"]) and math.isinf(raw["grad_norm"]) and raw["lr"] == 1e-5
    assert "info" not in raw
    assert quantum_of("0.0434") == pytest.approx(5e-5) and quantum_of("1e-12") == pytest.approx(5e-13)
    assert quantum_of("37881") == 0.5 and quantum_of("1.5e-3") == pytest.approx(5e-5)


def test_key_normalisation():
    assert normalize_key("train/rec_loss") == ("rec_loss", False)
    assert normalize_key("train/p_loss") == ("perception_loss", False)
    assert normalize_key("perceptual_loss") == ("perception_loss", False)
    assert normalize_key("val/psnr") == ("val/psnr", True)
    assert normalize_key("psnr_ema") == ("val/psnr_ema", True)
    recs = make_record({"kind": "val", "step": 400, "psnr": 31.0})
    assert len(recs) == 1 and recs[0].kind == "val" and recs[0].values == {"val/psnr": 31.0}


def test_resumed_run_duplicate_steps_are_merged(tmp_path):
    lines = [{"step": s, "rec_loss": 0.01, "grad_norm": 1.0} for s in (0, 20, 40)]
    lines += [
        {"step": 20, "rec_loss": 0.02, "grad_norm": 2.0},
        {"step": 40, "rec_loss": 0.03, "grad_norm": 3.0},
    ]
    p = tmp_path / "metrics.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    run = load_run(p)
    assert [r.step for r in run.train] == [0, 20, 40]
    assert [r.values["rec_loss"] for r in run.train] == [0.01, 0.02, 0.03]
    assert any("more than once" in n for n in run.notes) and any("not JSON" in n for n in run.notes)


def test_phase_detection_variants():
    # disc_loss first appearing (no disc_factor, no phase field)
    recs = [{"step": s, "rec_loss": 0.01} for s in range(0, 100, 10)]
    recs += [{"step": s, "rec_loss": 0.02, "disc_loss": 1.0} for s in range(100, 200, 10)]
    run = run_from_records(recs)
    ph = detect_phases(run.train)
    assert (ph.disc_start, ph.source, ph.split) == (100, "disc_loss", 10)
    # disc_factor switching on between two log lines: the recipe's disc_start is exact
    recs = [
        {"step": s, "rec_loss": 0.01, "disc_factor": 0.0 if s < 2000 else 1.0} for s in range(1950, 2100, 25)
    ]
    run = run_from_records(recs)
    assert detect_phases(run.train, {"disc_start": 1990}).disc_start == 1990
    assert detect_phases(run.train, {}).disc_start == 2000


def test_discriminator_that_never_starts_is_act():
    recs = [
        {"step": s, "rec_loss": 0.01, "perception_loss": 0.03, "nll_loss": 0.04, "disc_factor": 0.0}
        for s in range(0, 3001, 100)
    ]
    rep = diagnose(run_from_records(recs, {"loss": {"disc_start": 2000}}))
    f = rep.finding("phases")
    assert f.level == "act" and "3000" in f.message and rep.overall == "act"


# ----------------------------------------------------------------------------------------------
# bookkeeping: printed rounding is not a violation, a real mismatch is


_vals = st.floats(min_value=1e-4, max_value=0.5, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    rec=_vals,
    perc=_vals,
    kl=st.floats(1e3, 1e5),
    dw=st.floats(0.01, 10),
    g=st.floats(-0.5, 0.5),
    d=st.integers(3, 6),
)
def test_rounded_identities_pass_and_real_mismatches_fail(rec, perc, kl, dw, g, d):
    kw = 1e-6
    rec, perc, kl, dw, g = round(rec, d), round(perc, d), round(kl, 1), round(dw, d), round(g, d)
    nll = rec + perc
    vae = nll + kw * kl
    total = vae + dw * g

    def line(nll_shift=0.0):
        fmt = f"{{:.{d}f}}"
        return (
            f"step 10: rec_loss: {fmt.format(rec)}, perception_loss: {fmt.format(perc)}, "
            f"nll_loss: {fmt.format(nll + nll_shift)}, kl_loss: {kl:.1f}, vae_loss: {fmt.format(vae + nll_shift)}, "
            f"d_weight: {fmt.format(dw)}, disc_factor: 1.0, g_loss: {fmt.format(g)}, total_loss: {fmt.format(total)}"
        )

    ctx = Context(DEFAULT_RULES, 20, {"kl_weight": kw})
    ok = make_record(*_parsed(line()))
    assert check_bookkeeping(ok, ctx).level == "ok"
    # beyond the printed rounding (3 half-units) and the float tolerance (1e-4 relative)
    shift = math.ceil(max(4 * 10.0**-d, 3e-4 * nll) * 10**d) * 10.0**-d
    bad = make_record(*_parsed(line(nll_shift=shift)))
    f = check_bookkeeping(bad, ctx)
    assert f.level == "act" and f.evidence["identities"]["nll"]["violations"] == 1


def _parsed(text):
    raw, tokens = parse_text_line(text)
    return raw, 1, tokens


# ----------------------------------------------------------------------------------------------
# rules


def test_trend_words():
    assert trend([1, 1, 1, 1, 2, 2, 2, 2]).label == "rising"
    assert trend([2, 2, 2, 2, 1, 1, 1, 1]).label == "falling"
    assert trend([1, 1.02, 0.99, 1.01, 1.0, 1.03]).label == "flat"
    assert trend([1, 2]).label == "too short"


def test_rules_toml_override_changes_the_verdict(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text("[grad_norm]\nwatch = 4.0\nact = 6.5\n")
    assert load_rules(rules).grad_norm_act == 6.5
    rc, out, _ = run_main(FIX / "phase2_start", json_out=True, rules_path=rules)
    data = json.loads(out)
    g = next(f for f in data["findings"] if f["metric"] == "grad_norm" and f["phase"] == "adversarial")
    assert g["level"] == "act" and rc == 1
    # a [doctor] table in the run's own config.toml applies too
    flat = tmp_path / "flat.toml"
    flat.write_text("[doctor]\nperception_ceiling = 0.02\n")
    assert load_rules(flat).perception_ceiling == 0.02


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[grad_norm]\nwatchh = 3\n", "unknown rule"),
        ("[grad_norm]\nwatch = 30\n", "must be below"),
        ("[disc_loss]\nlow = 'x'\n", "must be a number"),
        ("[grad_norm\n", "cannot read"),
    ],
)
def test_bad_rules_file_is_exit_2(tmp_path, text, needle):
    rules = tmp_path / "rules.toml"
    rules.write_text(text)
    rc, out, err = run_main(FIX / "phase1_healthy", rules_path=rules)
    assert rc == 2 and out == "" and needle in err and err.count("\n") == 1


# ----------------------------------------------------------------------------------------------
# errors


def test_errors_are_one_line_and_exit_2(tmp_path):
    rc, out, err = run_main(tmp_path / "missing")
    assert rc == 2 and out == "" and err.startswith("error: no such run") and err.count("\n") == 1
    (tmp_path / "empty").mkdir()
    rc, _, err = run_main(tmp_path / "empty")
    assert rc == 2 and "no metrics.jsonl" in err
    junk = tmp_path / "notes.txt"
    junk.write_text("hello world\nthis is not a log\nlr: 0.1\n")
    rc, _, err = run_main(junk)
    assert rc == 2 and "no training metrics" in err
    rc, _, err = run_main(FIX / "phase1_healthy", window=1)
    assert rc == 2 and "--window" in err
    with pytest.raises(DoctorError):
        load_run(tmp_path / "missing")


def test_unwritable_output_is_exit_3(tmp_path):
    rc, out, err = run_main(FIX / "phase1_healthy", plot=tmp_path / "no" / "such" / "dir" / "x.png")
    assert rc == 3 and "does not exist" in err and "Overall" in out


def test_window_changes_what_counts_as_recent():
    wide = report_of("phase2_recovered.log", window=200).finding("grad_norm", "adversarial")
    narrow = report_of("phase2_recovered.log", window=10).finding("grad_norm", "adversarial")
    assert wide.evidence["lines"] == 91 and narrow.evidence["lines"] == 10
    assert wide.evidence["recent_max"] > narrow.evidence["recent_max"]


def test_package_import_stays_light():
    code = (
        "import sys, vaekit.doctor, vaekit.doctor.live; "
        "bad = [m for m in ('torch', 'matplotlib', 'numpy') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


# ----------------------------------------------------------------------------------------------
# a real run folder written by `vaekit train` (tiny preset, 60 steps, disc_start 30, CPU)


def test_reads_a_real_vaekit_train_run_folder():
    run = load_run(FIX / "vaekit_tiny_run")
    assert run.fmt == "jsonl" and run.config_source.endswith("config.toml")
    assert len(run.train) == 30 and all(r.quantum == {} for r in run.train)  # full precision
    assert run.recipe()["disc_start"] == 30 and run.recipe()["lpips_random_backbone"] is True
    rep = diagnose(run)
    assert rep.phases["disc_start"] == 30 and rep.phases["disc_start_source"] == "phase"
    assert rep.phases["phase1"]["lines"] == 15 and rep.phases["phase2"]["lines"] == 15
    book = rep.finding("bookkeeping")
    assert book.level == "ok"
    ids = book.evidence["identities"]
    assert ids["nll"]["checked"] == ids["vae"]["checked"] == ids["total"]["checked"] == 30
    assert ids["disc_bound"]["checked"] == 15
    # a random LPIPS backbone is never judged as LPIPS
    for phase in ("vae", "adversarial"):
        p = rep.finding("perception_loss", phase)
        assert p.level == "ok" and p.evidence["random_backbone"] and "not LPIPS" in p.message
    assert rep.finding("kl_loss", "vae").evidence["kl_weight_source"] == "recipe"


def test_doctor_table_in_the_runs_own_config(tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(FIX / "phase1_healthy", run)
    assert run_main(run)[0] == 0
    with (run / "config.toml").open("a") as fh:
        fh.write("\n[doctor.grad_norm]\nwatch = 3.0\nact = 4.0\n")
    rc, out, _ = run_main(run, json_out=True)
    g = next(f for f in json.loads(out)["findings"] if f["metric"] == "grad_norm")
    assert rc == 1 and g["level"] == "act"


def test_perceptual_loss_switched_off_is_said_plainly():
    recs = [
        {
            "step": s,
            "rec_loss": 0.1,
            "perception_loss": 0.0,
            "nll_loss": 0.1,
            "kl_loss": 100.0,
            "vae_loss": 0.1,
        }
        for s in range(0, 200, 20)
    ]
    report = diagnose(run_from_records(recs, {"perceptual_weight": 0.0, "kl_weight": 0.0}))
    (f,) = [f for f in report.findings if f.metric == "perception_loss"]
    assert f.level == "ok" and f.message.startswith("Off: perceptual_weight = 0")
    report = diagnose(run_from_records(recs, {"perceptual_weight": 1.0, "kl_weight": 0.0}))
    (f,) = [f for f in report.findings if f.metric == "perception_loss"]
    assert not f.message.startswith("Off")
