"""What an exported step or clip graph is: the contract between the exporters and the backends.

``vaekit export`` writes a :class:`GraphSpec` into every ONNX graph (as ``metadata_props``) and
into every TensorRT engine's JSON sidecar; the ONNX Runtime and TensorRT backends read it back to
know the model's identity (name, weights sha256), geometry and the order, names and shapes of the
cache tensors. It lives in the runtime package because the runtime must understand exported
graphs without importing the exporters.

Shapes are described relative to the graph's main input: a cache tensor of a step graph has shape
``batch, channels, frames, H * scale, W * scale`` where ``H, W`` are the spatial size of the
graph's input (pixels for the encoder, latents for the decoder) and ``scale`` a fraction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import InputError, ModelMismatchError

FORMAT = "vaekit.graph"
FORMAT_VERSION = 1
PARTS = ("encoder", "decoder")
KINDS = ("step", "clip")
#: names of the main input and output of each part (the cache tensors are ``cache_in_{i}``/``cache_out_{i}``)
IO_NAMES = {
    ("encoder", "step"): ("x", "moments"),
    ("decoder", "step"): ("z", "video"),
    ("encoder", "clip"): ("video", "moments"),
    ("decoder", "clip"): ("z", "video"),
}


@dataclass(frozen=True)
class CacheSpec:
    """One cache tensor of a step graph: ``batch, channels, frames, H * scale, W * scale``."""

    input: str
    output: str
    channels: int
    frames: int
    scale: Fraction

    def shape(self, batch: int, height: int, width: int) -> tuple[int, int, int, int, int]:
        h, w = height * self.scale, width * self.scale
        if h.denominator != 1 or w.denominator != 1:
            raise InputError(
                f"{self.input}: an input of {width}x{height} does not divide by {1 / self.scale}"
            )
        return (batch, self.channels, self.frames, int(h), int(w))

    def to_dict(self) -> dict:
        return {
            "input": self.input,
            "output": self.output,
            "channels": self.channels,
            "frames": self.frames,
            "scale": str(self.scale),
        }

    @classmethod
    def from_dict(cls, d: dict) -> CacheSpec:
        return cls(d["input"], d["output"], int(d["channels"]), int(d["frames"]), Fraction(d["scale"]))


@dataclass(frozen=True)
class GraphSpec:
    """Identity, geometry and I/O of one exported graph (one part, step or whole clip)."""

    part: str
    kind: str
    model_name: str
    model_sha256: str
    dtype: str
    in_channels: int
    latent_channels: int
    temporal_compression: int
    spatial_compression: int
    chunk_frames: int
    profile: str
    vaekit_version: str
    scaling: dict = field(default_factory=dict)
    caches: tuple[CacheSpec, ...] = ()

    def __post_init__(self):
        if self.part not in PARTS or self.kind not in KINDS:
            raise ValueError(f"unknown graph {self.part}.{self.kind}")

    @property
    def input_name(self) -> str:
        return IO_NAMES[(self.part, self.kind)][0]

    @property
    def output_name(self) -> str:
        return IO_NAMES[(self.part, self.kind)][1]

    @property
    def file_stem(self) -> str:
        return f"{self.part}.{self.kind}"

    def input_shape(self, batch: int, frames: int, height: int, width: int) -> tuple[int, ...]:
        """Main input shape for ``frames`` video frames of ``height x width`` pixels."""
        if self.part == "encoder":
            return (batch, self.in_channels, frames, height, width)
        sc, tc = self.spatial_compression, self.temporal_compression
        return (batch, self.latent_channels, frames // tc, height // sc, width // sc)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Main output shape of a step graph for a main input of ``input_shape``."""
        b, _, t, h, w = input_shape
        sc, tc = self.spatial_compression, self.temporal_compression
        if self.part == "encoder":
            return (b, 2 * self.latent_channels, t // tc, h // sc, w // sc)
        return (b, self.in_channels, t * tc, h * sc, w * sc)

    def cache_shapes(self, batch: int, height: int, width: int) -> list[tuple[int, ...]]:
        """Cache shapes for a main input of spatial size ``height x width`` (its own units)."""
        return [c.shape(batch, height, width) for c in self.caches]

    def to_metadata(self) -> dict[str, str]:
        """The ONNX ``metadata_props`` / sidecar form: flat string keys and values."""
        meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION)}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "caches":
                value = [c.to_dict() for c in value]
            meta[name] = value if isinstance(value, str) else json.dumps(value)
        return meta

    @classmethod
    def from_metadata(cls, meta: dict[str, str], where: str) -> GraphSpec:
        if meta.get("format") != FORMAT:
            raise InputError(f"{where} was not exported by vaekit (no '{FORMAT}' metadata)")
        if meta.get("format_version") != str(FORMAT_VERSION):
            raise InputError(
                f"{where} has graph format version {meta.get('format_version')}; this vaekit reads {FORMAT_VERSION}; "
                "export it again"
            )
        try:
            kwargs = {}
            for name, f in cls.__dataclass_fields__.items():
                raw = meta[name]
                kwargs[name] = raw if f.type == "str" else json.loads(raw)
            kwargs["caches"] = tuple(CacheSpec.from_dict(c) for c in kwargs["caches"])
            return cls(**kwargs)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            raise InputError(
                f"{where} has unreadable vaekit metadata ({type(e).__name__}: {e}); export it again"
            ) from None


def check_same_model(a: GraphSpec, b: GraphSpec, where: str) -> None:
    """Refuse an encoder and a decoder that were exported from different models."""
    if a.model_sha256 != b.model_sha256:
        raise ModelMismatchError(
            f"{where}: the {a.part} comes from model {a.model_name!r} (weights {a.model_sha256[:12]}) but the "
            f"{b.part} from {b.model_name!r} (weights {b.model_sha256[:12]}); export both parts of one model"
        )
