"""What every ``vaekit`` command shares: error handling, the option groups, and the typed objects
those groups build before a command's body runs (docs/DESIGN.md, "Command line").

- :func:`handle_errors`: user-fixable errors -> one ``error:`` line and an exit code; signals ->
  130/143/129 with no partial output.
- Option groups (:func:`stream_options`, :func:`backend_options`, :func:`random_weights_option`,
  :func:`batch_options`, :func:`video_options`) declare the options; :func:`typed_options` turns
  the flat values into a frozen :class:`StreamArgs` (``stream``) and :class:`BackendArgs`
  (``engine``) and checks them, so a command body receives objects, not a dozen flat parameters.
- :func:`run_each` / :func:`emit`: one line (or one JSON object) per output.

Light to import: torch loads only when a backend is opened or the stream's runtime options are
built, so bad inputs are refused before it loads.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
import warnings
from dataclasses import dataclass

import click

from .. import dtypes
from ..errors import EXIT_INTERRUPTED, InputError, MissingDependencyError, VaekitError


# -- errors --------------------------------------------------------------------------------
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
        from ..interrupt import Terminated, signals_as_interrupts
        from ..io.atomic import remove_temporaries

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


def given(name: str) -> bool:
    """Whether the user gave option ``name`` (by its parameter name), rather than its default."""
    ctx = click.get_current_context()
    return ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT


# -- the typed objects -----------------------------------------------------------------------
@dataclass(frozen=True)
class StreamArgs:
    """How a command streams: ``--chunk-frames`` (checked: a positive multiple of 4), ``--tile``
    (its text; parsed by :meth:`options`, which needs torch) and ``--quiet``."""

    chunk_frames: int = 16
    tile: str = "auto"
    quiet: bool = False

    def __post_init__(self):
        if self.chunk_frames <= 0 or self.chunk_frames % 4:
            raise click.BadParameter("must be a positive multiple of 4", param_hint="--chunk-frames")

    def options(self):
        """The runtime's :class:`~vaekit.runtime.pipeline.StreamOptions` (tiling parsed, a progress
        bar unless quiet); a bad ``--tile`` is a usage error (exit 2)."""
        from ..runtime.pipeline import StreamOptions
        from ..runtime.tiling import TileSpec

        try:
            spec = TileSpec.parse(self.tile)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--tile") from None
        return StreamOptions(chunk_frames=self.chunk_frames, tile=spec, progress=progress_factory(self.quiet))


@dataclass(frozen=True)
class BackendArgs:
    """Which backend runs the streaming engine: ``--model``, ``--device``, ``--dtype``, and
    ``--backend`` / ``--artifacts`` / ``--allow-random-weights`` where the command has them.
    ``model_given``: the user named ``--model`` (checked against ``--artifacts`` then)."""

    model: str = "tiny"
    device: str = "cpu"
    dtype: str = "fp32"
    kind: str = "torch"
    artifacts: str | None = None
    allow_random_weights: bool = False
    model_given: bool = True

    def load(self):
        """Load the model on :attr:`device` and wrap it in the backend that runs the streaming
        engine (another device: ``dataclasses.replace(args, device=...).load()``). With
        ``artifacts`` (required for onnx/tensorrt) the exported files run instead, checked against
        the model if it was named. A model folder without trained weights (the ``base`` preset) is
        refused unless ``allow_random_weights``: its latents would be meaningless."""
        import torch

        from ..api import load, parse_dtype
        from ..model.folder import WEIGHTS_NAME, resolve_model_dir
        from ..runtime.backend import TorchBackend

        device, model = self.device, self.model
        if self.kind != "torch" or self.artifacts is not None:
            from ..export.artifacts import open_backend

            if self.artifacts is None:
                raise InputError(
                    f"--backend {self.kind} needs --artifacts DIR, the folder `vaekit export -o DIR` wrote"
                )
            return open_backend(
                self.kind,
                self.artifacts,
                device,
                parse_dtype(self.dtype),
                model if self.model_given else None,
            )
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise MissingDependencyError(
                f"--device {device}: CUDA is not available on this machine; use --device cpu"
            )
        folder = resolve_model_dir(model)
        if not (folder / WEIGHTS_NAME).is_file() and not self.allow_random_weights:
            raise InputError(
                f"model {model!r} ({folder}) has no trained weights ({WEIGHTS_NAME} is missing): its outputs would be "
                "meaningless; train it with `vaekit train` or use a trained model (--model tiny); encode, decode, "
                "roundtrip and eval run the random initialisation with --allow-random-weights (e.g. to measure speed)"
            )
        return TorchBackend(load(model, device=device, dtype=parse_dtype(self.dtype)))


_STREAM_KEYS = ("chunk_frames", "tile", "quiet")
_BACKEND_KEYS = {"model": "model", "device": "device", "dtype": "dtype", "backend": "kind",
                 "artifacts": "artifacts", "allow_random_weights": "allow_random_weights"}  # fmt: skip


def typed_options(fn):
    """Hand the command body typed objects instead of the option groups' flat values, built (and
    checked) before the body runs: ``stream`` (:class:`StreamArgs`) if the body takes it, from
    ``--chunk-frames/--tile/--quiet`` (``quiet`` stays a parameter too if the body names it), and
    ``engine`` (:class:`BackendArgs`) if it takes it, from ``--model ... --allow-random-weights``.

    Goes below :func:`handle_errors` (applied first), so that one still sees ``quiet``."""
    takes = inspect.signature(fn).parameters

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "stream" in takes:
            values = {k: kwargs[k] for k in _STREAM_KEYS if k in kwargs}
            for k in values:
                if k not in takes:
                    del kwargs[k]
            kwargs["stream"] = StreamArgs(**values)
        if "engine" in takes:
            values = {field: kwargs.pop(k) for k, field in _BACKEND_KEYS.items() if k in kwargs}
            kwargs["engine"] = BackendArgs(**values, model_given=given("model"))
        return fn(*args, **kwargs)

    return wrapper


# -- the option groups -----------------------------------------------------------------------
def _apply(fn, options):
    for option in reversed(options):
        fn = option(fn)
    return fn


def stream_options(fn):
    """Options every encode/decode-like command shares."""
    return _apply(
        fn,
        [
            click.option(
                "--model", "-m", default="tiny", show_default=True, help="Model folder or preset name."
            ),
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
            click.option(
                "--json", "as_json", is_flag=True, help="Print one JSON object per output on stdout."
            ),
            click.option(
                "--quiet", "-q", is_flag=True, help="No progress bar or warnings; only errors on stderr."
            ),
        ],
    )


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


def video_options(fn):
    """--codec / --crf / --audio-from: how a command writes videos."""
    return _apply(
        fn,
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
        ],
    )


# -- output ----------------------------------------------------------------------------------
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


def emit(result: dict, as_json: bool, human: str) -> None:
    click.echo(json.dumps(result) if as_json else human)


def run_each(files, outs, job, as_json: bool, human, fail_fast: bool, skip_existing: bool) -> None:
    """``job(src, dst)`` for every input (see :mod:`vaekit.runtime.batch`): one line per output
    (``human(result, dst)``), one ``error:`` line per failed input, a summary and a non-zero exit
    at the end if any failed; each output is locked while it is written."""
    from ..runtime.batch import run_batch

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
