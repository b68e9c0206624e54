"""``vaekit train`` (a run: its recipe options, checkpoints, the live doctor) and
``vaekit model-from-run`` (a run's EMA weights -> a model folder that ``vaekit.load`` opens).
What training does with the options is :mod:`vaekit.train.command`; these are shells."""

from __future__ import annotations

import click

from .common import handle_errors


@click.command("train")
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    help="Recipe TOML, e.g. train/tiny.toml or train/base.toml.",
)
@click.option(
    "--data",
    multiple=True,
    help="Training data: folder, file, glob, builtin:photos[:NAME,...], builtin:motion[:NAME,...] or builtin:fastmotion[:NAME,...]. Repeatable.",
)
@click.option("--val-data", multiple=True, help="Validation data, same forms as --data. Repeatable.")
@click.option(
    "--out", "-o", help="Run directory: config.toml, metrics.jsonl, tb/, samples/, checkpoints/, model/."
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue exactly from the newest checkpoint in --out (fresh start if none).",
)
@click.option("--max-steps", type=int, help="Total optimizer steps.")
@click.option("--disc-start", type=int, help="Step at which the discriminator starts (phase 2).")
@click.option("--kl-weight", type=float, help="Weight of kl_loss.")
@click.option("--perceptual-weight", type=float, help="Weight of LPIPS; 0 turns it off.")
@click.option("--pixelloss-weight", type=float, help="Weight of the pixel L1/L2 loss.")
@click.option("--disc-weight", type=float, help="Scale of the adaptive d_weight.")
@click.option("--clip-grad", type=float, help="Max gradient norm (generator and discriminator); 0: off.")
@click.option("--lr", type=float, help="Generator learning rate.")
@click.option(
    "--lr-schedule",
    type=click.Choice(["constant", "cosine"]),
    help="constant, or cosine decay from --lr-decay-start to min_lr_ratio x lr at --max-steps.",
)
@click.option("--lr-decay-start", type=int, help="Step at which the cosine decay begins.")
@click.option("--batch-size", type=int, help="Clips per GPU/process; the global batch is this x ranks.")
@click.option("--num-frames", type=int, help="Frames per clip, 1 + 4k.")
@click.option("--resolution", type=int, help="Square crop size in pixels.")
@click.option("--sample-rate", type=int, help="Take every n-th video frame.")
@click.option(
    "--color-augment/--no-color-augment",
    default=None,
    help="Random channel order, saturation and channel gains per training clip.",
)
@click.option("--ema-decay", type=float, help="Decay of the EMA weights that are validated and exported.")
@click.option("--mixed-precision", type=click.Choice(["fp32", "bf16", "fp16"]), help="Autocast precision.")
@click.option(
    "--grad-checkpointing/--no-grad-checkpointing", default=None, help="Recompute activations in backward."
)
@click.option("--log-every", type=int, help="Steps between metrics lines.")
@click.option("--val-every", type=int, help="Steps between validations; 0: never.")
@click.option("--save-every", type=int, help="Steps between checkpoints.")
@click.option("--seed", type=int, help="Seed of data order, crops, noise and initialisation.")
@click.option(
    "--rules",
    "doctor_rules",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML file of doctor thresholds (as `vaekit doctor --rules`) for the live doctor.",
)
@click.option(
    "--export-model",
    nargs=2,
    metavar="RUN_DIR OUT_DIR",
    help="Only write RUN_DIR's EMA weights as a model folder (deprecated: `vaekit model-from-run RUN_DIR OUT_DIR`).",
)
@click.option(
    "--name",
    "model_name",
    help="Name of the exported model (RUN_DIR/model or --export-model). Default: the run folder's name.",
)
@handle_errors(signals=False)
def train(config, resume, export_model, model_name, **overrides):
    """Train a causal video VAE: reconstruction + KL (+ LPIPS), then a 3D PatchGAN from --disc-start.

    Every option overrides the recipe; RUN_DIR/config.toml keeps the resolved recipe. The run
    writes metrics.jsonl (the loss keys of `vaekit doctor`), TensorBoard logs, validation
    samples and checkpoints; at the end RUN_DIR/model holds the EMA weights (vaekit.load opens it),
    named after the run (or --name), its latent statistics marked as not computed until
    `vaekit stats VIDEOS --model RUN_DIR/model` measures them.
    Ctrl-C or SIGTERM saves a checkpoint and exits 130/143; --resume continues exactly.

    \b
    vaekit train --config train/tiny.toml --out runs/tiny
    vaekit train --config train/tiny.toml --out runs/tiny --resume
    torchrun --nproc_per_node 8 -m vaekit train --config train/base.toml --data /videos --out runs/base
    vaekit model-from-run runs/tiny models/my-tiny      (the EMA weights of a run -> a model folder)
    """
    if export_model:
        click.echo(_deprecation_line(export_model, model_name), err=True)
        return _write_run_model(*export_model, model_name)
    from ..train.command import run

    run(config, overrides, resume, model_name)


@click.command("model-from-run")
@click.argument("run_dir", metavar="RUN_DIR")
@click.argument("out_dir", metavar="OUT_DIR")
@click.option(
    "--name",
    "model_name",
    help="Name of the model (its config.json). Default: the run folder's name.",
)
@handle_errors
def model_from_run(run_dir, out_dir, model_name):
    """Write the EMA weights of a training run as a model folder.

    RUN_DIR is a `vaekit train --out` folder (the newest checkpoint's EMA weights are taken) or a
    checkpoint file; OUT_DIR becomes a model folder (config.json + model.safetensors) that
    `vaekit encode --model OUT_DIR` and vaekit.load(OUT_DIR) open. The model is named after the
    run (or --name), its latent statistics marked as not computed until
    `vaekit stats VIDEOS --model OUT_DIR` measures them. (Not `vaekit export`, which writes
    ONNX/TensorRT artifacts of a model.)

    \b
    vaekit model-from-run runs/tiny models/my-tiny
    vaekit model-from-run runs/tiny models/my-tiny --name my-vae
    vaekit stats clips/ --model models/my-tiny
    """
    _write_run_model(run_dir, out_dir, model_name)


def _write_run_model(run_dir: str, out_dir: str, name: str | None) -> None:
    from ..train.command import write_run_model

    write_run_model(run_dir, out_dir, name)


def _deprecation_line(export_model: tuple[str, str], name: str | None) -> str:
    """The one stderr line `vaekit train --export-model` prints: the new spelling, runnable."""
    import shlex

    args = ["vaekit", "model-from-run", *export_model, *(["--name", name] if name else [])]
    return f"warning: `vaekit train --export-model` is deprecated; use `{shlex.join(args)}`"
