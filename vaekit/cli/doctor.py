"""``vaekit doctor``: read a training run's logs, judge its health, and draw it (the checks are
:mod:`vaekit.doctor`)."""

from __future__ import annotations

import sys

import click


@click.command("doctor")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object instead of text.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw the curves to this PNG file.")
@click.option(
    "--html", type=click.Path(dir_okay=False), help="Write a self-contained HTML report (with the plot)."
)
@click.option(
    "--window",
    type=int,
    default=20,
    show_default=True,
    help="Recent log lines per phase that judge the current state and its trend.",
)
@click.option(
    "--rules", "rules_path", type=click.Path(dir_okay=False), help="TOML file overriding thresholds."
)
def doctor(run, as_json, plot, html, window, rules_path):
    """Read a training run's logs, judge its health, and draw it.

    RUN is a vaekit run folder (metrics.jsonl + config.toml), a metrics.jsonl, a CSV log
    (Lightning metrics.csv, wandb export), TensorBoard event files, or another trainer's text log
    (`key: value` pairs, progress bars, MetricLogger lines; names mapped through one alias
    table, unknown keys listed). The doctor finds where the
    discriminator starts, checks that the logged losses add up (nll = rec + perception,
    vae = nll + kl_weight x kl, total = vae + d_weight x disc_factor x g_loss), and rates each
    metric per phase ok / watch / act with the numbers behind it: grad_norm, rec_loss and its
    recovery after disc_start, perception_loss, KL silenced or dominant, disc_loss, logits,
    d_weight, NaN/inf, validation PSNR. Thresholds default to the seed run's numbers; --rules
    takes a TOML file such as `[grad_norm] watch = 12.0`.

    \b
    Exit status:
      0  overall ok or watch, or insufficient (too little data; the report says what is needed)
      1  overall act (a finding needs action)
      2  the run, log or rules file cannot be read, or holds no metrics
      3  the plot or HTML file cannot be written

    \b
    vaekit doctor runs/tiny
    vaekit doctor runs/tiny --json --plot curves.png --html report.html
    vaekit doctor train.log --window 50
    """
    from ..doctor import main as doctor_main

    sys.exit(doctor_main(run, json_out=as_json, plot=plot, html=html, window=window, rules_path=rules_path))
