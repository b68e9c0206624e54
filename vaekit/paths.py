"""Where a command's inputs come from and where its outputs go: folder expansion, output naming
and the collision rules, as plain functions (no click, no torch) that the CLI calls before any
work starts (docs/DESIGN.md, "Command line").

Every rule here refuses with an :class:`~vaekit.errors.InputError` (exit 2) or
:class:`~vaekit.errors.OutputError` (exit 3) before a model loads or a file is written; the only
side effect is :func:`output_paths` making the ``-o`` folder once everything has been checked.

It sits at the package's top level rather than in :mod:`vaekit.runtime` because importing
``vaekit.runtime`` imports torch, and bad inputs are refused before torch loads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import InputError, OutputError
from .io.atomic import make_folder

#: Names of vaekit's own outputs, skipped when a folder of videos is expanded (re-running a
#: command on a folder must not take last run's results as new inputs).
OWN_OUTPUT_TAGS = (".decoded", ".roundtrip")


def expand_inputs(paths: Iterable[str], want: str) -> list[Path]:
    """Files as given; folders expanded (sorted) to the videos/images (``want="video"``) or latent
    files (``want="latent"``) inside, without vaekit's own ``NAME.decoded.*`` /
    ``NAME.roundtrip.*`` outputs."""
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
    inputs: list[Path],
    out: str | None,
    default_for: Callable[[Path], Path],
    audio_from: str | None = None,
) -> list[Path]:
    """Where each input's output goes: beside the input (``default_for(input)``), into a folder
    ``-o DIR``, or ``-o FILE``.

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


def output_codecs(outs: list[Path], codec: str, codec_given: bool) -> dict[Path, str]:
    """The video encoder per output: ``codec``, or what the output's container takes when the codec
    was not chosen by the user (``codec_given`` false; ``.webm``: VP9); a pair that cannot work
    (``-o x.webm --codec libx264``, ``.gif``) is refused here, before any work (exit 2). Image
    outputs keep ``codec`` (it is not used for them)."""
    from .io.formats import codec_for
    from .io.names import IMAGE_SUFFIXES

    return {
        d: codec if d.suffix.lower() in IMAGE_SUFFIXES else codec_for(d, codec, codec_given) for d in outs
    }
