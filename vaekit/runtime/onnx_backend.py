"""Run exported ONNX step graphs with ONNX Runtime, behind the same Backend interface as torch.

Tensors stay torch tensors on both sides: inputs and outputs are bound to ONNX Runtime by address
(I/O binding), so a step copies nothing on CPU and, with onnxruntime-gpu, nothing between host and
GPU either. ONNX Runtime quietly falls back to the CPU when its CUDA provider cannot load; this
backend checks the providers the session really got and warns when CUDA was asked for but the CPU
runs, so a slow run is never a mystery.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, MissingDependencyError
from .backend import Cache
from .exported import ExportedBackend
from .graph_spec import GraphSpec

_NUMPY_DTYPES = {torch.float32: np.float32, torch.float16: np.float16}


class ProviderFallbackWarning(UserWarning):
    """CUDA was asked for but ONNX Runtime runs the graph on the CPU."""


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError(
            "onnxruntime is not installed: pip install onnxruntime (CPU) or pip install vaekit[gpu] (CUDA)"
        ) from None
    return onnxruntime


def _providers(ort, device: torch.device) -> list:
    """Providers to ask for. CUDA is only asked for when torch sees a GPU (the tensors are torch's)
    and this ONNX Runtime build has the provider (asking one without it prints ORT's own
    multi-line complaint); otherwise the session runs on the CPU and :class:`OnnxStep` warns."""
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    if device.type != "cuda":
        raise InputError(f"--backend onnx runs on cpu or cuda, not on {device}")
    if torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers():
        return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxStep:
    """One step graph in an ONNX Runtime session: ``(x, cache) -> (out, new_cache)``."""

    def __init__(self, path: str | Path, device: torch.device, threads: int | None = None):
        ort = _ort()
        path = Path(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only; ORT's warnings about unused initializers are noise here
        try:
            self.session = ort.InferenceSession(str(path), options, providers=_providers(ort, device))
        except Exception as e:  # ORT raises its own exception types for unreadable or invalid graphs
            raise InputError(f"ONNX Runtime cannot load {path}: {str(e).splitlines()[0]}") from None
        self.spec = GraphSpec.from_metadata(self.session.get_modelmeta().custom_metadata_map, str(path))
        if self.spec.kind != "step":
            raise InputError(f"{path} is a {self.spec.kind} graph; the streaming backend runs step graphs")
        if self.spec.dtype == "bf16":
            raise InputError(
                f"{path} is a bf16 graph, which ONNX Runtime has no kernels for; run it with --backend tensorrt "
                "or export fp16/fp32 for --backend onnx"
            )
        self.providers = self.session.get_providers()
        self.device = device
        if device.type == "cuda" and self.providers[0] != "CUDAExecutionProvider":
            warnings.warn(
                f"CUDA was asked for but ONNX Runtime runs on the CPU (onnxruntime {ort.__version__} gave "
                f"{', '.join(self.providers)}); install onnxruntime-gpu for your CUDA: pip install vaekit[gpu]",
                ProviderFallbackWarning,
                stacklevel=2,
            )
            self.device = torch.device("cpu")
        self._ort_device = ("cuda", self.device.index or 0) if self.device.type == "cuda" else ("cpu", 0)

    def _bind(self, binding, name: str, t: torch.Tensor, output: bool) -> None:
        bind = binding.bind_output if output else binding.bind_input
        bind(name, *self._ort_device, _NUMPY_DTYPES[t.dtype], tuple(t.shape), t.data_ptr())

    def __call__(self, x: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        spec = self.spec
        x = x.contiguous()
        cache = [c.to(x.device, x.dtype).contiguous() for c in cache]
        out = torch.empty(spec.output_shape(tuple(x.shape)), dtype=x.dtype, device=x.device)
        new_cache = [torch.empty_like(c) for c in cache]
        binding = self.session.io_binding()
        self._bind(binding, spec.input_name, x, output=False)
        self._bind(binding, spec.output_name, out, output=True)
        for c_spec, c_in, c_out in zip(spec.caches, cache, new_cache, strict=True):
            self._bind(binding, c_spec.input, c_in, output=False)
            self._bind(binding, c_spec.output, c_out, output=True)
        if x.device.type == "cuda":
            torch.cuda.current_stream(x.device).synchronize()  # inputs written by torch are ready
        self.session.run_with_iobinding(binding)
        return out, new_cache


class OnnxBackend(ExportedBackend):
    """Streams through exported ONNX step graphs (either part may be absent)."""

    name = "onnx"

    def __init__(
        self,
        encoder: str | Path | None,
        decoder: str | Path | None,
        device: str | torch.device = "cpu",
        threads: int | None = None,
        where: str = "the ONNX export",
    ):
        device = torch.device(device)
        runners = {}
        for part, path in (("encoder", encoder), ("decoder", decoder)):
            if path is not None:
                runners[part] = OnnxStep(path, device, threads)
                if runners[part].spec.part != part:
                    raise InputError(f"{path} holds the {runners[part].spec.part}, not the {part}")
        super().__init__(runners, device, where)
        self.device = next(iter(runners.values())).device  # cpu when ONNX Runtime fell back
        self.providers = {part: r.providers for part, r in runners.items()}
