"""``vaekit encode``, ``decode``, ``roundtrip`` and ``info``: videos <-> latent files.

Each body checks its inputs and outputs (:mod:`vaekit.paths`) before torch loads, opens the
backend its option groups chose, and runs a job of :mod:`vaekit.runtime.jobs` per input."""

from __future__ import annotations

import json

import click

from .. import dtypes
from ..paths import expand_inputs, output_codecs, output_paths
from .common import (
    BackendArgs,
    StreamArgs,
    backend_options,
    batch_options,
    given,
    handle_errors,
    random_weights_option,
    run_each,
    stream_options,
    typed_options,
    video_options,
)
from .dataset import clip_options


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output file (one input) or folder. Default: beside each input.")
@stream_options
@backend_options
@batch_options
@random_weights_option
@clip_options
@click.option("--save-logvar", is_flag=True, help="Also store the posterior log-variance (for sampling).")
@click.option(
    "--latent-dtype",
    type=click.Choice(dtypes.NAMES),
    default="fp32",
    show_default=True,
    help="Storage precision of the latent file.",
)
@handle_errors
@typed_options
def encode(
    inputs,
    output,
    stream: StreamArgs,
    engine: BackendArgs,
    as_json,
    save_logvar,
    latent_dtype,
    fail_fast,
    skip_existing,
    **clip,
):
    """Encode videos (or images) into NAME.latent.safetensors files.

    INPUTS are video/image files or folders of them. The latent file records the model
    fingerprint, source size, frame count and fps, so `vaekit decode` restores them exactly.

    \b
    Dataset mode (a diffusion training set; resumable; shards over torchrun ranks):
      vaekit encode DATASET -o OUT --clip-frames 17 --size 256x256 --fps 24
      torchrun --nproc_per_node 8 -m vaekit encode DATASET -o OUT --clip-frames 17 --size 256x256
    """
    from .dataset import dataset_mode, run_encode

    if dataset_mode(clip):
        return run_encode(inputs, output, clip, stream=stream, engine=engine, as_json=as_json,
                          save_logvar=save_logvar, latent_dtype=latent_dtype)  # fmt: skip
    from ..io.names import default_latent_path

    files = expand_inputs(inputs, "video")  # inputs are checked before torch loads
    from ..api import parse_dtype
    from ..runtime.jobs import encode_file

    opts = stream.options()
    outs = output_paths(files, output, default_latent_path)
    backend = engine.load()

    def job(src, dst):
        return encode_file(
            backend, src, dst, opts, save_logvar=save_logvar, latent_dtype=parse_dtype(latent_dtype)
        )

    def human(r, dst):
        shape = "x".join(map(str, r["latent_shape"]))
        return (
            f"{dst}  latents {shape}  from {r['frames']} frames {r['width']}x{r['height']} "
            f"@ {r['fps']} fps  ({r['frames_per_s']} frames/s)"
        )

    run_each(files, outs, job, as_json, human, fail_fast, skip_existing)


@click.command()
@click.argument("latents", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    help="Output video file (one input) or folder. Default: NAME.decoded.mp4 beside each input.",
)
@stream_options
@backend_options
@batch_options
@random_weights_option
@video_options
@handle_errors
@typed_options
def decode(latents, output, stream: StreamArgs, engine: BackendArgs, as_json, codec, crf, audio_from,
           fail_fast, skip_existing):  # fmt: skip
    """Decode NAME.latent.safetensors files into videos (mp4 by default).

    The video gets the source's width, height, frame count and fps. A latent file made by
    another model is refused: decode with the --model that encoded it.
    """
    from ..io.names import default_video_path

    files = expand_inputs(latents, "latent")  # inputs are checked before torch loads
    from ..runtime.jobs import decode_file

    opts = stream.options()
    outs = output_paths(files, output, default_video_path, audio_from)
    codecs = output_codecs(
        outs, codec, given("codec")
    )  # a container/codec pair that cannot work: refused here
    backend = engine.load()

    def job(src, dst):
        return decode_file(backend, src, dst, opts, codec=codecs[dst], crf=crf, audio_from=audio_from)

    def human(r, dst):
        return (
            f"{dst}  {r['frames']} frames {r['width']}x{r['height']} @ {r['fps']} fps  "
            f"({r['frames_per_s']} frames/s)"
        )

    run_each(files, outs, job, as_json, human, fail_fast, skip_existing)


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    help="Output video file (one input) or folder. Default: NAME.roundtrip.mp4 beside each input.",
)
@stream_options
@backend_options
@batch_options
@random_weights_option
@video_options
@click.option(
    "--no-audio",
    "keep_audio",
    is_flag=True,
    flag_value=False,
    default=True,
    help="Do not copy the source's audio into the output (kept by default).",
)
@handle_errors
@typed_options
def roundtrip(inputs, output, stream: StreamArgs, engine: BackendArgs, as_json, codec, crf, audio_from,
              fail_fast, skip_existing, keep_audio):  # fmt: skip
    """Encode and decode videos in one stream; print PSNR and SSIM against the source.

    INPUTS are videos, images or folders of them. Quality is measured on the decoded uint8
    frames at the source size, before the output codec compresses them. The source's audio is
    copied into the output (--no-audio: none); one warning line says what the output does not
    keep (a variable frame rate, more than 8 bits, 4:2:2/4:4:4 chroma, gray).
    """
    from ..io.names import default_roundtrip_path

    files = expand_inputs(inputs, "video")  # inputs are checked before torch loads
    from ..runtime.jobs import roundtrip_file

    opts = stream.options()
    outs = output_paths(files, output, default_roundtrip_path, audio_from)
    codecs = output_codecs(
        outs, codec, given("codec")
    )  # a container/codec pair that cannot work: refused here
    backend = engine.load()

    def job(src, dst):
        return roundtrip_file(
            backend, src, dst, opts, codec=codecs[dst], crf=crf, audio_from=audio_from, keep_audio=keep_audio
        )

    def human(r, dst):
        return (
            f"{dst}  {r['frames']} frames {r['width']}x{r['height']}  PSNR {r['psnr']:.2f} dB  "
            f"SSIM {r['ssim']:.4f}  ({r['frames_per_s']} frames/s)"
        )

    run_each(files, outs, job, as_json, human, fail_fast, skip_existing)


@click.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@handle_errors
def info(file, as_json):
    """Describe a latent file, a latent set (a folder `vaekit encode --clip-frames` wrote) or a model."""
    from ..describe import describe
    from ..io.latent_index import is_latent_set, summarize

    result = summarize(file) if is_latent_set(file) else describe(file, typed=as_json)
    click.echo(
        json.dumps(result, indent=2) if as_json else "\n".join(f"{k:22s} {v}" for k, v in result.items())
    )
