"""The live doctor: the trainer's per-log-step API, one warning per incident."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from vaekit.doctor import diagnose, load_run
from vaekit.doctor.checks import LOG_CHECKS
from vaekit.doctor.live import LiveDoctor

FIX = Path(__file__).parent / "fixtures" / "doctor"
RECIPE = {
    "loss": {"kl_weight": 1e-12, "pixelloss_weight": 10.0, "disc_start": 2000},
    "train": {"clip_grad": 1.0},
}


def lines(name: str) -> list[dict]:
    return [json.loads(x) for x in (FIX / name).read_text().splitlines() if x.strip()]


def feed(doctor: LiveDoctor, records: list[dict]) -> list[tuple[int, object]]:
    out = []
    for r in records:
        for f in doctor.update(r):
            out.append((r.get("step"), f))
    return out


def healthy(step: int, grad: float = 2.0, **kw) -> dict:
    rec, perc, kl = 0.0033, 0.03, 36000.0
    d = {
        "step": step,
        "phase": "vae",
        "rec_loss": rec,
        "perception_loss": perc,
        "kl_loss": kl,
        "nll_loss": rec + perc,
        "vae_loss": rec + perc + 1e-12 * kl,
        "d_weight": 0.0,
        "disc_factor": 0.0,
        "g_loss": 0.0,
        "total_loss": rec + perc + 1e-12 * kl,
        "grad_norm": grad,
    }
    d.update(kw)
    return d


def test_phase2_start_warns_once_that_the_spike_is_expected():
    doc = LiveDoctor(config=RECIPE)
    events = feed(doc, lines("phase2_start/metrics.jsonl"))
    metrics = [f.metric for _, f in events]
    assert metrics.count("rec_loss") == 1, events
    step, f = next(e for e in events if e[1].metric == "rec_loss")
    assert f.level == "watch" and f.evidence["expected"] and 2000 <= step <= 2100
    assert "grad_norm" not in metrics and "bookkeeping" not in metrics
    assert doc.disc_start == 2000 and doc.phase == "adversarial"
    assert doc.levels["grad_norm"] == "ok" and doc.levels["disc_loss"] == "ok"


def test_escalation_warns_again_but_repetition_does_not():
    doc = LiveDoctor(config=RECIPE)
    events = feed(doc, lines("grad_explode.jsonl"))
    grads = [(s, f.level) for s, f in events if f.metric == "grad_norm"]
    assert [lv for _, lv in grads] == ["watch", "act"], grads
    assert grads[0][0] < grads[1][0]
    assert "above 20" in next(f for _, f in events if f.metric == "grad_norm" and f.level == "act").message


def test_incident_rearms_after_the_metric_is_healthy_again():
    doc = LiveDoctor(config=RECIPE, window=4)
    seq = [healthy(s) for s in range(0, 100, 10)]
    seq += [healthy(100, grad=25.0), healthy(110, grad=26.0)]  # one incident
    seq += [healthy(s) for s in range(120, 220, 10)]  # healthy again: re-armed
    seq += [healthy(220, grad=30.0)]  # a new incident
    events = feed(doc, seq)
    got = [(s, f.level) for s, f in events if f.metric == "grad_norm"]
    assert got == [(100, "act"), (220, "act")]


def test_nan_burst_is_one_incident_and_bookkeeping_is_checked_per_line():
    doc = LiveDoctor(config=RECIPE)
    events = feed(doc, lines("nan.jsonl"))
    nan = [(s, f) for s, f in events if f.metric == "nonfinite"]
    assert len(nan) == 1 and nan[0][0] == 2360 and nan[0][1].level == "act"
    bad = healthy(3000, nll_loss=0.05)  # nll != rec + perception
    events = doc.update(bad)
    assert [f.metric for f in events] == ["bookkeeping"] and events[0].level == "act"


@pytest.mark.parametrize(
    "name, metric", [("disc_collapse.jsonl", "disc_loss"), ("rec_never_recovers/metrics.jsonl", "rec_loss")]
)
def test_live_ends_where_the_offline_report_ends(name, metric):
    doc = LiveDoctor(config=RECIPE)
    feed(doc, lines(name))
    offline = diagnose(load_run(FIX / name))
    assert doc.levels[metric] == offline.finding(metric, "adversarial").level == "act"


def test_live_judges_every_rule_the_offline_report_does_but_the_whole_log_ones():
    # the live doctor loops over the check groups: a rule added to one is judged live too
    name = "phase2_start/metrics.jsonl"  # training and validation lines, both phases
    doc = LiveDoctor(config=RECIPE)
    feed(doc, lines(name))
    offline = {f.metric for f in diagnose(load_run(FIX / name)).findings}
    whole_log = {c.name for c in LOG_CHECKS}
    assert offline - whole_log - set(doc.levels) == set()
    assert "val/psnr" in doc.levels and "bookkeeping" in doc.levels


def test_kl_dominated_warns_without_a_recipe():
    doc = LiveDoctor()
    events = feed(doc, lines("kl_dominated.jsonl"))
    kl = [f for _, f in events if f.metric == "kl_loss"]
    assert len(kl) == 1 and kl[0].level == "act"
    assert "[act] kl_loss" in str(kl[0]) and "Next:" in str(kl[0])


def test_update_cost_stays_bounded_on_a_long_run():
    doc = LiveDoctor(config=RECIPE)
    t0 = time.perf_counter()
    for s in range(0, 20000, 10):  # 2,000 log steps
        doc.update(healthy(s, grad=2.0 + (s % 70) / 100))
    per_update = (time.perf_counter() - t0) / 2000
    assert per_update < 0.005, f"{per_update * 1e3:.2f} ms per update"
    assert len(doc._lines["vae"]) == doc.history == 160
