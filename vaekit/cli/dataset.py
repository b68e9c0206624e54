"""The command-line side of dataset encoding: the clip options of ``vaekit encode`` and what the
command does with them (the job itself is :mod:`vaekit.dataset_encode`). Light to import: nothing
here loads torch until a dataset run starts."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

import click

from ..errors import InputError
from .common import BackendArgs, StreamArgs, given


def clip_options(fn):
    """--clip-frames and the options that shape clips; any of them without --clip-frames is refused."""
    options = [
        click.option(
            "--clip-frames",
            type=int,
            help="Dataset mode: cut every video into clips of N frames (1 + 4k fits the model), one "
            "latent file each, indexed in OUT/index.jsonl; resumable, shards over torchrun ranks; runs "
            "on cuda:LOCAL_RANK where CUDA exists unless --device is given.",
        ),
        click.option(
            "--clip-stride", type=int, help="Frames from one clip's start to the next (default: N)."
        ),
        click.option("--size", "clip_size", help="Clip frame size WxH (resize to cover, then --crop)."),
        click.option(
            "--short-side", type=int, help="Resize so the shorter side is P pixels (keeps the aspect)."
        ),
        click.option("--fps", "clip_fps", help="Resample clips to this frame rate (24, 29.97, 30000/1001)."),
        click.option(
            "--crop",
            type=click.Choice(["center", "none"]),
            default="center",
            show_default=True,
            help="center: crop to --size (or to multiples of 8); none: stretch to --size / keep the size.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def dataset_mode(clip: dict) -> bool:
    """Whether ``vaekit encode`` runs as a dataset job; refuses clip options without --clip-frames
    and a torchrun launch without it (every rank would encode everything)."""
    if clip.get("clip_frames") is not None:
        return True
    flags = {"clip_stride": "--clip-stride", "clip_size": "--size", "short_side": "--short-side",
             "clip_fps": "--fps", "crop": "--crop"}  # fmt: skip
    shown = [f for name, f in flags.items() if given(name)]
    if shown:
        raise click.UsageError(f"{', '.join(shown)} shape clips: add --clip-frames N (dataset mode)")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError(
            "under torchrun, vaekit encode shards a dataset: add --clip-frames N and -o OUT "
            "(without them every rank would encode every file)"
        )
    return False


def run_encode(
    inputs, output, clip: dict, *, stream: StreamArgs, engine: BackendArgs, as_json: bool,
    save_logvar: bool, latent_dtype: str,
) -> None:  # fmt: skip
    """``vaekit encode DATASET -o OUT --clip-frames N ...``: run this process's share, print the
    job's summary on rank 0 (one line, or one JSON object with --json). The device is
    cuda:LOCAL_RANK where CUDA exists unless ``--device`` was given."""
    from ..api import parse_dtype
    from ..dataset_encode import EncodeSettings, encode_dataset
    from ..runtime.clips import ClipSpec, parse_fps, parse_size

    if output is None:
        raise click.UsageError("dataset mode (--clip-frames) writes a folder: give -o OUT")
    try:
        spec = ClipSpec(
            frames=clip["clip_frames"],
            stride=clip["clip_stride"],
            size=parse_size(clip["clip_size"]) if clip["clip_size"] else None,
            short_side=clip["short_side"],
            fps=parse_fps(clip["clip_fps"]) if clip["clip_fps"] else None,
            crop=clip["crop"],
        )
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    opts = stream.options()
    settings = EncodeSettings(
        spec,
        chunk_frames=opts.chunk_frames,
        tile=opts.tile,
        save_logvar=save_logvar,
        latent_dtype=parse_dtype(latent_dtype),
        compute_dtype=engine.dtype,
    )
    result = encode_dataset(
        list(inputs),
        output,
        settings,
        lambda dev: replace(engine, device=dev).load(),
        device=engine.device if given("device") else None,
        show_progress=not stream.quiet and sys.stderr.isatty(),
    )
    if result is None:  # not rank 0
        return
    for f in result["failed"]:
        click.echo(f"skipped {f['source']}: {f['error']}", err=True)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"{result['output']}  {result['clips_total']} clips from {result['videos']} videos "
        f"({result['clips_written']} written, {result['clips_resumed']} already there, "
        f"{result['videos_failed']} videos failed) on {result['ranks']} process"
        f"{'es' if result['ranks'] > 1 else ''}  ({result['clips_per_s']} clips/s)  index {result['index']}"
    )
