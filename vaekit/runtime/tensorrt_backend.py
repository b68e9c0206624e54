"""Run TensorRT engines of the step graphs on CUDA tensors, behind the streaming Backend interface.

Each engine is executed with TensorRT's name-based I/O (TensorRT 10/11): the input shapes are set
on the execution context, every input and output is a torch CUDA tensor whose address is given
with ``set_tensor_address``, and ``execute_async_v3`` runs on torch's current stream, so no copy
or synchronisation is added between torch and TensorRT. Engines accept only the shapes of the
profile they were built for; a chunk outside it is refused with the ranges and a way out
(tiling, a shorter chunk, or another profile), before TensorRT sees it.

The engine's JSON sidecar (written by ``vaekit export --format tensorrt``) carries the
:class:`~vaekit.runtime.graph_spec.GraphSpec` and the min/opt/max shape of every input.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import InputError, MissingDependencyError
from .backend import Cache
from .exported import ExportedBackend
from .graph_spec import GraphSpec

INSTALL_HINT = "pip install vaekit[gpu] on a machine with an NVIDIA GPU and driver"


def require_tensorrt():
    """The ``tensorrt`` module, if it is installed (10 or newer) and CUDA is available; else one
    MissingDependencyError line that names everything that is missing."""
    missing = []
    try:
        import tensorrt as trt
    except ImportError:
        trt = None
        missing.append("the tensorrt package is not installed")
    if not torch.cuda.is_available():
        missing.append("CUDA is not available (no NVIDIA GPU, driver or CUDA build of torch)")
    if missing:
        raise MissingDependencyError(f"the TensorRT backend cannot run: {'; '.join(missing)}; {INSTALL_HINT}")
    if int(trt.__version__.split(".")[0]) < 10:
        raise MissingDependencyError(
            f"TensorRT {trt.__version__} is too old (vaekit needs 10 or newer); {INSTALL_HINT}"
        )
    return trt


def check_shape(shapes: dict[str, dict], name: str, shape: tuple[int, ...], where: str) -> None:
    """Refuse a tensor shape outside the engine's profile (``shapes``: name -> min/opt/max)."""
    if name not in shapes:
        raise InputError(f"{where} has no input named {name!r}")
    lo, hi = shapes[name]["min"], shapes[name]["max"]
    if len(shape) == len(lo) and all(a <= s <= b for a, s, b in zip(lo, shape, hi, strict=True)):
        return
    axes = ("batch", "channels", "frames", "height", "width")
    bad = [
        f"{axis} {s} not in {a}..{b}"
        for axis, a, s, b in zip(axes, lo, shape, hi, strict=True)
        if not a <= s <= b
    ]
    raise InputError(
        f"{where}: input {name} of shape {tuple(shape)} is outside the engine's profile ({'; '.join(bad)}); "
        "use --tile SIZE, a smaller --chunk-frames, or export an engine with a larger --profile"
    )


class TensorRTStep:
    """One step-graph engine on one GPU: ``(x, cache) -> (out, new_cache)``."""

    def __init__(self, engine_path: str | Path, device: torch.device):
        trt = require_tensorrt()
        path = Path(engine_path)
        sidecar_file = path.with_name(path.name + ".json")
        try:
            sidecar = json.loads(sidecar_file.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(
                f"cannot read the engine sidecar {sidecar_file}: {e}; export the engine again"
            ) from None
        self.spec = GraphSpec.from_metadata(sidecar["graph"], str(sidecar_file))
        self.shapes = sidecar["shapes"]
        self.where = path.name
        self.device = device
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(device):
            self._runtime = trt.Runtime(self._logger)
            self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if self.engine is None:
                raise InputError(
                    f"TensorRT {trt.__version__} on {torch.cuda.get_device_name(device)} cannot load {path} (built with "
                    f"TensorRT {sidecar.get('tensorrt_version')} for {sidecar.get('gpu')}); export the engine again here"
                )
            self.context = self.engine.create_execution_context()

    def __call__(self, x: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        spec = self.spec
        x = x.contiguous()
        cache = [c.to(x.device, x.dtype).contiguous() for c in cache]
        inputs = {spec.input_name: x, **{c.input: t for c, t in zip(spec.caches, cache, strict=True)}}
        for name, t in inputs.items():
            check_shape(self.shapes, name, tuple(t.shape), self.where)
        out = torch.empty(spec.output_shape(tuple(x.shape)), dtype=x.dtype, device=x.device)
        new_cache = [torch.empty_like(c) for c in cache]
        outputs = {
            spec.output_name: out,
            **{c.output: t for c, t in zip(spec.caches, new_cache, strict=True)},
        }
        for name, t in inputs.items():
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        for name, t in outputs.items():
            self.context.set_tensor_address(name, t.data_ptr())
        stream = torch.cuda.current_stream(x.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(
                f"TensorRT failed to run {self.where} on inputs {[tuple(t.shape) for t in inputs.values()]}"
            )
        return out, new_cache


class TensorRTBackend(ExportedBackend):
    """Streams through TensorRT engines of the step graphs (either part may be absent)."""

    name = "tensorrt"

    def __init__(
        self,
        encoder: str | Path | None,
        decoder: str | Path | None,
        device: str | torch.device = "cuda",
        where: str = "the TensorRT export",
    ):
        require_tensorrt()
        device = torch.device(device)  # TensorRT always runs on a GPU; --device cuda:N picks which
        device = torch.device(
            "cuda", device.index if device.type == "cuda" and device.index is not None else 0
        )
        runners = {}
        for part, path in (("encoder", encoder), ("decoder", decoder)):
            if path is not None:
                runners[part] = TensorRTStep(path, device)
                if runners[part].spec.part != part:
                    raise InputError(f"{path} holds the {runners[part].spec.part}, not the {part}")
        super().__init__(runners, device, where)
