"""Export encoder and decoder graphs to ONNX with torch's exporter (``torch.export`` based).

Each graph gets: dynamic batch, frames, height and width; opset 18 (22 for bf16, the first opset
whose Conv takes bfloat16); readable names for every dynamic dimension; fp16/bf16 graphs with
reductions and norm math in fp32 (:mod:`.onnx_passes`, audited before saving); the
:class:`~vaekit.runtime.graph_spec.GraphSpec` in ``metadata_props`` (model name and weights
sha256, vaekit version, chunk size, latent scaling, cache names/order/shapes); a full
``onnx.checker`` pass. The file is written atomically as one ``.onnx`` (no external data: models
up to 2 GB, which covers the presets).
"""

from __future__ import annotations

import copy
import io
import warnings
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch

from .. import __version__
from ..io.atomic import atomic_output
from ..model import CausalVideoVAE
from ..runtime.exported import TORCH_DTYPES
from ..runtime.graph_spec import GraphSpec
from .errors import ExportError
from .graphs import Traceable, traceable
from .onnx_passes import keep_reductions_fp32, low_precision_math
from .profiles import ShapeProfile

#: bf16 needs opset 22 (Conv's type constraint gained bfloat16 there); fp32/fp16 stay on 18,
#: which every TensorRT 10.x parser and ONNX Runtime >= 1.14 accept
OPSET = {"fp32": 18, "fp16": 18, "bf16": 22}
SCALING_KEYS = ("scaling_factor", "shift_factor", "latents_mean", "latents_std")


@dataclass
class OnnxGraph:
    path: Path
    spec: GraphSpec
    fp32_reductions_added: int


def graph_spec(
    model: CausalVideoVAE, part: str, kind: str, dtype: str, profile: ShapeProfile, sha256: str, t: Traceable
) -> GraphSpec:
    cfg = model.config
    return GraphSpec(
        part=part,
        kind=kind,
        model_name=cfg.name,
        model_sha256=sha256,
        dtype=dtype,
        in_channels=cfg.in_channels,
        latent_channels=cfg.latent_channels,
        temporal_compression=cfg.temporal_compression,
        spatial_compression=cfg.spatial_compression,
        chunk_frames=profile.chunk_frames,
        profile=profile.name,
        vaekit_version=__version__,
        scaling={k: getattr(cfg, k) for k in SCALING_KEYS},
        caches=t.caches,
    )


def _trace(t: Traceable, opset: int) -> onnx.ModelProto:
    """Run torch's ONNX exporter quietly (it prints progress and warns about its internals)."""
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            t.module,
            t.args,
            dynamo=True,
            dynamic_shapes=t.dynamic_shapes,
            input_names=t.input_names,
            output_names=t.output_names,
            opset_version=opset,
            optimize=True,
            verbose=False,
        )
    return program.model_proto


def _name_output_dims(proto: onnx.ModelProto, dims: dict[str, list]) -> None:
    for out in proto.graph.output:
        for d, name in zip(out.type.tensor_type.shape.dim, dims[out.name], strict=True):
            if isinstance(name, str):
                d.dim_param = name
            elif d.dim_value != name:
                raise ExportError(f"{out.name}: the exporter made dimension {d} where {name} was expected")


def export_onnx_graph(
    model: CausalVideoVAE, part: str, kind: str, dtype: str, profile: ShapeProfile, sha256: str, out_dir: Path
) -> OnnxGraph:
    """Export graph ``part.kind`` of ``model`` (any dtype; it is not modified) to ``out_dir``."""
    m = copy.deepcopy(model).to("cpu", TORCH_DTYPES[dtype]).eval()
    t = traceable(m, part, kind)
    spec = graph_spec(m, part, kind, dtype, profile, sha256, t)
    proto = _trace(t, OPSET[dtype])
    _name_output_dims(proto, t.output_dims)
    added = keep_reductions_fp32(proto) if dtype != "fp32" else 0
    left = low_precision_math(proto)
    if left:
        raise ExportError(
            f"{spec.file_stem}: {len(left)} reductions/norm ops still run in {dtype}: {left[:3]}"
        )
    proto.producer_name, proto.producer_version = "vaekit", __version__
    proto.doc_string = (
        f"vaekit {part} {kind} graph of model {spec.model_name!r} ({dtype}); inputs "
        f"{', '.join(t.input_names)}; outputs {', '.join(t.output_names)}; see metadata_props"
    )
    meta = {**spec.to_metadata(), "fp32_math": "norms and reductions", "opset": str(OPSET[dtype])}
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)
    path = out_dir / f"{spec.file_stem}.onnx"
    with atomic_output(path) as tmp:
        onnx.save_model(proto, str(tmp))
    return OnnxGraph(path, spec, added)
