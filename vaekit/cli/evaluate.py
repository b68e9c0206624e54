"""``vaekit eval``: score a model on real videos and/or the motion suite against a naive
baseline (the scoring itself is :mod:`vaekit.evaluate` and :mod:`vaekit.eval_suite`)."""

from __future__ import annotations

import json
import warnings

import click

from ..errors import MissingDependencyError
from ..paths import expand_inputs
from .common import (
    BackendArgs,
    StreamArgs,
    backend_options,
    handle_errors,
    random_weights_option,
    stream_options,
    typed_options,
)


@click.command("eval")
@click.argument("videos", nargs=-1)
@stream_options
@click.option("--frames", "max_frames", type=int, help="Use at most this many frames of each video.")
@click.option(
    "--resolution", type=int, help="Resize each video so its shorter side is this many pixels first."
)
@click.option(
    "--lpips-net",
    type=click.Choice(["alex", "vgg", "none"]),
    default="alex",
    show_default=True,
    help="LPIPS backbone for the LPIPS columns (model and baseline); none: skip LPIPS.",
)
@click.option(
    "--suite",
    type=click.Choice(["motion"]),
    help="Also (or instead of VIDEOS) score the fixed motion suite rendered from held-out photos.",
)
@click.option(
    "--suite-size",
    type=int,
    default=256,
    show_default=True,
    help="Frame width and height of the suite clips.",
)
@click.option(
    "--suite-frames", type=int, default=33, show_default=True, help="Frames per suite clip (at least 9)."
)
@backend_options
@random_weights_option
@handle_errors
@typed_options
def eval_cmd(
    videos,
    stream: StreamArgs,
    engine: BackendArgs,
    as_json,
    max_frames,
    resolution,
    lpips_net,
    suite,
    suite_size,
    suite_frames,
):
    """Score a model on real videos against a naive baseline of the same size.

    For each video and pooled over all: PSNR and SSIM of the decoded uint8 frames against the
    source's at the source resolution, temporal flicker, LPIPS (AlexNet by default; only with the
    real backbone weights, which `vaekit weights lpips` fetches), and encode/decode frames/s. The baseline keeps as many floats as the latent: each frame is
    area-downscaled by sqrt(3*T*H*W / latent elements) and bicubic-upscaled back.

    --suite motion scores fixed clips rendered (deterministically) from the photos held out of
    training, coffee, grass and grace_hopper: static, slow and fast pans, moving sprites, a hard
    cut on each slot of a 4-frame latent group and a cross-dissolve. Per clip, for model and
    baseline: PSNR, SSIM, LPIPS, flicker, PSNR per slot, PSNR after 8x8 average pooling and, for
    cuts and the dissolve, the recovery (PSNR of the group holding the transition and of the next,
    minus the median frame PSNR, and each frame against the median of its own shot); then a
    summary per category. VIDEOS may be given as well: the
    table then shows both, and --json adds the suite's object under "suite" to the videos' result
    (with --suite alone, --json prints the suite's object).

    \b
    vaekit eval clips/ --model tiny
    vaekit eval --suite motion --json > suite.json
    """
    from ..evaluate import evaluate, format_table

    if not videos and suite is None:
        raise click.UsageError("give VIDEOS to score, or --suite motion")
    opts = stream.options()
    files = expand_inputs(videos, "video") if videos else []
    backend = engine.load()
    lpips_model = _lpips_or_none(lpips_net)
    result = suite_result = None
    if files:
        result = evaluate(
            backend, files, opts, max_frames=max_frames, resolution=resolution, lpips_model=lpips_model
        )
        if result["overall"].get("lpips") is not None:
            result["lpips_net"] = lpips_net
    if suite is not None:
        from ..eval_suite import format_suite_table, motion_suite, run_suite

        try:
            motion_suite(suite_size, suite_frames, backend.temporal_compression)  # checks the sizes
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--suite-size/--suite-frames") from None
        suite_result = run_suite(
            backend, opts, suite=suite, size=suite_size, frames=suite_frames, lpips_model=lpips_model
        )
        if "lpips" in suite_result["summary"]["overall"]["model"]:
            suite_result["lpips_net"] = lpips_net
    if as_json:
        if result is None:
            result = suite_result
        elif suite_result is not None:
            result["suite"] = suite_result
        click.echo(json.dumps(result))
        return
    tables = [format_table(result)] if result is not None else []
    if suite_result is not None:
        tables.append(format_suite_table(suite_result))
    click.echo("\n\n".join(tables))


def _lpips_or_none(net: str):
    """Real LPIPS when the backbone weights are on disk; otherwise None and one warning line
    (never a random stand-in)."""
    if net == "none":
        return None
    from ..perceptual import PerFrameLPIPS

    try:
        return PerFrameLPIPS(net)
    except MissingDependencyError:
        warnings.warn(
            f"no LPIPS columns: the {net} backbone is not installed; run `vaekit weights lpips --net {net}`",
            stacklevel=2,
        )
        return None
