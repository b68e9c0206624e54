"""``vaekit doctor``: read a training run's logs, judge its health, and draw it.

    from vaekit.doctor import load_run, diagnose
    report = diagnose(load_run("runs/tiny"))
    print(report.overall, report.to_text())

The trainer uses :class:`vaekit.doctor.live.LiveDoctor` for the same rules at every log step.
This package imports neither torch nor matplotlib (plots import matplotlib when drawn).
"""

from __future__ import annotations

from .analyze import DEFAULT_WINDOW, detect_phases, diagnose
from .command import EXIT_ACT, EXIT_INPUT, EXIT_OK, EXIT_OUTPUT, HELP, main
from .live import LiveDoctor
from .logs import DoctorError, Record, Run, load_run, run_from_records
from .report import LEVELS, Finding, Report
from .rules import DEFAULT_RULES, Rules, load_rules


def write_plot(run, report, path, rules=None, window=DEFAULT_WINDOW):
    """Draw ``report``'s curves to a PNG file (imports matplotlib)."""
    from .plot import write_plot as _write_plot

    return _write_plot(run, report, path, rules, window)


def write_html(run, report, path, rules=None, window=DEFAULT_WINDOW):
    """Write the self-contained HTML report (imports matplotlib for the embedded plot)."""
    from .html import write_html as _write_html

    return _write_html(run, report, path, rules, window)


__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_WINDOW",
    "EXIT_ACT",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "HELP",
    "LEVELS",
    "DoctorError",
    "Finding",
    "LiveDoctor",
    "Record",
    "Report",
    "Rules",
    "Run",
    "detect_phases",
    "diagnose",
    "load_rules",
    "load_run",
    "main",
    "run_from_records",
    "write_html",
    "write_plot",
]
