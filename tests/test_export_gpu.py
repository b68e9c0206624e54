"""TensorRT engines and onnxruntime-gpu on CUDA (``pytest -m gpu``); skipped without a GPU.

These build real engines for the tiny preset and check them against the torch model through the
same streaming engine and file jobs as on the CPU.
"""

import dataclasses
import importlib.util
import json
import warnings

import pytest
import torch

from vaekit.errors import InputError
from vaekit.export import export, load_profile, open_backend
from vaekit.export.profiles import Range
from vaekit.io.latent_file import LatentReader
from vaekit.io.synthetic import write_sample_clip
from vaekit.model import UntrainedWeightsWarning, load_model
from vaekit.runtime import TorchBackend, encode_all
from vaekit.runtime.jobs import StreamOptions, decode_file, encode_file

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.filterwarnings("ignore::vaekit.model.UntrainedWeightsWarning"),
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
needs_tensorrt = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="needs tensorrt")

#: the 256p profile cut down to small frames: quick builds, still several chunks per clip
SMALL = dataclasses.replace(
    load_profile("256p"), name="small", height=Range(32, 64, 128), width=Range(32, 96, 128)
)


def tiny():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedWeightsWarning)
        return load_model("tiny")


@needs_tensorrt
@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_tensorrt_engines_match_torch(tmp_path, dtype):
    out = tmp_path / f"trt-{dtype}"
    result = export(tiny(), "tensorrt", out, dtype=dtype, profile=SMALL)
    report, _ = result.reports["tensorrt"]
    assert report.passed and report.not_run == 0
    sidecar = json.loads((out / "encoder.step.plan.json").read_text())
    assert sidecar["precision"] == dtype and sidecar["strongly_typed"] and sidecar["gpu"]
    assert sidecar["shapes"]["x"]["max"] == [4, 3, 16, 128, 128]
    assert (out / "decoder.step.plan").stat().st_size > 0


@needs_tensorrt
def test_tensorrt_latents_decode_with_torch_and_shapes_outside_are_refused(tmp_path):
    out = tmp_path / "trt"
    export(tiny(), "tensorrt", out, profile=SMALL)
    clip = write_sample_clip(tmp_path / "c.mp4", num_frames=13, width=96, height=64)
    trt_backend = open_backend("tensorrt", out, model="tiny")
    opts = StreamOptions(chunk_frames=16)
    encode_file(trt_backend, clip, tmp_path / "a.latent.safetensors", opts)
    encode_file(TorchBackend(tiny()), clip, tmp_path / "b.latent.safetensors", opts)
    za = next(LatentReader(tmp_path / "a.latent.safetensors").iter_chunks(100))
    zb = next(LatentReader(tmp_path / "b.latent.safetensors").iter_chunks(100))
    assert (za - zb).abs().max() < 1e-3
    r = decode_file(TorchBackend(tiny()), tmp_path / "a.latent.safetensors", tmp_path / "a.mp4", opts)
    assert r["frames"] == 13
    big = write_sample_clip(tmp_path / "big.mp4", num_frames=5, width=256, height=64)  # wider than 128
    with pytest.raises(InputError, match="outside the engine's profile"):
        encode_file(trt_backend, big, tmp_path / "big.latent.safetensors", opts)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs onnxruntime")
def test_onnxruntime_gpu_runs_on_cuda_when_installed(tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is not installed")
    out = tmp_path / "onnx"
    export(tiny(), "onnx", out, part="encoder", profile=SMALL)
    backend = open_backend("onnx", out, device="cuda")
    assert backend.device.type == "cuda" and backend.providers["encoder"][0] == "CUDAExecutionProvider"
    x = torch.rand(1, 3, 9, 64, 96, device="cuda") * 2 - 1
    moments = encode_all(backend, x, 8)
    with torch.no_grad():
        want = tiny().cuda().encode(x).mean
    assert (moments[:, :16] - want).abs().max() < 1e-3
