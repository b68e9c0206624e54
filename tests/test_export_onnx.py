"""ONNX export of the tiny preset: graph checks, parity, streaming equality, cross-backend latents.

One fp32 export of both parts (step and clip graphs) is made per module and shared; tracing is
what costs time (about 10 s a graph), not the checks.
"""

import dataclasses
import json
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from modelkit import SMALL

from vaekit.cli import main
from vaekit.errors import InputError, ModelMismatchError
from vaekit.export import export, load_profile, open_backend, read_artifacts
from vaekit.export.artifacts import onnx_spec
from vaekit.export.onnx_export import export_onnx_graph
from vaekit.export.onnx_passes import low_precision_math
from vaekit.export.profiles import Range
from vaekit.export.tensorrt_export import engine_shapes
from vaekit.io.latent_file import LatentReader
from vaekit.io.synthetic import write_sample_clip
from vaekit.io.video import probe
from vaekit.model import (
    CausalVideoVAE,
    UntrainedWeightsWarning,
    VAEConfig,
    load_model,
    save_model,
    weights_sha256,
)
from vaekit.runtime import TileSpec, TorchBackend, decode_all, encode_all
from vaekit.runtime.jobs import StreamOptions, decode_file, encode_file
from vaekit.runtime.onnx_backend import OnnxBackend, ProviderFallbackWarning
from vaekit.runtime.tensorrt_backend import check_shape

pytestmark = pytest.mark.filterwarnings("ignore::vaekit.model.UntrainedWeightsWarning")

# a small profile keeps the parity clip small (17 frames of 64x64); graphs stay fully dynamic
PROFILE = dataclasses.replace(
    load_profile("256p"), name="test", chunk_frames=8, height=Range(32, 64, 64), width=Range(32, 64, 64)
)
NO_TILES = TileSpec(mode="off")


def tiny():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedWeightsWarning)
        return load_model("tiny")


@pytest.fixture(scope="module")
def model():
    return tiny()


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory, model):
    out = tmp_path_factory.mktemp("onnx") / "tiny-onnx"
    lines = []
    result = export(model, "onnx", out, profile=PROFILE, log=lines.append)
    assert len(result.files) == 4 and any(line.startswith("parity encoder.step.onnx") for line in lines)
    return out


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    return write_sample_clip(
        tmp_path_factory.mktemp("clips") / "clip.mp4", num_frames=13, width=72, height=40
    )


def test_graphs_are_valid_and_load_in_a_fresh_session(onnx_dir, model):
    names = sorted(p.name for p in onnx_dir.glob("*.onnx"))
    assert names == ["decoder.clip.onnx", "decoder.step.onnx", "encoder.clip.onnx", "encoder.step.onnx"]
    sha = weights_sha256(model)
    for name in names:
        proto = onnx.load(onnx_dir / name)
        onnx.checker.check_model(proto, full_check=True)
        assert proto.opset_import[0].version >= 17
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["model_sha256"] == sha and meta["vaekit_version"] and meta["chunk_frames"] == "8"
        assert json.loads(meta["scaling"])["scaling_factor"] == model.config.scaling_factor
        session = ort.InferenceSession(str(onnx_dir / name), providers=["CPUExecutionProvider"])
        dims = {i.name: i.shape for i in session.get_inputs()}
        main_input = dims.pop(
            "x" if name.startswith("encoder.step") else "video" if name.startswith("encoder") else "z"
        )
        assert main_input[0] == "batch" and all(
            isinstance(d, str) for d in main_input[2:]
        )  # dynamic b, t, h, w
        caches = json.loads(meta["caches"])
        assert list(dims) == [c["input"] for c in caches] == [f"cache_in_{i}" for i in range(len(caches))]
        outputs = [o.name for o in session.get_outputs()][1:]
        assert outputs == [c["output"] for c in caches]
    step = onnx_spec(onnx_dir / "encoder.step.onnx")
    # v1: one cache per block (4); v2 tiny: two per motion block (levels 1, 2) + the lead-in flag (8)
    assert len(step.caches) == len(model.encoder.init_cache(1, 64, 64)) == (4 if model.config.is_v1 else 8)


def test_parity_report_within_bounds(onnx_dir):
    report = json.loads((onnx_dir / "parity.onnx.json").read_text())
    assert report["passed"] and report["not_run"] == 0 and report["dtype"] == "fp32"
    checked = {(c["artifact"], c["quantity"]) for c in report["checks"]}
    for part, quantities in (("encoder", ("latent mean", "latent logvar")), ("decoder", ("decoded pixels",))):
        for kind in ("step", "clip"):
            assert all((f"{part}.{kind}.onnx", q) in checked for q in quantities)
    assert all(c["max_abs_error"] < 1e-3 and c["reference_max_abs"] > 0.1 for c in report["checks"])


@pytest.mark.parametrize("chunk", [4, 12])
def test_streaming_step_graphs_equal_whole_clip_torch(onnx_dir, model, chunk):
    """Other sizes, batch and chunk lengths than at export: the graphs are dynamic and the cache
    carries across chunks exactly as in torch."""
    backend = open_backend("onnx", onnx_dir)
    x = torch.rand(2, 3, 11, 40, 72) * 2 - 1
    with torch.no_grad():
        whole = model.encode(x)
        pixels = model.decode(whole.mean)
    moments = encode_all(backend, x, chunk, NO_TILES)
    assert (moments[:, :16] - whole.mean).abs().max() < 1e-4
    assert (moments[:, 16:].clamp(-30, 20) - whole.logvar).abs().max() < 1e-4
    assert (decode_all(backend, whole.mean, chunk, NO_TILES) - pixels).abs().max() < 1e-4


def test_clip_graphs_take_any_frame_count(onnx_dir, model):
    enc = ort.InferenceSession(str(onnx_dir / "encoder.clip.onnx"), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(onnx_dir / "decoder.clip.onnx"), providers=["CPUExecutionProvider"])
    for frames in (1, 9):  # a single image and 1 + 4*2 frames
        x = torch.rand(1, 3, frames, 24, 56) * 2 - 1
        with torch.no_grad():
            want = model.encode(x)
            pixels = model.decode(want.mean)
        (moments,) = enc.run(None, {"video": x.numpy()})
        assert np.abs(moments[:, :16] - want.mean.numpy()).max() < 1e-4
        (video,) = dec.run(None, {"z": want.mean.numpy()})
        assert video.shape == (1, 3, frames, 24, 56) and np.abs(video - pixels.numpy()).max() < 1e-4


def test_latents_cross_backends(onnx_dir, model, clip_file, tmp_path):
    """A latent encoded with ONNX decodes with torch and vice versa; the files are the same."""
    onnx_backend, torch_backend = open_backend("onnx", onnx_dir, model="tiny"), TorchBackend(model)
    assert onnx_backend.model_sha256 == torch_backend.model_sha256
    opts = StreamOptions(chunk_frames=8)
    for enc, dec, name in ((onnx_backend, torch_backend, "o2t"), (torch_backend, onnx_backend, "t2o")):
        latent, video = tmp_path / f"{name}.latent.safetensors", tmp_path / f"{name}.mp4"
        encode_file(enc, clip_file, latent, opts)
        r = decode_file(dec, latent, video, opts)
        info = probe(video)
        assert (r["frames"], info.width, info.height) == (13, 72, 40)
    a, b = (
        LatentReader(tmp_path / "o2t.latent.safetensors"),
        LatentReader(tmp_path / "t2o.latent.safetensors"),
    )
    assert a.info == b.info
    za, zb = next(a.iter_chunks(100)), next(b.iter_chunks(100))
    assert za.shape == (16, 4, 5, 9) and (za - zb).abs().max() < 1e-4


def test_backend_with_one_part_names_the_missing_one(onnx_dir):
    backend = OnnxBackend(onnx_dir / "encoder.step.onnx", None)
    with pytest.raises(
        InputError, match="has no decoder step graph; export it with `vaekit export --part decoder`"
    ):
        backend.init_decoder_cache(1, 8, 8)


def test_artifacts_of_another_model_are_refused(onnx_dir, tmp_path):
    other = tmp_path / "other-model"
    torch.manual_seed(3)
    save_model(CausalVideoVAE(VAEConfig(**SMALL)), other)
    with pytest.raises(ModelMismatchError) as e:
        open_backend("onnx", onnx_dir, model=str(other))
    assert "exported from model 'tiny'" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ModelMismatchError, match="already holds artifacts of model 'tiny'"):
        export(str(other), "onnx", onnx_dir)
    with pytest.raises(InputError, match="already holds fp32 graphs"):
        export("tiny", "onnx", onnx_dir, dtype="fp16")
    assert {a.format for a in read_artifacts(onnx_dir)} == {"onnx"}


def test_engine_profile_shapes_follow_the_graph(onnx_dir):
    spec = onnx_spec(onnx_dir / "decoder.step.onnx")
    shapes = engine_shapes(spec, load_profile("256p"))
    assert shapes["z"] == {"min": (1, 16, 1, 8, 8), "opt": (1, 16, 4, 32, 57), "max": (4, 16, 4, 64, 64)}
    assert len(shapes) == 1 + len(spec.caches)
    first = spec.caches[0]
    assert shapes[first.input]["max"] == (4, first.channels, first.frames, 64, 64)
    as_json = {k: {q: list(v) for q, v in s.items()} for k, s in shapes.items()}
    with pytest.raises(InputError, match="height 96 not in 8..64"):
        check_shape(as_json, "z", (1, 16, 2, 96, 32), "decoder.step.plan")


def test_asking_for_cuda_without_it_warns_and_runs_on_cpu(onnx_dir):
    with pytest.warns(ProviderFallbackWarning, match="CUDA was asked for but ONNX Runtime runs on the CPU"):
        backend = OnnxBackend(onnx_dir / "encoder.step.onnx", None, "cuda")
    assert backend.device.type == "cpu" and backend.providers["encoder"] == ["CPUExecutionProvider"]
    moments, _ = backend.encode_step(torch.zeros(1, 3, 4, 16, 16), backend.init_encoder_cache(1, 16, 16))
    assert moments.shape == (1, 32, 1, 2, 2)


def test_fp16_graph_keeps_norms_and_reductions_in_fp32(model, tmp_path):
    graph = export_onnx_graph(model, "encoder", "step", "fp16", PROFILE, weights_sha256(model), tmp_path)
    assert graph.fp32_reductions_added == 3  # two downsampling shortcuts and the latent shortcut
    proto = onnx.load(graph.path)
    assert low_precision_math(proto) == []
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    backend = OnnxBackend(graph.path, None)
    x = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    with torch.no_grad():
        want = model.encode(x).mean
    got = encode_all(backend, x, 8, NO_TILES)
    assert got.dtype == torch.float16 and (got[:, :16].float() - want).abs().max() < 2e-2


def test_cli_encode_with_onnx_decode_with_torch(onnx_dir, clip_file, tmp_path):
    runner = CliRunner()
    latent = tmp_path / "c.latent.safetensors"
    r = runner.invoke(
        main,
        [
            "encode",
            str(clip_file),
            "-o",
            str(latent),
            "--backend",
            "onnx",
            "--artifacts",
            str(onnx_dir),
            "--chunk-frames",
            "8",
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        main, ["decode", str(latent), "-o", str(tmp_path / "c.mp4"), "--backend", "torch", "-q"]
    )
    assert r.exit_code == 0, r.output
    assert probe(tmp_path / "c.mp4").frame_count == 13
    r = runner.invoke(
        main, ["encode", str(clip_file), "--backend", "onnx", "--artifacts", str(tmp_path / "nope")]
    )
    assert r.exit_code == 2 and r.output.strip().count("\n") == 0
    assert "artifacts folder" in r.output and "does not exist" in r.output
