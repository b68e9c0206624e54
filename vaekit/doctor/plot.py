"""Draw a run's curves with matplotlib (Agg): the phase boundary, healthy bands, the verdicts.

matplotlib is imported inside the functions, so ``import vaekit.doctor`` stays fast.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_write_bytes
from .logs import Record, Run
from .report import Report, display_name
from .rules import DEFAULT_RULES, Rules
from .stats import num, rolling_median

_MAX_POINTS = 2000  # per curve; longer series are binned
LEVEL_COLORS = {"ok": "#2e7d32", "watch": "#e08e00", "act": "#c62828", "insufficient": "#616161"}
_GOOD = "#4caf50"
_WARN = "#ffb300"
_BAD = "#e53935"


def _series(records: list[Record], key: str) -> tuple[list[int], list[float], list[int]]:
    steps, vals, bad = [], [], []
    for r in records:
        v = r.values.get(key)
        if v is None:
            continue
        if math.isfinite(v):
            steps.append(int(r.step or 0))
            vals.append(v)
        else:
            bad.append(int(r.step or 0))
    return steps, vals, bad


def _level(report: Report, metric: str) -> str:
    levels = [f.level for f in report.findings if f.metric == metric]
    order = {"ok": 0, "watch": 1, "act": 2}
    return max(levels, key=lambda lv: order[lv], default="ok") if levels else ""


def _panels(run: Run, report: Report, rules: Rules) -> list[dict[str, Any]]:
    recipe = run.recipe()
    pw = recipe.get("perceptual_weight") or 1.0
    conv = report.summary.get("conventions") or {}
    chance = float(conv.get("chance_level", 1.0))  # the disc_loss band follows the GAN loss
    lpips_mean = conv.get("perception_is_mean_lpips", True) and not recipe.get("lpips_random_backbone")
    panels: list[dict[str, Any]] = [
        {"metric": "rec_loss", "keys": ["rec_loss"], "title": "rec_loss (pixel)", "log": True},
        {
            "metric": "perception_loss",
            "keys": ["perception_loss"],
            "title": "perception_loss (random backbone: not LPIPS)"
            if recipe.get("lpips_random_backbone")
            else "perception_loss (LPIPS)"
            if lpips_mean
            else "perception_loss (judged by trend)",
            "bands": [(0, rules.perception_ceiling * pw, _GOOD)] if lpips_mean else [],
            "lines": [(rules.perception_ceiling * pw, "ceiling")] if lpips_mean else [],
        },
        {"metric": "kl_loss", "keys": ["kl_loss"], "title": "kl_loss"},
        {
            "metric": "grad_norm",
            "keys": ["grad_norm"],
            "title": "grad_norm (before clipping)",
            "bands": [
                (0, rules.grad_norm_watch, _GOOD),
                (rules.grad_norm_watch, rules.grad_norm_act, _WARN),
                (rules.grad_norm_act, math.inf, _BAD),
            ],
            "lines": [(recipe["clip_grad"], "clip_grad")] if recipe.get("clip_grad") else [],
        },
        {
            "metric": "disc_loss",
            "keys": ["disc_loss"],
            "title": "disc_loss",
            "phase2": True,
            "bands": [
                (0, rules.disc_loss_collapse * chance, _BAD),
                (rules.disc_loss_low * chance, rules.disc_loss_high * chance, _GOOD),
            ],
        },
        {
            "metric": "logits",
            "keys": ["logits_real", "logits_fake"],
            "title": "logits_real vs logits_fake",
            "phase2": True,
        },
        {
            "metric": "d_weight",
            "keys": ["d_weight"],
            "title": "d_weight (adaptive)",
            "phase2": True,
            "log": True,
        },
        {
            "metric": "total_loss",
            "keys": ["total_loss", "g_loss"],
            "title": "total_loss and g_loss",
            "phase2": True,
            "lines": [(0.0, "")],
        },
    ]
    out = []
    ds = report.phases.get("disc_start")
    for p in panels:
        data = {}
        for key in p["keys"]:
            recs = run.train
            if p.get("phase2") and ds is not None:
                recs = [r for r in run.train if (r.step or 0) >= ds]
            s, v, bad = _series(recs, key)
            if p.get("phase2") and key in ("d_weight", "disc_loss", "logits_real", "logits_fake", "g_loss"):
                if v and max(abs(x) for x in v) == 0:
                    continue  # only zeros: phase 1 of a vaekit log
            if s or bad:
                data[key] = (s, v, bad)
        if data:
            p["data"] = data
            out.append(p)
    val_keys = [k for k in ("val/psnr", "val/psnr_ema") if any(k in r.values for r in run.val)]
    if val_keys:
        data = {k: _series(run.val, k) for k in val_keys}
        out.append({"metric": "val/psnr", "keys": val_keys, "title": "validation PSNR (dB)", "data": data})
    return out


def render_png(run: Run, report: Report, rules: Rules | None = None, window: int = 20) -> bytes:
    """The figure as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda y, _pos: num(float(y)))

    rules = rules or DEFAULT_RULES
    panels = _panels(run, report, rules)
    ncols = 2
    nrows = max(1, math.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(14, 3.1 * nrows + 0.9), squeeze=False)
    ds = report.phases.get("disc_start")
    k = max(1, window // 4)
    colors = ["#1565c0", "#ad1457", "#6a1b9a", "#00838f"]
    first = min(int(r.step or 0) for r in run.train)
    last = max(int(r.step or 0) for r in run.train)
    for ax, p in zip(axes.flat, panels):
        level = _level(report, p["metric"])
        allv: list[float] = []
        for i, (key, (s, v, bad)) in enumerate(p["data"].items()):
            c = colors[i % len(colors)]
            if v:
                allv.extend(v)
                if len(v) > _MAX_POINTS:
                    # long runs: the median of each of ~_MAX_POINTS bins, over a thinned raw line
                    b = math.ceil(len(v) / _MAX_POINTS)
                    n = len(v) // b * b
                    sa, va = np.asarray(s[:n], float).reshape(-1, b), np.asarray(v[:n]).reshape(-1, b)
                    ax.plot(s[::b], v[::b], color=c, alpha=0.25, lw=0.8)
                    ax.plot(
                        sa.mean(axis=1),
                        np.median(va, axis=1),
                        color=c,
                        lw=1.8,
                        label=f"{key} (median of {b})",
                    )
                elif len(v) > 2 * k and k > 1 and p["metric"] != "val/psnr":
                    ax.plot(s, v, color=c, alpha=0.25, lw=0.8)
                    ax.plot(s, rolling_median(v, k), color=c, lw=1.8, label=f"{key} (median of {k})")
                else:
                    ax.plot(s, v, color=c, lw=1.5, marker="o" if len(v) < 30 else None, ms=3, label=key)
            if bad:
                ax.scatter(
                    bad,
                    [1.0] * len(bad),
                    transform=ax.get_xaxis_transform(),
                    marker="x",
                    color=_BAD,
                    s=40,
                    zorder=5,
                    label=f"{key}: NaN/inf",
                    clip_on=False,
                )
        positive = allv and min(allv) > 0
        if p.get("log") and positive and max(allv) / min(allv) > 5:
            ax.set_yscale("log")
        elif p["metric"] == "grad_norm" and positive and max(allv) > rules.grad_norm_act:
            ax.set_yscale("log")
        if ax.get_yscale() == "log":
            # plain numbers instead of mathtext powers: readable, and far faster to lay out
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(NullFormatter())
        if allv:
            lo, hi = min(allv), max(allv)
            pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
            if ax.get_yscale() == "log":
                ax.set_ylim(lo / 1.5, hi * 1.5)
            else:
                ax.set_ylim(lo - pad, hi + pad)
        ymin, ymax = ax.get_ylim()
        xfrom = 0.0
        if p.get("phase2") and ds is not None and last > first:
            xfrom = min(1.0, max(0.0, (ds - first) / (last - first)))
        for b0, b1, color in p.get("bands", []):
            lo, hi = max(b0, ymin), min(b1, ymax)
            if hi > lo:
                ax.axhspan(lo, hi, xmin=xfrom, color=color, alpha=0.13, lw=0)
        ax.set_ylim(ymin, ymax)
        for y, label in p.get("lines", []):
            if ymin <= y <= ymax:
                ax.axhline(y, color="#555", ls="--", lw=0.9)
                if label:
                    ax.text(
                        1.0,
                        y,
                        f" {label} {num(y)}",
                        transform=ax.get_yaxis_transform(),
                        va="center",
                        ha="left",
                        fontsize=7,
                        color="#555",
                        clip_on=False,
                    )
        if p["metric"] == "rec_loss":
            f = report.finding("rec_loss", "adversarial")
            if f is not None and "recovered_below" in f.evidence:
                thr, base = f.evidence["recovered_below"], f.evidence["phase1_level"]
                ax.axhline(base, color="#555", ls="--", lw=0.9)
                ax.text(
                    0.01,
                    base,
                    f"phase-1 level {num(base)}",
                    transform=ax.get_yaxis_transform(),
                    va="bottom",
                    ha="left",
                    fontsize=7,
                    color="#555",
                )
                ax.axhspan(ymin, thr, color=_GOOD, alpha=0.10, lw=0)
                ax.axhline(thr, color=_GOOD, ls=":", lw=1.2)
                ax.text(
                    0.01,
                    thr,
                    f"recovered below {num(thr)}",
                    transform=ax.get_yaxis_transform(),
                    va="bottom",
                    ha="left",
                    fontsize=7,
                    color=_GOOD,
                )
                if "recovered_step" in f.evidence:
                    rs = f.evidence["recovered_step"]
                    ax.axvline(rs, color=_GOOD, ls=":", lw=1.2)
                    ax.text(
                        rs,
                        0.97,
                        f" recovered at {rs}",
                        transform=ax.get_xaxis_transform(),
                        va="top",
                        ha="left",
                        fontsize=7,
                        color=_GOOD,
                    )
                ax.set_ylim(ymin, ymax)
        if ds is not None:
            ax.axvline(ds, color="#333", lw=1.3)
            ax.text(
                ds,
                0.03,
                f" disc_start {ds}",
                transform=ax.get_xaxis_transform(),
                va="bottom",
                ha="left",
                fontsize=7,
                color="#333",
            )
            ax.axvspan(ds, last, color="#90a4ae", alpha=0.07, lw=0)
        ax.set_xlim(first, max(last, first + 1))
        tag = f"[{level}] " if level else ""
        ax.set_title(
            tag + p["title"],
            fontsize=10,
            loc="left",
            color=LEVEL_COLORS.get(level, "#222"),
            fontweight="bold" if level in ("watch", "act") else "normal",
        )
        ax.grid(True, alpha=0.25, lw=0.5)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc="best", framealpha=0.7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel(report.summary.get("unit", "step"), fontsize=8)
    overall = report.overall
    flagged = []
    for lv in ("act", "watch"):
        names = sorted({f.metric for f in report.findings if f.level == lv})
        if names:
            flagged.append(f"{lv}: {', '.join(names)}")
    fig.suptitle(
        f"vaekit doctor: {display_name(report.source)} - overall {overall.upper()}"
        + (f"   ({'; '.join(flagged)})" if flagged else ""),
        fontsize=13,
        color=LEVEL_COLORS[overall],
        fontweight="bold",
        x=0.01,
        ha="left",
    )
    top = 1 - 0.75 / fig.get_figheight()
    fig.subplots_adjust(
        left=0.06, right=0.93, bottom=0.5 / fig.get_figheight(), top=top, hspace=0.42, wspace=0.2
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def write_plot(
    run: Run, report: Report, path: str | Path, rules: Rules | None = None, window: int = 20
) -> Path:
    """Write the figure to ``path`` as a PNG image."""
    data = render_png(run, report, rules, window)
    return atomic_write_bytes(path, data)
