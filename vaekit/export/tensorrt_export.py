"""Build TensorRT engines from the exported ONNX step graphs, with TensorRT's Python API.

* **Strongly typed networks**: the precision of every layer is the one in the ONNX graph (fp32,
  or fp16/bf16 with norms and reductions cast to fp32 by the ONNX export). TensorRT 11 removed
  the FP16/BF16 builder flags and only builds strongly typed networks (the creation flag is
  accepted and ignored there); TensorRT 10 needs the flag, so it is always set.
* **One optimization profile per engine**, from the shape profile TOML: batch and frame size
  ranges as given, frames per step from ``temporal_compression`` to ``chunk_frames`` (opt: a full
  chunk), every cache input with the shape that follows from the frame size.
* fp32 engines run in true fp32 (TensorRT's default TF32 convolutions are switched off), so they
  meet the same parity bound as ONNX Runtime.
* **A timing cache** shared by all builds for one GPU and TensorRT version
  (``~/.cache/vaekit/tensorrt/``, or ``$VAEKIT_CACHE``): later builds skip kernel timing.
* The engine is written as ``PART.step.plan`` with a JSON sidecar (graph spec, shapes,
  precision, TensorRT version, GPU name and compute capability), both atomically.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from ..io.atomic import atomic_output, atomic_write_bytes, make_folder
from ..runtime.graph_spec import GraphSpec
from ..runtime.tensorrt_backend import require_tensorrt
from .artifacts import ENGINE_SUFFIX, sidecar_path
from .errors import ExportError
from .profiles import ShapeProfile

SIDECAR_FORMAT = "vaekit.tensorrt"


def engine_shapes(spec: GraphSpec, profile: ShapeProfile) -> dict[str, dict[str, tuple[int, ...]]]:
    """min/opt/max shape of every input of step graph ``spec`` under ``profile``."""
    tc = spec.temporal_compression
    frames = {"min": tc, "opt": profile.chunk_frames, "max": profile.chunk_frames}
    shapes: dict[str, dict[str, tuple[int, ...]]] = {spec.input_name: {}}
    for c in spec.caches:
        shapes[c.input] = {}
    for q in ("min", "opt", "max"):
        b, h, w = getattr(profile.batch, q), getattr(profile.height, q), getattr(profile.width, q)
        x = spec.input_shape(b, frames[q], h, w)
        shapes[spec.input_name][q] = x
        for c, shape in zip(spec.caches, spec.cache_shapes(b, x[3], x[4]), strict=True):
            shapes[c.input][q] = shape
    return shapes


def timing_cache_path(trt, device: torch.device) -> Path:
    root = Path(os.environ.get("VAEKIT_CACHE") or Path.home() / ".cache" / "vaekit") / "tensorrt"
    major, minor = torch.cuda.get_device_capability(device)
    return root / f"timing-trt{trt.__version__}-sm{major}{minor}.cache"


def _parse_errors(parser) -> str:
    return "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no details"


def build_engine(
    onnx_path: Path,
    spec: GraphSpec,
    profile: ShapeProfile,
    device: str | torch.device = "cuda",
    timing_cache: Path | None = None,
    workspace_bytes: int | None = None,
) -> Path:
    """Build ``PART.step.plan`` (and its sidecar) beside ``onnx_path``; returns the engine path."""
    trt = require_tensorrt()
    device = torch.device(device)
    if spec.kind != "step":
        raise ValueError("engines are built from step graphs")
    shapes = engine_shapes(spec, profile)
    cache_file = timing_cache or timing_cache_path(trt, device)
    logger = trt.Logger(trt.Logger.WARNING)
    t0 = time.perf_counter()
    with torch.cuda.device(device):
        builder = trt.Builder(logger)
        network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(onnx_path)):
            raise ExportError(f"TensorRT cannot parse {onnx_path.name}: {_parse_errors(parser)}")
        config = builder.create_builder_config()
        tf32 = spec.dtype != "fp32"
        if not tf32 and hasattr(trt.BuilderFlag, "TF32"):  # fp32 graphs run true fp32 (TF32 is on by default)
            config.clear_flag(trt.BuilderFlag.TF32)
        if workspace_bytes:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
        opt = builder.create_optimization_profile()
        for name, s in shapes.items():
            opt.set_shape(name, s["min"], s["opt"], s["max"])
        config.add_optimization_profile(opt)
        # a cache from another GPU or TensorRT version is refused by TensorRT: start afresh then
        blob = cache_file.read_bytes() if cache_file.is_file() else b""
        cache = config.create_timing_cache(blob) or config.create_timing_cache(b"")
        if not config.set_timing_cache(cache, ignore_mismatch=False):
            config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise ExportError(f"TensorRT could not build an engine from {onnx_path.name} (see its log above)")
        make_folder(cache_file.parent)
        atomic_write_bytes(cache_file, bytes(config.get_timing_cache().serialize()))
        gpu = torch.cuda.get_device_name(device)
        capability = ".".join(map(str, torch.cuda.get_device_capability(device)))
    engine = onnx_path.with_name(f"{spec.file_stem}{ENGINE_SUFFIX}")
    atomic_write_bytes(engine, bytes(serialized))
    sidecar = {
        "format": SIDECAR_FORMAT,
        "graph": spec.to_metadata(),
        "precision": spec.dtype,
        "strongly_typed": True,
        "tf32": tf32,
        "profile": profile.to_dict(),
        "shapes": {name: {q: list(v) for q, v in s.items()} for name, s in shapes.items()},
        "onnx": onnx_path.name,
        "tensorrt_version": trt.__version__,
        "gpu": gpu,
        "compute_capability": capability,
        "timing_cache": str(cache_file),
        "build_seconds": round(time.perf_counter() - t0, 1),
    }
    with atomic_output(sidecar_path(engine)) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2) + "\n")
    return engine
