"""One self-contained HTML page: the verdicts, the numbers, the plot (embedded as base64 PNG).

No scripts, no external stylesheets, fonts or images: the file can be mailed or attached to an
issue and opens anywhere, offline.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ..io.atomic import atomic_write_bytes
from .logs import Run
from .report import PHASE_LABELS, Report, display_name, phase_line
from .rules import Rules

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
       margin: 24px auto; max-width: 1180px; color: #1f2328; line-height: 1.45; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px 0; }
h2 { font-size: 17px; margin: 26px 0 8px 0; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.meta { color: #57606a; font-size: 13px; }
.verdict { display: inline-block; padding: 6px 16px; border-radius: 6px; color: #fff;
           font-weight: 700; font-size: 18px; letter-spacing: 0.04em; margin: 12px 0; }
.badge { display: inline-block; min-width: 44px; text-align: center; padding: 1px 6px;
         border-radius: 4px; color: #fff; font-weight: 700; font-size: 12px; }
.ok { background: #2e7d32; } .watch { background: #e08e00; } .act { background: #c62828; }
.insufficient { background: #616161; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
td { border-top: 1px solid #e5e8eb; padding: 7px 8px; vertical-align: top; }
td.metric { font-family: ui-monospace, "DejaVu Sans Mono", monospace; white-space: nowrap; }
.advice { color: #57606a; margin-top: 4px; }
.expected { font-style: italic; color: #57606a; }
ul.next li { margin: 3px 0; }
img.plot { width: 100%; border: 1px solid #d0d7de; border-radius: 6px; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; font-size: 12px; }
.note { color: #57606a; font-size: 13px; }
"""


def render_html(run: Run, report: Report, png: bytes | None = None, title: str | None = None) -> str:
    """The page as a string; ``png`` is the plot (omitted when None)."""
    e = html.escape
    overall = report.overall
    title = title or f"vaekit doctor: {display_name(report.source)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)} - {overall.upper()}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<div class="meta">{e(report.source)} &middot; {report.summary.get("lines", "?")} training lines'
        f" &middot; format {e(report.fmt)}</div>",
        f'<div class="verdict {overall}" id="overall">Overall: {overall.upper()}</div>',
        f'<div class="meta">Phases: {e(phase_line(report.phases, report.summary.get("unit", "step")))}</div>',
    ]
    if report.insufficient is not None and overall == "insufficient":
        parts.append(f'<div class="note">Too little to judge: {e(report.insufficient["reason"])}.</div>')
    conv = report.summary.get("conventions")
    if conv:
        parts.append(
            f'<div class="meta">Read as: {e(conv["trainer"])} log ({e(conv["trainer_why"])}); GAN loss '
            f'{e(conv["gan_loss"])} (chance level {conv["chance_level"]:.3g}; {e(conv["gan_loss_why"])})</div>'
        )
    unknown = report.summary.get("unrecognised_keys") or {}
    if unknown:
        names = ", ".join(f"{k} ({n})" for k, n in unknown.items())
        parts.append(f'<div class="note" id="unrecognised">Not recognised (kept, not judged): {e(names)}</div>')
    recipe = report.summary.get("recipe") or {}
    if recipe:
        parts.append(
            '<div class="meta">Recipe: '
            + e(
                ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in recipe.items())
            )
            + "</div>"
        )
    for note in report.notes:
        parts.append(f'<div class="note">Note: {e(note)}</div>')
    parts.append('<h2>What to do next</h2><ul class="next">')
    parts.extend(f"<li>{e(s)}</li>" for s in report.next_steps())
    parts.append("</ul>")
    for phase in ("all", "vae", "adversarial"):
        group = [f for f in report.findings if f.phase == phase]
        if not group:
            continue
        parts.append(f"<h2>{e(PHASE_LABELS[phase])}</h2><table>")
        for f in group:
            exp = '<span class="expected">expected: </span>' if f.evidence.get("expected") else ""
            adv = f'<div class="advice">Next: {e(f.advice)}</div>' if f.advice and f.level != "ok" else ""
            parts.append(
                f'<tr class="finding" data-metric="{e(f.metric)}" data-level="{f.level}">'
                f'<td><span class="badge {f.level}">{f.level}</span></td>'
                f'<td class="metric">{e(f.metric)}</td><td>{exp}{e(f.message)}{adv}</td></tr>'
            )
        parts.append("</table>")
    if png:
        b64 = base64.b64encode(png).decode("ascii")
        parts.append("<h2>Curves</h2>")
        parts.append(
            f'<img class="plot" alt="training curves with the phase boundary and healthy bands" '
            f'src="data:image/png;base64,{b64}">'
        )
    parts.append("<h2>Report as JSON</h2><details><summary>show</summary>")
    parts.append(f"<pre>{e(json.dumps(report.to_dict(), indent=2))}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(
    run: Run,
    report: Report,
    path: str | Path,
    rules: Rules | None = None,
    window: int = 20,
    plot: bool = True,
) -> Path:
    """Write the page to ``path``, with the plot rendered in memory and embedded."""
    png = None
    if plot:
        from .plot import render_png

        png = render_png(run, report, rules, window)
    return atomic_write_bytes(path, render_html(run, report, png).encode("utf-8"))
