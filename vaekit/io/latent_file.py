"""``*.latent.safetensors``: a video's latents plus what is needed to decode them faithfully.

Tensors: ``mean`` ``[C, T', H', W']`` and, when asked, ``logvar`` (same shape). Metadata (the
safetensors string map) records the model that made the latents (name and weights sha256), the
source size, padded size, frame count and fps (a rational), the latent dtype and the model's latent
scaling. Latents are stored raw (not normalised for diffusion); apply ``model.normalize``.

The writer streams: latent chunks go to a frame-major scratch file while the video is encoded, and
on close they are laid out channel-major into the final file (written under a temporary name,
then renamed). Memory stays flat in video length. The reader gives lazy time slices.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from ..errors import InputError
from .atomic import atomic_output

FORMAT = "vaekit.latent"
FORMAT_VERSION = 1
SUFFIX = ".latent.safetensors"
_HEADER_RESERVE = 16384  # bytes reserved for the JSON header (padded with spaces, 8-aligned)
_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
_NP_DTYPES = {torch.float32: np.float32, torch.float16: np.float16, torch.bfloat16: np.uint16}


@dataclass
class LatentInfo:
    """What a latent file says about itself (its safetensors metadata, typed)."""

    model_name: str
    model_sha256: str
    source_width: int
    source_height: int
    padded_width: int
    padded_height: int
    frame_count: int
    fps: Fraction
    dtype: str
    latent_channels: int
    temporal_compression: int
    spatial_compression: int
    scaling_factor: float = 1.0
    shift_factor: float = 0.0
    latents_mean: list[float] | None = None
    latents_std: list[float] | None = None
    has_logvar: bool = False
    source: str = ""
    vaekit_version: str = ""

    @property
    def latent_frames(self) -> int:
        return 1 + -(-(self.frame_count - 1) // self.temporal_compression)

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        sc = self.spatial_compression
        return (self.latent_channels, self.latent_frames, self.padded_height // sc, self.padded_width // sc)

    def to_metadata(self) -> dict[str, str]:
        d = asdict(self)
        d["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION)}
        for k, v in d.items():
            meta[k] = v if isinstance(v, str) else json.dumps(v)
        return meta

    @classmethod
    def from_metadata(cls, meta: dict[str, str], where: str) -> LatentInfo:
        if meta.get("format") != FORMAT:
            raise InputError(f"{where} is not a vaekit latent file (no '{FORMAT}' metadata)")
        if meta.get("format_version") != str(FORMAT_VERSION):
            raise InputError(
                f"{where} has latent format version {meta.get('format_version')}; this vaekit reads {FORMAT_VERSION}"
            )
        kwargs = {}
        try:
            for name, field in cls.__dataclass_fields__.items():
                if name not in meta:
                    continue
                raw = meta[name]
                if field.type == "str":
                    kwargs[name] = raw
                elif name == "fps":
                    kwargs[name] = Fraction(raw)
                else:
                    kwargs[name] = json.loads(raw)
            return cls(**kwargs)
        except (TypeError, ValueError, ZeroDivisionError) as e:
            raise InputError(f"{where} has unreadable metadata: {e}") from None


class LatentWriter:
    """Stream latent chunks ``[C, t, H', W']`` into a latent file.

    Use as a context manager and set :attr:`info` (which needs the final frame count) before the
    block ends; the file appears at ``path`` only then. On an exception nothing is left behind.
    """

    def __init__(self, path: str | os.PathLike, dtype: torch.dtype = torch.float32):
        if dtype not in _ST_DTYPES:
            raise ValueError(f"latent dtype must be one of {list(_ST_DTYPES)}")
        self.path = Path(path)
        self.info: LatentInfo | None = None
        self.dtype = dtype
        self._atomic = atomic_output(self.path)
        self._tmp = None
        self._scratch: dict[str, tuple[Path, object]] = {}
        self.frames = 0
        self._frame_shape: tuple[int, ...] | None = None

    def __enter__(self) -> LatentWriter:
        self._tmp = Path(self._atomic.__enter__())
        return self

    def write(self, mean: torch.Tensor, logvar: torch.Tensor | None = None) -> None:
        """Append latent frames (``C, t, H', W'``)."""
        if self._frame_shape is None:
            self._frame_shape = (mean.shape[0],) + tuple(mean.shape[2:])
        for name, t in (("mean", mean), ("logvar", logvar)):
            if t is None:
                continue
            if name not in self._scratch:
                p = self._tmp.with_name(self._tmp.name + f".{name}")
                self._scratch[name] = (p, open(p, "wb"))
            frames = t.detach().to("cpu", self.dtype).transpose(0, 1).contiguous()  # t, C, H', W'
            self._scratch[name][1].write(_as_numpy(frames).tobytes())
        self.frames += mean.shape[1]

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._finish()
        except BaseException as e:  # a failed finish discards the output like any other error
            exc_type, exc, tb = type(e), e, e.__traceback__
            raise
        finally:
            for p, f in self._scratch.values():
                f.close()
                p.unlink(missing_ok=True)
            self._atomic.__exit__(exc_type, exc, tb)
        return False

    def _finish(self) -> None:
        if self.info is None or self._frame_shape is None:
            raise ValueError("LatentWriter: no latents written or no info set")
        self.info.dtype = str(self.dtype).removeprefix("torch.")
        c, h, w = self._frame_shape
        if (
            self.frames != self.info.latent_frames
            or (c, h, w) != self.info.latent_shape[:1] + self.info.latent_shape[2:]
        ):
            raise ValueError(
                f"wrote latents {(c, self.frames, h, w)}, metadata says {self.info.latent_shape}"
            )
        self.info.has_logvar = "logvar" in self._scratch
        frame_bytes = c * h * w * torch.finfo(self.dtype).bits // 8
        tensor_bytes = frame_bytes * self.frames
        header = {"__metadata__": self.info.to_metadata()}
        for i, name in enumerate(self._scratch):
            header[name] = {
                "dtype": _ST_DTYPES[self.dtype],
                "shape": [c, self.frames, h, w],
                "data_offsets": [i * tensor_bytes, (i + 1) * tensor_bytes],
            }
        blob = json.dumps(header, separators=(",", ":")).encode()
        size = max(_HEADER_RESERVE, -(-len(blob) // 8) * 8)
        with open(self._tmp, "wb") as out:
            out.write(struct.pack("<Q", size) + blob + b" " * (size - len(blob)))
            for p, f in self._scratch.values():
                f.close()
                frames = np.memmap(p, dtype=_NP_DTYPES[self.dtype], mode="r", shape=(self.frames, c, h, w))
                for ch in range(c):  # channel-major layout, one channel plane at a time
                    out.write(np.ascontiguousarray(frames[:, ch]).tobytes())
                del frames


def _as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.view(torch.uint16).numpy() if t.dtype == torch.bfloat16 else t.numpy()


class LatentReader:
    """Lazy reader: ``info``, and time slices of ``mean``/``logvar`` as ``[C, t, H', W']`` tensors."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such latent file")
        try:
            self._f = safe_open(str(self.path), framework="pt")
            meta = self._f.metadata() or {}
        except (SafetensorError, OSError) as e:
            raise InputError(f"{self.path} is not a readable safetensors file ({e})") from None
        self.info = LatentInfo.from_metadata(meta, str(self.path))
        keys = set(self._f.keys())
        if "mean" not in keys:
            raise InputError(f"{self.path} has no 'mean' tensor")
        shape = tuple(self._f.get_slice("mean").get_shape())
        if shape != self.info.latent_shape:
            raise InputError(
                f"{self.path}: latent shape {list(shape)} does not match its metadata "
                f"{list(self.info.latent_shape)} (frame count / padded size); the file was altered"
            )

    @property
    def latent_frames(self) -> int:
        return self.info.latent_shape[1]

    def read(self, name: str = "mean", start: int = 0, stop: int | None = None) -> torch.Tensor:
        if name not in self._f.keys():
            raise InputError(f"{self.path} has no {name!r} tensor (encode with --save-logvar)")
        return self._f.get_slice(name)[:, start:stop]

    def iter_chunks(self, chunk: int, name: str = "mean"):
        for s in range(0, self.latent_frames, chunk):
            yield self.read(name, s, s + chunk)


def default_latent_path(video: str | os.PathLike) -> Path:
    """``clip.mp4 -> clip.latent.safetensors`` (beside the input)."""
    p = Path(video)
    return p.with_name(p.stem + SUFFIX)


def default_video_path(latent: str | os.PathLike, suffix: str = ".mp4") -> Path:
    """``clip.latent.safetensors -> clip.decoded.mp4``: never the name of the source video."""
    p = Path(latent)
    name = p.name[: -len(SUFFIX)] if p.name.endswith(SUFFIX) else p.stem
    return p.with_name(name + ".decoded" + suffix)


def default_roundtrip_path(video: str | os.PathLike) -> Path:
    """``clip.mp4 -> clip.roundtrip.mp4``, ``photo.jpg -> photo.roundtrip.png`` (beside the input)."""
    from vaekit.io.video import IMAGE_SUFFIXES

    p = Path(video)
    return p.with_name(
        p.stem + (".roundtrip.png" if p.suffix.lower() in IMAGE_SUFFIXES else ".roundtrip.mp4")
    )
