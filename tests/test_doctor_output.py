"""vaekit doctor's outputs: the plot, the self-contained HTML page (also in headless Chromium),
and the click command when the CLI has it."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vaekit.doctor import diagnose, load_run, main
from vaekit.doctor.html import render_html
from vaekit.doctor.plot import _panels, render_png
from vaekit.doctor.rules import DEFAULT_RULES

FIX = Path(__file__).parent / "fixtures" / "doctor"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _image(data: bytes):
    import matplotlib.image as mpimg

    return mpimg.imread(io.BytesIO(data), format="png")


def test_plot_panels_follow_the_run():
    run = load_run(FIX / "phase1_healthy")
    names = [p["metric"] for p in _panels(run, diagnose(run), DEFAULT_RULES)]
    # phase 1 only: vaekit logs zeros for the adversarial keys, which are not drawn
    assert names[:4] == ["rec_loss", "perception_loss", "kl_loss", "grad_norm"]
    assert "disc_loss" not in names and "logits" not in names and "val/psnr" in names
    run = load_run(FIX / "phase2_recovered.log")
    names = [p["metric"] for p in _panels(run, diagnose(run), DEFAULT_RULES)]
    assert {"disc_loss", "logits", "d_weight", "total_loss"} <= set(names)


def test_plot_png_is_drawn_with_verdict_colours(tmp_path):
    out = tmp_path / "curves.png"
    rc = main(FIX / "grad_explode.jsonl", plot=out, out=io.StringIO(), err=io.StringIO())
    assert rc == 1
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    img = _image(data)
    h, w = img.shape[:2]
    assert w >= 1000 and h >= 800
    # the red 'act' of the title and the grad_norm panel is in the picture
    rgb = (img[..., :3] * 255).astype(int)
    red = (
        (abs(rgb[..., 0] - 0xC6) < 12) & (abs(rgb[..., 1] - 0x28) < 12) & (abs(rgb[..., 2] - 0x28) < 12)
    ).sum()
    assert red > 200


def test_html_is_self_contained_with_verdicts_and_embedded_plot(tmp_path):
    out = tmp_path / "report.html"
    rc = main(FIX / "phase2_start", html=out, out=io.StringIO(), err=io.StringIO())
    assert rc == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "Overall: WATCH" in page
    rep = diagnose(load_run(FIX / "phase2_start"))
    for f in rep.findings:
        assert f'data-metric="{f.metric}" data-level="{f.level}"' in page
    # nothing fetched from anywhere: no scripts, no links, every src is a data: URI
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "http://" not in page and "https://" not in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,")
    assert base64.b64decode(srcs[0].split(",", 1)[1]).startswith(PNG_MAGIC)
    # text is escaped
    run = load_run(FIX / "phase1_healthy")
    rep = diagnose(run)
    rep.findings[0].message = "<b>x</b> & y"
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in render_html(run, rep, None)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium on this machine (apt-get install chromium)")
def test_html_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    main(FIX / "disc_collapse.jsonl", html=page, out=io.StringIO(), err=io.StringIO())
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={shot}",
        "--window-size=1200,1600",
        page.as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    img = _image(shot.read_bytes())
    assert img.shape[1] == 1200
    rgb = (img[..., :3] * 255).astype(int)
    # the red 'Overall: ACT' banner and the red badges were laid out and painted
    red = (
        (abs(rgb[..., 0] - 0xC6) < 10) & (abs(rgb[..., 1] - 0x28) < 10) & (abs(rgb[..., 2] - 0x28) < 10)
    ).sum()
    assert red > 2000
    # and the embedded plot decoded (a page without it is mostly white)
    assert (rgb.sum(axis=2) < 600).mean() > 0.01


def test_png_render_works_for_every_fixture():
    for name in ("phase1_healthy", "phase2_tail.log", "nan.jsonl"):
        run = load_run(FIX / name)
        assert render_png(run, diagnose(run)).startswith(PNG_MAGIC)


def _doctor_command():
    try:
        from vaekit import cli
    except Exception:  # the CLI module is someone else's and may not import yet
        return None
    group = getattr(cli, "main", None)
    commands = getattr(group, "commands", {})
    return group if "doctor" in commands else None


@pytest.mark.skipif(_doctor_command() is None, reason="vaekit/cli.py has no doctor command yet")
def test_click_command(tmp_path):
    from click.testing import CliRunner

    group = _doctor_command()
    runner = CliRunner()
    res = runner.invoke(group, ["doctor", "--help"])
    assert res.exit_code == 0 and "Exit status" in res.output and "--window" in res.output
    res = runner.invoke(group, ["doctor", str(FIX / "phase2_start")])
    assert res.exit_code == 0 and "Overall: WATCH" in res.output
    plot, page = tmp_path / "p.png", tmp_path / "p.html"
    res = runner.invoke(
        group,
        [
            "doctor",
            str(FIX / "grad_explode.jsonl"),
            "--json",
            "--plot",
            str(plot),
            "--html",
            str(page),
            "--window",
            "10",
        ],
    )
    assert res.exit_code == 1 and plot.read_bytes().startswith(PNG_MAGIC) and page.is_file()
    res = runner.invoke(group, ["doctor", str(tmp_path / "missing")])
    assert res.exit_code == 2
