"""Export a model to safetensors, ONNX and TensorRT, check every export against the torch model,
and read artifact folders back as streaming backends (see docs/DESIGN.md, "Export and backends")."""

from .artifacts import Artifact, open_backend, read_artifacts
from .errors import ExportError
from .exporter import DTYPES, FORMATS, PARTS, ExportResult, export
from .profiles import ShapeProfile, list_profiles, load_profile

__all__ = [
    "DTYPES",
    "FORMATS",
    "PARTS",
    "Artifact",
    "ExportError",
    "ExportResult",
    "ShapeProfile",
    "export",
    "list_profiles",
    "load_profile",
    "open_backend",
    "read_artifacts",
]
