"""Artifact folders: what ``vaekit export -o DIR`` wrote, read back and checked against a model.

Layout (every artifact self-describing; ``manifest.json`` says which exports are complete)::

    DIR/config.json, DIR/model.safetensors     --format safetensors (a model folder: vaekit.load(DIR))
    DIR/{encoder,decoder}.{step,clip}.onnx     --format onnx (GraphSpec in metadata_props)
    DIR/{encoder,decoder}.step.plan            --format tensorrt (engines built from the step graphs)
    DIR/{encoder,decoder}.step.plan.json       their sidecars (GraphSpec, shapes, TensorRT version, GPU)
    DIR/parity.{safetensors,onnx,tensorrt}.json  max errors against the torch model
    DIR/manifest.json                          per format: files, sizes, BLAKE2b, parity passed

An export is staged in a hidden folder and moved in only when its parity passed (see
:mod:`.manifest`); backends run only files the manifest lists with their exact bytes.

:func:`open_backend` turns a folder into a streaming backend for ``--backend onnx|tensorrt|torch``;
:func:`check_export_target` keeps one folder to one model (and one dtype for graphs and engines).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch

from ..errors import InputError, ModelMismatchError
from ..model import load_model, weights_sha256
from ..model.folder import CONFIG_NAME, WEIGHTS_NAME
from ..runtime.backend import Backend, TorchBackend
from ..runtime.graph_spec import GraphSpec
from .manifest import read_manifest, require_passed

BACKENDS = ("torch", "onnx", "tensorrt")
ENGINE_SUFFIX = ".plan"
SIDECAR_SUFFIX = ".plan.json"


@dataclass(frozen=True)
class Artifact:
    path: Path
    format: str
    model_name: str
    model_sha256: str
    dtype: str  # "" for a model folder, whose weights may be stored in any dtype


def sidecar_path(engine: Path) -> Path:
    return engine.with_name(engine.name + ".json")


def read_sidecar(engine: Path) -> dict:
    path = sidecar_path(engine)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read the engine sidecar {path}: {e}; export the engine again") from None


def onnx_spec(path: Path) -> GraphSpec:
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError and friends for a damaged file
        raise InputError(
            f"{path} is not a readable ONNX file ({type(e).__name__}); export it again"
        ) from None
    return GraphSpec.from_metadata({p.key: p.value for p in proto.metadata_props}, str(path))


def artifacts_folder(folder: str | os.PathLike) -> Path:
    """``folder`` if it is an existing folder, else a one-line InputError that says what to do."""
    path = Path(folder)
    if not path.exists():
        raise InputError(
            f"artifacts folder {path} does not exist; make it with `vaekit export ... -o {path}`"
        )
    if not path.is_dir():
        raise InputError(f"{path} is a file; --artifacts takes the folder that `vaekit export -o` wrote")
    return path


def read_artifacts(folder: str | os.PathLike) -> list[Artifact]:
    """Every artifact in ``folder`` with the model it was made from (loads a model folder's weights)."""
    root = artifacts_folder(folder)
    found = []
    if (root / CONFIG_NAME).is_file() and (root / WEIGHTS_NAME).is_file():
        model = load_model(root)
        found.append(
            Artifact(root / WEIGHTS_NAME, "safetensors", model.config.name, weights_sha256(model), "")
        )
    for path in sorted(root.glob("*.onnx")):
        spec = onnx_spec(path)
        found.append(Artifact(path, "onnx", spec.model_name, spec.model_sha256, spec.dtype))
    for path in sorted(root.glob(f"*{ENGINE_SUFFIX}")):
        spec = GraphSpec.from_metadata(read_sidecar(path)["graph"], str(sidecar_path(path)))
        found.append(Artifact(path, "tensorrt", spec.model_name, spec.model_sha256, spec.dtype))
    return found


def check_export_target(folder: Path, model_name: str, sha256: str, dtype: str | None) -> None:
    """Refuse to mix models in one folder, or dtypes among its graphs and engines (``dtype`` None:
    a model folder export, which only has to be of the same model)."""
    if not folder.is_dir():
        return
    for a in read_artifacts(folder):
        if a.model_sha256 != sha256:
            raise ModelMismatchError(
                f"{folder} already holds artifacts of model {a.model_name!r} (weights {a.model_sha256[:12]}, e.g. "
                f"{a.path.name}), not of {model_name!r} (weights {sha256[:12]}); export into another folder"
            )
        if dtype is not None and a.dtype and a.dtype != dtype:
            raise InputError(
                f"{folder} already holds {a.dtype} graphs/engines (e.g. {a.path.name}); export {dtype} into another "
                f"folder or pass --dtype {a.dtype}"
            )


def check_model(backend: Backend, folder: Path, model: str | None) -> None:
    """Refuse artifacts that were not exported from ``model`` (a preset name or folder), if given."""
    if model is None:
        return
    expected = load_model(model, device="cpu")
    sha = weights_sha256(expected)
    if sha != backend.model_sha256:
        raise ModelMismatchError(
            f"the artifacts in {folder} were exported from model {backend.model_name!r} (weights "
            f"{backend.model_sha256[:12]}), not from --model {model} ({expected.config.name!r}, weights {sha[:12]}); "
            "pass the matching --model or export this one"
        )
    source = getattr(expected, "source_dir", None)
    if source is not None:  # the latents these artifacts write name the folder that decodes them
        backend.model_dir = str(Path(source).resolve())


def _parts(folder: Path, suffix: str, what: str, fmt: str) -> dict[str, Path]:
    parts = {p: folder / f"{p}.step{suffix}" for p in ("encoder", "decoder")}
    parts = {p: path for p, path in parts.items() if path.is_file()}
    if not parts:
        raise InputError(
            f"{folder} has no {what} (encoder.step{suffix}, decoder.step{suffix}); make them with "
            f"`vaekit export --format {fmt} -o {folder}`"
        )
    return parts


def open_backend(
    kind: str,
    folder: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    model: str | None = None,
) -> Backend:
    """A streaming backend over the artifacts in ``folder``: ``onnx`` (ONNX Runtime on the step
    graphs), ``tensorrt`` (the engines, on CUDA) or ``torch`` (the exported model folder, in
    ``dtype``). With ``model`` given, the artifacts must have been exported from it."""
    root = artifacts_folder(folder)
    if kind == "torch":
        if not (root / CONFIG_NAME).is_file():
            raise InputError(
                f"{root} has no {CONFIG_NAME}; make a model folder with `vaekit export --format safetensors -o {root}`"
            )
        if "safetensors" in (read_manifest(root) or {}).get("exports", {}):  # exported, not a plain folder
            require_passed(root, "safetensors", [root / CONFIG_NAME, root / WEIGHTS_NAME])
        backend: Backend = TorchBackend(load_model(root, device=device, dtype=dtype))
    elif kind == "onnx":
        from ..runtime.onnx_backend import OnnxBackend

        parts = _parts(root, ".onnx", "ONNX step graphs", "onnx")
        require_passed(root, "onnx", list(parts.values()))
        backend = OnnxBackend(parts.get("encoder"), parts.get("decoder"), device, where=str(root))
    elif kind == "tensorrt":
        from ..runtime.tensorrt_backend import TensorRTBackend, require_tensorrt

        require_tensorrt()
        parts = _parts(root, ENGINE_SUFFIX, "TensorRT engines", "tensorrt")
        require_passed(root, "tensorrt", [f for p in parts.values() for f in (p, sidecar_path(p))])
        backend = TensorRTBackend(parts.get("encoder"), parts.get("decoder"), device, where=str(root))
    else:
        raise InputError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    check_model(backend, root, model)
    return backend
