"""The logic of ``vaekit doctor``, callable without click (the CLI is a thin wrapper)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from vaekit.errors import EXIT_ERROR, EXIT_OK, OutputError

from .analyze import DEFAULT_WINDOW, diagnose
from .logs import DoctorError, find_key, load_run
from .rules import DEFAULT_RULES, load_aliases, load_rules, rules_from_mapping

EXIT_OK = EXIT_OK  # 0: overall ok, watch or insufficient
EXIT_ACT = EXIT_ERROR  # 1: overall act: something needs doing
EXIT_INPUT = DoctorError.exit_code  # 2: the run, log or rules file cannot be read
EXIT_OUTPUT = OutputError.exit_code  # 3: the plot or HTML cannot be written

HELP = f"""Read a training run's logs, judge its health, and draw it.

RUN is a vaekit run folder (metrics.jsonl + config.toml), a metrics.jsonl file, a CSV log
(Lightning metrics.csv, wandb export), TensorBoard event files (a file or a folder), or a
plain-text log from another trainer: `key: value` / `key=value` pairs, dict reprs, tqdm and
Lightning progress bars, MetricLogger lines, split (Generator) / (Discriminator) lines. Other
trainers' names (recons_loss, gen_loss, discloss, p_loss, kld, ...) map to vaekit's through one
alias table, extendable with an [aliases] table in --rules; keys it does not know are listed.

The doctor finds where the discriminator starts, checks that the logged losses add up
(nll = rec + perception, vae = nll + kl_weight x kl, total = vae + d_weight x disc_factor x
g_loss), and judges each metric per phase as ok, watch or act with the numbers behind it:
grad_norm, rec_loss (and its recovery after disc_start), perception_loss, KL (silenced or
dominant), disc_loss, logits, d_weight, NaN/inf, validation PSNR.

\b
Exit status:
  {EXIT_OK}  overall ok or watch, or insufficient (too little data: the report says what is needed)
  {EXIT_ACT}  overall act (a finding needs action)
  {EXIT_INPUT}  the run / log / rules file cannot be read, or holds no metrics
  {EXIT_OUTPUT}  the plot or HTML file cannot be written
"""


def _rules_for(run_config: dict, rules_path: str | Path | None, err: TextIO):
    """Defaults, then the rules file the run trained with (``doctor_rules`` in its config.toml, if
    still there) or a ``[doctor]`` table in it, then ``--rules``."""
    base = DEFAULT_RULES
    if not isinstance(run_config, dict):
        return load_rules(rules_path, base)
    doctor_table = run_config.get("doctor")
    if isinstance(doctor_table, dict):
        base = rules_from_mapping(doctor_table, base, where="[doctor] table of the run's config.toml")
    trained_with = find_key(run_config, "doctor_rules")
    if isinstance(trained_with, str) and trained_with:
        if Path(trained_with).is_file():
            base = load_rules(trained_with, base)
        elif rules_path is None:
            print(
                f"warning: the run trained with doctor rules {trained_with}, which is gone; judging with "
                "the default thresholds (pass --rules FILE.toml)",
                file=err,
            )
    return load_rules(rules_path, base)


def main(
    run: str | Path,
    json_out: bool = False,
    plot: str | Path | None = None,
    html: str | Path | None = None,
    window: int = DEFAULT_WINDOW,
    rules_path: str | Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the doctor on ``run``; print the report (text, or JSON with ``json_out``) to ``out``,
    write the plot / HTML page if asked, and return the exit status (see :data:`HELP`)."""
    out = out or sys.stdout
    err = err or sys.stderr
    if window < 2:
        print(f"error: --window must be at least 2 lines, got {window}", file=err)
        return EXIT_INPUT
    try:
        parsed = load_run(run, aliases=load_aliases(rules_path))
        rules = _rules_for(parsed.config, rules_path, err)
        report = diagnose(parsed, rules, window)
    except DoctorError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_INPUT
    out.write(report.to_json() + "\n" if json_out else report.to_text())
    try:
        if plot is not None:
            from .plot import write_plot

            _check_parent(plot)
            write_plot(parsed, report, plot, rules, window)
            print(f"wrote the plot to {plot}", file=err)
        if html is not None:
            from .html import write_html

            _check_parent(html)
            write_html(parsed, report, html, rules, window)
            print(f"wrote the HTML report to {html}", file=err)
    except OSError as exc:
        print(f"error: cannot write {exc.filename or ''}: {exc.strerror or exc}", file=err)
        return EXIT_OUTPUT
    except OutputError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_OUTPUT
    return EXIT_ACT if report.overall == "act" else EXIT_OK


def _check_parent(path: str | Path) -> None:
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: the folder {parent} does not exist")
