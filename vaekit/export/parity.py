"""Parity: run every export against the torch model on a real clip; keep the numbers beside it.

The reference is the fp32 torch model on the whole clip at once (no chunks, no tiles). Step
graphs run through the same streaming engine as ``vaekit encode`` (several chunks, so the cache
hand-over is checked too); clip graphs run on the whole aligned clip. The decoders get the
reference latents, so encoder and decoder errors are measured separately. The clip is a camera
moving over a photograph (:mod:`vaekit.io.synthetic`) unless a video file is given.

Each check reports the max absolute error, the largest reference value (for scale) and the
tolerance of the export's dtype; the report is written as ``parity.<format>.json``.
"""

from __future__ import annotations

import copy
import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from .. import __version__
from ..io.atomic import atomic_output
from ..io.synthetic import camera_motion_clip
from ..io.video import iter_frames
from ..model import CausalVideoVAE, load_model
from ..runtime.backend import Backend
from ..runtime.onnx_backend import OnnxBackend
from ..runtime.pixels import frames_to_tensor
from ..runtime.streaming import decode_all, encode_all
from ..runtime.tiling import TileSpec
from .errors import ExportError
from .profiles import ShapeProfile
from .safetensors_export import weight_error

#: max absolute error allowed against the fp32 torch model, by export dtype (fp16 keeps ~3
#: decimal digits, bf16 ~2; the fp32 bound is the project's requirement)
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "bf16": 1e-1}
NO_TILES = TileSpec(mode="off")


@dataclass
class Check:
    artifact: str
    quantity: str
    max_abs_error: float | None
    reference_max_abs: float
    tolerance: float
    skipped: str = ""

    @property
    def passed(self) -> bool:
        """Within tolerance, or not run (a check that could not run is reported, not failed)."""
        return bool(self.skipped) or (self.max_abs_error is not None and self.max_abs_error <= self.tolerance)

    def line(self) -> str:
        if self.skipped:
            return f"{self.artifact:24s} {self.quantity:14s} not run: {self.skipped}"
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"{self.artifact:24s} {self.quantity:14s} max abs error {self.max_abs_error:.3e}  "
            f"(tolerance {self.tolerance:.0e}, reference max {self.reference_max_abs:.3g})  {verdict}"
        )


@dataclass
class Reference:
    """The clip and what the fp32 torch model makes of it, whole-clip."""

    clip: torch.Tensor  # 1, 3, T, H, W in [-1, 1], H/W multiples of the spatial compression
    aligned: torch.Tensor  # the clip padded to 1 + tc*k frames
    moments: torch.Tensor
    pixels: torch.Tensor  # decoded from the latent means, padded clip length
    source: str
    chunk_frames: int

    @property
    def latents(self) -> torch.Tensor:
        return self.moments[:, : self.moments.shape[1] // 2]


@dataclass
class ParityReport:
    format: str
    dtype: str
    model_name: str
    model_sha256: str
    clip: dict
    device: str
    checks: list[Check] = field(default_factory=list)
    environment: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every check that ran is within tolerance (see :attr:`not_run` for those that could not)."""
        return all(c.passed for c in self.checks)

    @property
    def not_run(self) -> int:
        return sum(bool(c.skipped) for c in self.checks)

    def summary(self) -> str:
        ran = len(self.checks) - self.not_run
        verdict = "passed" if self.passed else "FAILED"
        return f"{verdict}, {ran} checks run" + (f", {self.not_run} not run" if self.not_run else "")

    def to_dict(self) -> dict:
        d = asdict(self)
        for c, cd in zip(self.checks, d["checks"], strict=True):
            cd["passed"] = None if c.skipped else c.passed
        d["passed"] = self.passed
        d["not_run"] = self.not_run
        return d

    def write(self, out_dir: Path) -> Path:
        path = out_dir / f"parity.{self.format}.json"
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def raise_if_failed(self, path: Path) -> None:
        failed = [c for c in self.checks if not c.passed]
        if failed:
            worst = max(failed, key=lambda c: c.max_abs_error / max(c.tolerance, 1e-30))  # fp32 safetensors: 0
            raise ExportError(
                f"parity failed for {len(failed)} check(s); worst: {worst.artifact} {worst.quantity} max abs error "
                f"{worst.max_abs_error:.3e} > {worst.tolerance:.0e} (details in {path})"
            )


def _fit(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Scale ``1, 3, T, h, w`` frames to cover ``height x width``, then center-crop to it."""
    _, _, t, h, w = frames.shape
    s = max(height / h, width / w)
    nh, nw = max(height, round(h * s)), max(width, round(w * s))
    x = F.interpolate(
        frames[0].transpose(0, 1), size=(nh, nw), mode="bilinear", antialias=True, align_corners=False
    )
    top, left = (nh - height) // 2, (nw - width) // 2
    return x[:, :, top : top + height, left : left + width].transpose(0, 1)[None].clamp(-1, 1)


def parity_clip(
    profile: ShapeProfile, model: CausalVideoVAE, video: str | Path | None = None
) -> tuple[torch.Tensor, str]:
    """The clip parity runs on: ``chunk_frames + 2*tc + 1`` frames (a full chunk, then a shorter
    one) at a small size inside the profile. From ``video`` when given (scaled and cropped),
    else a camera moving over a photograph."""
    tc = model.temporal_compression
    frames = profile.chunk_frames + 2 * tc + 1
    height, width = profile.parity_size(model.spatial_compression)
    if video is None:
        pics = camera_motion_clip("astronaut", frames, width, height, seed=0)
        source = f"camera motion over the 'astronaut' photograph, {frames} frames {width}x{height}"
    else:
        pics = iter_frames(video)
        source = f"{video}, first {frames} frames scaled to {width}x{height}"
    clip = [frames_to_tensor(f) for f, _ in zip(pics, range(frames))]
    if len(clip) < frames:
        clip += [clip[-1]] * (frames - len(clip))  # a short video: hold its last frame
    return _fit(torch.cat(clip, dim=2), height, width), source


@torch.inference_mode()
def reference(model: CausalVideoVAE, clip: torch.Tensor, source: str, chunk_frames: int) -> Reference:
    """Whole-clip outputs of ``model`` run in fp32 on the CPU (``model`` itself is left as it is)."""
    p = next(model.parameters())
    m = (
        model
        if (p.device.type, p.dtype) == ("cpu", torch.float32)
        else copy.deepcopy(model).to("cpu", torch.float32)
    )
    aligned = m.pad_clip(clip)
    x = torch.cat([m.lead_in(aligned), aligned], dim=2)
    moments, _ = m.encoder(x, m.encoder.init_cache(1, *x.shape[3:]))
    pixels = m.decode(moments[:, : moments.shape[1] // 2])
    return Reference(clip, aligned, moments, pixels, source, chunk_frames)


def _check(artifact: str, quantity: str, got: torch.Tensor, want: torch.Tensor, tolerance: float) -> Check:
    if got.shape != want.shape:
        raise ExportError(
            f"{artifact}: {quantity} has shape {tuple(got.shape)}, the torch model gives {tuple(want.shape)}"
        )
    err = (got.detach().cpu().double() - want.double()).abs().max().item()
    return Check(artifact, quantity, err, want.abs().max().item(), tolerance)


def moment_checks(artifact: str, moments: torch.Tensor, ref: Reference, tolerance: float) -> list[Check]:
    c = ref.moments.shape[1] // 2
    return [
        _check(artifact, "latent mean", moments[:, :c], ref.moments[:, :c], tolerance),
        _check(artifact, "latent logvar", moments[:, c:], ref.moments[:, c:], tolerance),
    ]


def step_checks(backend: Backend, files: dict[str, str], ref: Reference, tolerance: float) -> list[Check]:
    """Stream the reference clip through ``backend``'s step graphs (``files``: part -> file name)."""
    checks = []
    if "encoder" in files:
        moments = encode_all(backend, ref.clip, ref.chunk_frames, NO_TILES)
        checks += moment_checks(files["encoder"], moments, ref, tolerance)
    if "decoder" in files:
        pixels = decode_all(backend, ref.latents, ref.chunk_frames, NO_TILES)
        checks.append(_check(files["decoder"], "decoded pixels", pixels, ref.pixels, tolerance))
    return checks


def environment(**extra: str) -> dict:
    return {
        "vaekit": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        **extra,
    }


def safetensors_checks(folder: Path, model: CausalVideoVAE, ref: Reference, dtype: str) -> list[Check]:
    """Load the exported folder back (computing in fp32) and compare weights and outputs; an fp32
    export must be bit-identical (tolerance 0)."""
    tolerance = 0.0 if dtype == "fp32" else TOLERANCE[dtype]
    loaded = load_model(folder)
    again = reference(loaded, ref.clip, ref.source, ref.chunk_frames)
    largest = max(p.abs().max().item() for p in model.state_dict().values())
    return [
        Check("model.safetensors", "weights", weight_error(loaded, model), largest, tolerance),
        *moment_checks("model.safetensors", again.moments, ref, tolerance),
        _check("model.safetensors", "decoded pixels", again.pixels, ref.pixels, tolerance),
    ]


def onnx_checks(graphs: dict[tuple[str, str], Path], ref: Reference, dtype: str) -> list[Check]:
    """Step graphs through the streaming engine on ONNX Runtime (CPU), clip graphs on the whole
    aligned clip; every graph in a fresh session. ``graphs``: (part, kind) -> file."""
    tolerance = TOLERANCE[dtype]
    if dtype == "bf16":
        reason = (
            "ONNX Runtime has no bf16 Conv kernel; bf16 graphs are checked through their TensorRT engines"
        )
        return [Check(p.name, "all outputs", None, 0.0, tolerance, skipped=reason) for p in graphs.values()]
    steps = {part: path for (part, kind), path in graphs.items() if kind == "step"}
    backend = OnnxBackend(steps.get("encoder"), steps.get("decoder"), "cpu")
    checks = step_checks(backend, {p: path.name for p, path in steps.items()}, ref, tolerance)
    np_dtype = np.float16 if dtype == "fp16" else np.float32
    for (part, kind), path in graphs.items():
        if kind != "clip":
            continue
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inp = ref.aligned if part == "encoder" else ref.latents
        (out,) = session.run(None, {session.get_inputs()[0].name: inp.numpy().astype(np_dtype)})
        out = torch.from_numpy(out.astype(np.float32))
        if part == "encoder":
            checks += moment_checks(path.name, out, ref, tolerance)
        else:
            checks.append(_check(path.name, "decoded pixels", out, ref.pixels, tolerance))
    return checks


def tensorrt_checks(
    engines: dict[str, Path], ref: Reference, dtype: str, device: torch.device
) -> list[Check]:
    """The engines through the streaming engine on ``device`` (``engines``: part -> file)."""
    from ..runtime.tensorrt_backend import TensorRTBackend

    backend = TensorRTBackend(engines.get("encoder"), engines.get("decoder"), device)
    return step_checks(backend, {p: path.name for p, path in engines.items()}, ref, TOLERANCE[dtype])
