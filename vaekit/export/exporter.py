"""``vaekit export``: one call that writes an export, checks it against the torch model and
stores the parity numbers beside it.

Formats: ``safetensors`` (a model folder), ``onnx`` (step and clip graphs per part) and
``tensorrt`` (the ONNX export plus an engine per step graph; needs CUDA and the ``tensorrt``
package, checked before any work starts). A folder holds one model, and one dtype for its graphs
and engines (see :mod:`.artifacts`). Everything is made in a hidden staging folder next to the
target and moved into it, and recorded in its ``manifest.json``, only when every parity check
passed (:mod:`.manifest`); an interruption leaves the target as it was. A parity failure raises
:class:`~.errors.ExportError` after the failed report is kept as ``parity.FORMAT.failed.json``,
so the numbers are always there to read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime
import torch

from .. import dtypes
from ..errors import InputError
from ..io.atomic import atomic_write_bytes, make_folder
from ..model import CausalVideoVAE, load_model, weights_sha256
from ..runtime.tensorrt_backend import require_tensorrt
from . import manifest, parity
from .artifacts import check_export_target, read_sidecar, sidecar_path
from .onnx_export import OPSET, OnnxGraph, export_onnx_graph
from .profiles import DEFAULT_PROFILE, ShapeProfile, load_profile
from .safetensors_export import export_safetensors

FORMATS = ("safetensors", "onnx", "tensorrt")
PARTS = ("encoder", "decoder", "all")
DTYPES = dtypes.NAMES


@dataclass
class ExportResult:
    format: str
    out_dir: Path
    #: the artifacts (graphs, engines and their sidecars, or the model folder's two files)
    files: list[Path] = field(default_factory=list)
    #: format -> (parity report, its parity.<format>.json); a tensorrt export has onnx's too
    reports: dict[str, tuple[parity.ParityReport, Path]] = field(default_factory=dict)
    #: every file this export put into ``out_dir``: the artifacts, the parity reports, manifest.json
    written: list[Path] = field(default_factory=list)
    #: format -> the artifacts of that format (what its manifest entry lists)
    by_format: dict[str, list[Path]] = field(default_factory=dict)


@dataclass
class _Job:
    """One export in progress: what every format step needs."""

    model: CausalVideoVAE
    sha256: str
    dtype: str
    profile: ShapeProfile
    ref: parity.Reference
    result: ExportResult
    log: Callable[[str], None]
    #: where the files end up (they are made in ``result.out_dir``, a staging folder, until then)
    final: Path = Path()

    def report(self, fmt: str, device: str, checks: list[parity.Check], **environment: str) -> None:
        """Write ``parity.<fmt>.json`` and log every check."""
        report = parity.ParityReport(
            fmt,
            self.dtype,
            self.model.config.name,
            self.sha256,
            clip={
                "source": self.ref.source,
                "shape": list(self.ref.clip.shape),
                "chunk_frames": self.ref.chunk_frames,
            },
            device=device,
            checks=checks,
            environment=parity.environment(**environment),
        )
        path = report.write(self.result.out_dir)
        self.result.reports[fmt] = (report, path)
        for c in checks:
            self.log(f"parity {c.line()}")
        self.log(f"checked {self.final / path.name}  ({report.summary()})")

    def wrote(self, fmt: str, path: Path, note: str = "") -> None:
        self.result.files.append(path)
        self.result.by_format.setdefault(fmt, []).append(path)
        self.log(f"made {self.final / path.name}" + (f"  ({note})" if note else ""))


def _silent(line: str) -> None:
    return None


def export(
    model: str | os.PathLike | CausalVideoVAE,
    fmt: str,
    out_dir: str | os.PathLike,
    *,
    part: str = "all",
    dtype: str = "fp32",
    profile: str | os.PathLike | ShapeProfile = DEFAULT_PROFILE,
    clip: str | os.PathLike | None = None,
    device: str | torch.device = "cuda",
    log: Callable[[str], None] = _silent,
) -> ExportResult:
    """Export ``model`` (preset name, folder, or a loaded fp32 CPU model) as ``fmt`` into ``out_dir``.

    ``part`` selects encoder/decoder/all (graphs and engines), ``dtype`` the precision, ``profile``
    the shapes (a name from ``export/``, a TOML path or a :class:`ShapeProfile`), ``clip`` an
    optional video for the parity check, ``device`` the GPU for TensorRT. ``log`` gets one line
    per file written and per parity check. Raises :class:`ExportError` if a parity check fails.
    """
    _check_request(fmt, part, dtype)
    m = _fp32_model(model)
    sha = weights_sha256(m)
    prof = profile if isinstance(profile, ShapeProfile) else load_profile(profile)
    prof.check_model(m.spatial_compression, m.temporal_compression)
    out = Path(out_dir)
    check_export_target(out, m.config.name, sha, None if fmt == "safetensors" else dtype)
    frames, source = parity.parity_clip(prof, m, clip)
    ref = parity.reference(m, frames, source, prof.chunk_frames)
    with manifest.staging_folder(out) as stage:  # nothing lands in ``out`` before parity passed
        job = _Job(m, sha, dtype, prof, ref, ExportResult(fmt, stage), log, out)
        if fmt == "safetensors":
            for path in export_safetensors(m, stage, dtype):
                job.wrote("safetensors", path)
            job.report("safetensors", "cpu", parity.safetensors_checks(stage, m, ref, dtype))
        else:
            graphs = _onnx(job, ("encoder", "decoder") if part == "all" else (part,))
            if fmt == "tensorrt":
                _tensorrt(job, graphs, torch.device(device))
        _keep_failed_reports(job.result, out)
        entries = {
            f: manifest.entry(job.result.by_format[f], "" if f == "safetensors" else dtype, path, rep.not_run)
            for f, (rep, path) in job.result.reports.items()
        }
        written = manifest.commit(stage, out, entries, m.config.name, sha)
    r = job.result
    moved = lambda p: out / p.name  # noqa: E731
    r.out_dir, r.written = out, written
    r.files = [moved(p) for p in r.files]
    r.by_format = {f: [moved(p) for p in ps] for f, ps in r.by_format.items()}
    r.reports = {f: (rep, moved(path)) for f, (rep, path) in r.reports.items()}
    log(
        f"wrote {len(written)} files into {out} ({len(r.files)} artifacts, parity reports, {manifest.MANIFEST_NAME})"
    )
    return r


def _keep_failed_reports(result: ExportResult, out: Path) -> None:
    """If a parity check failed: the staged export is dropped, ``out`` keeps what it held, and the
    failed report goes to ``out/parity.FORMAT.failed.json`` so its numbers can be read; raises."""
    failed = [(rep, path) for rep, path in result.reports.values() if not rep.passed]
    if not failed:
        return
    make_folder(out)
    kept = []
    for rep, path in failed:
        target = out / f"{path.stem}.failed.json"
        atomic_write_bytes(target, path.read_bytes())
        kept.append((rep, target))
    rep, target = kept[0]
    rep.raise_if_failed(target)


def _check_request(fmt: str, part: str, dtype: str) -> None:
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if part not in PARTS or dtype not in DTYPES:
        raise InputError(
            f"--part takes {'/'.join(PARTS)} and --dtype {'/'.join(DTYPES)}, not {part!r}/{dtype!r}"
        )
    if fmt == "safetensors" and part != "all":
        raise InputError("--part applies to onnx and tensorrt; a safetensors export is a whole model folder")
    if fmt == "tensorrt":
        require_tensorrt()  # before minutes of ONNX export


def _fp32_model(model: str | os.PathLike | CausalVideoVAE) -> CausalVideoVAE:
    if not isinstance(model, CausalVideoVAE):
        return load_model(model)
    p = next(model.parameters())
    if (p.device.type, p.dtype) != ("cpu", torch.float32):
        raise InputError("export takes the model in fp32 on the CPU; --dtype sets the export's precision")
    return model


def _onnx(job: _Job, parts: tuple[str, ...]) -> dict[tuple[str, str], OnnxGraph]:
    """Step and clip graphs of ``parts``, then their parity on ONNX Runtime (CPU)."""
    graphs = {}
    for p in parts:
        for kind in ("step", "clip"):
            t0 = time.perf_counter()
            g = export_onnx_graph(job.model, p, kind, job.dtype, job.profile, job.sha256, job.result.out_dir)
            graphs[(p, kind)] = g
            kept = f", {g.fp32_reductions_added} reductions kept in fp32" if g.fp32_reductions_added else ""
            job.wrote("onnx", g.path, f"opset {OPSET[job.dtype]}, {time.perf_counter() - t0:.1f} s{kept}")
    checks = parity.onnx_checks({key: g.path for key, g in graphs.items()}, job.ref, job.dtype)
    job.report("onnx", "cpu", checks, onnxruntime=onnxruntime.__version__, onnx_opset=str(OPSET[job.dtype]))
    return graphs


def _tensorrt(job: _Job, graphs: dict[tuple[str, str], OnnxGraph], device: torch.device) -> None:
    """An engine per step graph, then their parity through the streaming engine on ``device``."""
    from .tensorrt_export import build_engine

    engines = {}
    for (p, kind), g in graphs.items():
        if kind == "step":
            t0 = time.perf_counter()
            engines[p] = build_engine(g.path, g.spec, job.profile, device)
            job.wrote("tensorrt", engines[p], f"{time.perf_counter() - t0:.1f} s")
            job.wrote("tensorrt", sidecar_path(engines[p]))
    info = read_sidecar(next(iter(engines.values())))
    checks = parity.tensorrt_checks(engines, job.ref, job.dtype, device)
    job.report(
        "tensorrt",
        str(device),
        checks,
        tensorrt=info["tensorrt_version"],
        gpu=info["gpu"],
        compute_capability=info["compute_capability"],
    )
