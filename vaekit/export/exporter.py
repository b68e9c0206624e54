"""``vaekit export``: one call that writes an export, checks it against the torch model and
stores the parity numbers beside it.

Formats: ``safetensors`` (a model folder), ``onnx`` (step and clip graphs per part) and
``tensorrt`` (the ONNX export plus an engine per step graph; needs CUDA and the ``tensorrt``
package, checked before any work starts). A folder holds one model, and one dtype for its graphs
and engines (see :mod:`.artifacts`). Parity failures raise :class:`~.errors.ExportError` after
the report is written, so the numbers are always there to read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import InputError, OutputError
from ..model import CausalVideoVAE, load_model, weights_sha256
from . import parity
from .artifacts import check_export_target, read_sidecar, sidecar_path
from .onnx_export import OPSET, export_onnx_graph
from .profiles import DEFAULT_PROFILE, ShapeProfile, load_profile
from .safetensors_export import export_safetensors

FORMATS = ("safetensors", "onnx", "tensorrt")
PARTS = ("encoder", "decoder", "all")
DTYPES = ("fp32", "fp16", "bf16")


@dataclass
class ExportResult:
    format: str
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    #: format -> (parity report, its parity.<format>.json); a tensorrt export has onnx's too
    parity: dict[str, tuple[parity.ParityReport, Path]] = field(default_factory=dict)


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
    """Export ``model`` (preset name, folder or loaded model) as ``fmt`` into ``out_dir``.

    ``part`` selects encoder/decoder/all (graphs and engines), ``dtype`` the precision, ``profile``
    the shapes (a name from ``export/``, a TOML path or a :class:`ShapeProfile`), ``clip`` an
    optional video for the parity check, ``device`` the GPU for TensorRT. ``log`` gets one line
    per file written and per parity check.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if part not in PARTS or dtype not in DTYPES:
        raise InputError(
            f"--part takes {'/'.join(PARTS)} and --dtype {'/'.join(DTYPES)}, not {part!r}/{dtype!r}"
        )
    if fmt == "safetensors" and part != "all":
        raise InputError("--part applies to onnx and tensorrt; a safetensors export is a whole model folder")
    if fmt == "tensorrt":
        from ..runtime.tensorrt_backend import require_tensorrt

        require_tensorrt()  # before minutes of ONNX export
    if isinstance(model, CausalVideoVAE):
        m = model
        p = next(m.parameters())
        if (p.device.type, p.dtype) != ("cpu", torch.float32):
            raise InputError("export takes the model in fp32 on the CPU; --dtype sets the export's precision")
    else:
        m = load_model(model)
    sha = weights_sha256(m)
    prof = profile if isinstance(profile, ShapeProfile) else load_profile(profile)
    prof.check_model(m.spatial_compression, m.temporal_compression)
    out = Path(out_dir)
    check_export_target(out, m.config.name, sha, None if fmt == "safetensors" else dtype)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {out}: {e.strerror}") from None
    frames, source = parity.parity_clip(prof, m, clip)
    ref = parity.reference(m, frames, source, prof.chunk_frames)
    result = ExportResult(fmt, out)
    context = dict(
        dtype=dtype,
        model_name=m.config.name,
        model_sha256=sha,
        clip={"source": source, "shape": list(frames.shape), "chunk_frames": prof.chunk_frames},
    )

    if fmt == "safetensors":
        result.files = export_safetensors(m, out, dtype)
        _log_files(log, result.files)
        checks = parity.safetensors_checks(out, m, ref, dtype)
        _report(
            result,
            log,
            parity.ParityReport(
                "safetensors", device="cpu", checks=checks, environment=parity.environment(), **context
            ),
        )
        return result

    parts = ("encoder", "decoder") if part == "all" else (part,)
    graphs = {}
    for p in parts:
        for kind in ("step", "clip"):
            t0 = time.perf_counter()
            g = export_onnx_graph(m, p, kind, dtype, prof, sha, out)
            graphs[(p, kind)] = g
            result.files.append(g.path)
            extra = f", {g.fp32_reductions_added} reductions kept in fp32" if g.fp32_reductions_added else ""
            log(f"wrote {g.path}  (opset {OPSET[dtype]}, {time.perf_counter() - t0:.1f} s{extra})")
    import onnxruntime

    checks = parity.onnx_checks({key: g.path for key, g in graphs.items()}, ref, dtype)
    _report(
        result,
        log,
        parity.ParityReport(
            "onnx",
            device="cpu",
            checks=checks,
            environment=parity.environment(
                onnx_opset=str(OPSET[dtype]),
                onnxruntime=onnxruntime.__version__,
                providers="CPUExecutionProvider",
            ),
            **context,
        ),
    )
    if fmt == "tensorrt":
        _tensorrt(result, graphs, prof, ref, dtype, torch.device(device), log, context)
    for report, path in result.parity.values():
        report.raise_if_failed(path)
    return result


def _tensorrt(result, graphs, prof, ref, dtype, device, log, context) -> None:
    from .tensorrt_export import build_engine

    engines = {}
    for (p, kind), g in graphs.items():
        if kind != "step":
            continue
        t0 = time.perf_counter()
        engines[p] = build_engine(g.path, g.spec, prof, device)
        result.files += [engines[p], sidecar_path(engines[p])]
        log(f"wrote {engines[p]}  ({time.perf_counter() - t0:.1f} s)")
    checks = parity.tensorrt_checks(engines, ref, dtype, device)
    info = read_sidecar(next(iter(engines.values())))
    _report(
        result,
        log,
        parity.ParityReport(
            "tensorrt",
            device=str(device),
            checks=checks,
            environment=parity.environment(
                tensorrt=info["tensorrt_version"],
                gpu=info["gpu"],
                compute_capability=info["compute_capability"],
            ),
            **context,
        ),
    )


def _log_files(log, files: list[Path]) -> None:
    for f in files:
        log(f"wrote {f}")


def _report(result: ExportResult, log, report: parity.ParityReport) -> None:
    path = report.write(result.out_dir)
    result.parity[report.format] = (report, path)
    for c in report.checks:
        log(f"parity {c.line()}")
    log(f"wrote {path}  ({report.summary()})")
