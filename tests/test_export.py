"""vaekit export without ONNX graphs: shape profiles, safetensors folders, the TensorRT guard,
the fp32-reduction pass, and the errors a user sees for bad inputs."""

import dataclasses
import json
import tomllib
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from modelkit import SMALL, small_model
from onnx import TensorProto, helper
from safetensors import safe_open

from vaekit.cli import main
from vaekit.errors import InputError, MissingDependencyError, ModelMismatchError
from vaekit.export import export, list_profiles, load_profile, open_backend
from vaekit.export.onnx_passes import keep_reductions_fp32, low_precision_math
from vaekit.export.profiles import ShapeProfile
from vaekit.model import CausalVideoVAE, UntrainedWeightsWarning, VAEConfig, load_model, save_model
from vaekit.runtime.tensorrt_backend import check_shape, require_tensorrt

pytestmark = pytest.mark.filterwarnings("ignore::vaekit.model.UntrainedWeightsWarning")
#: a small profile: the parity clip is 17 frames of 64x64
SMALL_PROFILE_TOML = """
name = "small"
chunk_frames = 8
batch = { min = 1, opt = 1, max = 1 }
height = { min = 32, opt = 64, max = 64 }
width = { min = 32, opt = 64, max = 64 }
"""
SMALL_PROFILE = ShapeProfile.from_dict(tomllib.loads(SMALL_PROFILE_TOML), "small.toml")


def tiny():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedWeightsWarning)
        return load_model("tiny")


# -- profiles ---------------------------------------------------------------------------------
def test_shipped_profiles_fit_the_presets():
    assert {"256p", "480p", "720p"} <= set(list_profiles())
    for name in ("256p", "480p", "720p"):
        p = load_profile(name)
        for preset in ("tiny", "base"):
            cfg = VAEConfig.from_json(f"models/{preset}/config.json")
            p.check_model(cfg.spatial_compression, cfg.temporal_compression)
        # the default 512 px tiles of large frames fit every profile
        assert p.height.contains(512) and p.width.contains(512)
        h, w = p.parity_size(8)
        assert p.height.contains(h) and p.width.contains(w)
    assert load_profile("720p").width.opt == 1280


def test_bad_profiles_give_one_clear_line(tmp_path):
    off = tmp_path / "off.toml"
    off.write_text(
        "chunk_frames = 16\nbatch = {min=1,opt=1,max=1}\nheight = {min=60,opt=256,max=512}\n"
        "width = {min=64,opt=256,max=512}\n"
    )
    with pytest.raises(InputError, match="height 60/256/512 must be multiples of 8") as e:
        load_profile(off).check_model(8, 4)
    assert "\n" not in str(e.value)
    chunk = dataclasses.replace(load_profile("256p"), chunk_frames=6)
    with pytest.raises(InputError, match="chunk_frames 6 must be a positive multiple of 4"):
        chunk.check_model(8, 4)
    broken = tmp_path / "broken.toml"
    broken.write_text("chunk_frames = 16\n")
    with pytest.raises(InputError, match="not a shape profile"):
        load_profile(broken)
    with pytest.raises(InputError, match="no profile named 'huge'; profiles: 256p, 480p, 720p"):
        load_profile("huge")


def test_shape_outside_the_engine_profile_is_refused():
    shapes = {"x": {"min": [1, 3, 4, 64, 64], "opt": [1, 3, 16, 256, 456], "max": [4, 3, 16, 512, 512]}}
    check_shape(shapes, "x", (1, 3, 16, 256, 456), "encoder.step.plan")  # inside: no error
    with pytest.raises(InputError) as e:
        check_shape(shapes, "x", (1, 3, 32, 720, 256), "encoder.step.plan")
    msg = str(e.value)
    assert (
        "frames 32 not in 4..16" in msg
        and "height 720 not in 64..512" in msg
        and "width" not in msg.split(";")[0]
    )
    assert "--tile" in msg and "--chunk-frames" in msg and "\n" not in msg


# -- safetensors ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``vaekit export --format safetensors`` of tiny, through the CLI: (folder, its JSON line)."""
    root = tmp_path_factory.mktemp("st")
    out, profile = root / "tiny", root / "small.toml"
    profile.write_text(SMALL_PROFILE_TOML)
    args = [
        "export",
        "--model",
        "tiny",
        "--format",
        "safetensors",
        "--profile",
        str(profile),
        "-o",
        str(out),
        "--json",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout)


def test_cli_export_reports_files_and_parity(exported):
    out, result = exported
    assert result["artifacts"] == [str(out / "config.json"), str(out / "model.safetensors")]
    # every file the export wrote, and only those: artifacts, parity report, manifest
    assert result["files"] == [
        str(out / n) for n in ("config.json", "model.safetensors", "parity.safetensors.json", "manifest.json")
    ]
    assert sorted(result["files"]) == sorted(str(p) for p in out.iterdir())
    assert result["parity"] == {
        "safetensors": {"passed": True, "not_run": 0, "report": str(out / "parity.safetensors.json")}
    }


def test_safetensors_fp32_export_is_bit_identical(exported):
    out, _ = exported
    model, loaded = tiny(), load_model(out)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    x = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.encode(x).mean, loaded.encode(x).mean)
    report = json.loads((out / "parity.safetensors.json").read_text())
    assert report["passed"] and report["dtype"] == "fp32"
    assert {c["quantity"] for c in report["checks"]} == {
        "weights",
        "latent mean",
        "latent logvar",
        "decoded pixels",
    }
    assert all(c["max_abs_error"] == 0.0 and c["tolerance"] == 0.0 for c in report["checks"])


def test_safetensors_fp16_cast_halves_the_file_within_tolerance(tmp_path):
    lines = []
    # fp32 weights that fp16 cannot hold exactly (the shipped tiny weights are stored in fp16 already)
    export(
        small_model(torch.float32, seed=5),
        "safetensors",
        tmp_path / "half",
        dtype="fp16",
        profile=SMALL_PROFILE,
        log=lines.append,
    )
    with safe_open(tmp_path / "half" / "model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    report = json.loads((tmp_path / "half" / "parity.safetensors.json").read_text())
    errors = {c["quantity"]: c["max_abs_error"] for c in report["checks"]}
    assert report["passed"] and 0 < errors["latent mean"] < 2e-2 and 0 < errors["decoded pixels"] < 2e-2
    assert any(
        line.startswith("parity model.safetensors        decoded pixels max abs error") for line in lines
    )


def test_export_into_a_folder_of_another_model_is_refused(exported):
    torch.manual_seed(0)
    other = CausalVideoVAE(VAEConfig(**SMALL)).eval()
    with pytest.raises(ModelMismatchError, match="already holds artifacts of model 'tiny'"):
        export(other, "safetensors", exported[0])


def test_bad_export_requests(tmp_path):
    with pytest.raises(InputError, match="--part applies to onnx and tensorrt"):
        export("tiny", "safetensors", tmp_path, part="encoder")
    with pytest.raises(InputError, match="unknown export format 'tflite'"):
        export("tiny", "tflite", tmp_path)
    with pytest.raises(InputError, match="no model folder or preset named 'nope'"):
        export("nope", "onnx", tmp_path)


# -- backends over artifact folders -----------------------------------------------------------
def test_artifacts_folder_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist; make it with `vaekit export"):
        open_backend("onnx", tmp_path / "missing")
    with pytest.raises(InputError, match="has no ONNX step graphs"):
        open_backend("onnx", tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        open_backend("onnx", tmp_path / "file")


def test_torch_backend_from_an_exported_folder_checks_the_model(exported, tmp_path):
    backend = open_backend("torch", exported[0], model="tiny")
    assert backend.model_name == "tiny"
    other = tmp_path / "other"
    torch.manual_seed(1)
    save_model(CausalVideoVAE(VAEConfig(**SMALL)), other)
    with pytest.raises(ModelMismatchError, match="exported from model 'tiny'.*not from --model"):
        open_backend("torch", exported[0], model=str(other))


# -- TensorRT without CUDA / tensorrt ---------------------------------------------------------
needs_no_tensorrt = pytest.mark.skipif(
    torch.cuda.is_available() and __import__("importlib").util.find_spec("tensorrt") is not None,
    reason="TensorRT and CUDA are available here",
)


@needs_no_tensorrt
def test_tensorrt_missing_is_one_line_with_the_install_hint(tmp_path):
    with pytest.raises(MissingDependencyError) as e:
        require_tensorrt()
    msg = str(e.value)
    assert "pip install vaekit[gpu]" in msg and "\n" not in msg
    if not torch.cuda.is_available():
        assert "CUDA is not available" in msg
    # export fails before any work, and so does a backend over a folder
    with pytest.raises(MissingDependencyError, match=r"pip install vaekit\[gpu\]"):
        export("tiny", "tensorrt", tmp_path / "trt")
    assert not (tmp_path / "trt").exists()
    with pytest.raises(MissingDependencyError):
        open_backend("tensorrt", tmp_path)


# -- precision pass ---------------------------------------------------------------------------
def _reduce_graph(elem: int) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", elem, [2, 8])
    y = helper.make_tensor_value_info("y", elem, [2, 1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean")]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[axes])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_fp16_reductions_are_cast_to_fp32():
    model = _reduce_graph(TensorProto.FLOAT16)
    assert low_precision_math(model) == ["ReduceMean mean"]
    assert keep_reductions_fp32(model) == 1
    assert low_precision_math(model) == []
    assert [n.op_type for n in model.graph.node] == ["Cast", "ReduceMean", "Cast"]
    onnx.checker.check_model(model, full_check=True)
    # values that overflow fp16 when summed: the fp32 reduction still gets the mean right
    x = np.full((2, 8), 30000, dtype=np.float16)
    (y,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )
    assert y.dtype == np.float16 and np.all(y == 30000)
    assert keep_reductions_fp32(_reduce_graph(TensorProto.FLOAT)) == 0  # fp32 graphs stay as they are
