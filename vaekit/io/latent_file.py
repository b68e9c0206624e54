"""``*.latent.safetensors``: a video's latents plus what is needed to decode them faithfully.

Tensors: ``mean`` ``[C, T', H', W']`` and, when asked, ``logvar`` (same shape). Metadata (the
safetensors string map) records the model that made the latents (name and weights sha256), the
source size, padded size, frame count and fps (a rational), the latent dtype and the model's latent
scaling. Latents are stored raw (not normalised for diffusion); apply ``model.normalize``.

The writer streams, and memory stays flat in video length. When the latent frame count is known
up front (from the source's declared frame count), each chunk is written straight into its final
place in the final file (one pass on disk). Otherwise, or when the chunks turn out to hold another
count (a container that lies about its length), the chunks go to a frame-major scratch file and
are laid out channel-major on close. Either way the final file is written under a temporary name,
then renamed, and its bytes are the same. The reader gives lazy time slices.

Integrity: the metadata key ``data_blake2b`` holds the BLAKE2b-256 digest (hex) of every byte
after the header, the tensor data exactly as stored, in stored (channel-major) order; the header
holds a placeholder until the digest is known. The scratch path hashes the planes as it lays
them out; the one-pass path hashes the first channel plane as it arrives and reads the rest
back once on close (see :class:`_ChannelMajorFile`). The reader checks the digest and refuses
non-finite values (NaN, inf) in one pass over the data before anything is decoded. Files from
before the checksum still read, with a :class:`UnverifiedLatentWarning`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import struct
import warnings
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open

from ..errors import InputError
from .atomic import atomic_output, forget_temporary, register_temporary
from .names import LATENT_SUFFIX, default_latent_path, default_roundtrip_path, default_video_path  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import torch

FORMAT = "vaekit.latent"
FORMAT_VERSION = 1
SUFFIX = LATENT_SUFFIX
_HEADER_RESERVE = 16384  # bytes reserved for the JSON header (padded with spaces, 8-aligned)
#: metadata key of the checksum of the tensor data; BLAKE2b with a 32-byte digest, as hex
CHECKSUM_KEY = "data_blake2b"
_CHECKSUM_PLACEHOLDER = "0" * 64
_READ_BLOCK = 1 << 22  # bytes per read while verifying (a multiple of every element size)

log = logging.getLogger(__name__)


class UnverifiedLatentWarning(UserWarning):
    """A latent file written before vaekit stored checksums: its data cannot be verified."""


def _checksum() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=32)


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
    #: the model folder that made the latents (absolute; "" for exported graphs and older files)
    model_dir: str = ""

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

    ``latent_frames``: the latent frame count announced up front (from the source's declared
    frame count). With it, each chunk goes straight to its final place in the final file (one
    pass on disk); without it, or when the chunks turn out to hold another count, the frames go
    through a frame-major scratch file that is laid out channel-major on close. The bytes are the
    same either way; :attr:`layout` says which path wrote the file and :attr:`fallback` why the
    announced count could not be used.
    """

    def __init__(
        self, path: str | os.PathLike, dtype: torch.dtype | None = None, *, latent_frames: int | None = None
    ):
        import torch

        dtype = torch.float32 if dtype is None else dtype
        if dtype not in _st_dtypes():
            raise ValueError(f"latent dtype must be one of {list(_st_dtypes())}")
        self.path = Path(path)
        self.info: LatentInfo | None = None
        self.dtype = dtype
        self.latent_frames = latent_frames
        #: "one-pass" (chunks written in their final place) or "scratch" (laid out on close)
        self.layout = "one-pass" if latent_frames else "scratch"
        #: why the scratch path ran although a frame count was announced (None otherwise)
        self.fallback: str | None = None
        self._atomic = atomic_output(self.path)
        self._tmp = None
        self._names: tuple[str, ...] = ()
        self._scratch: dict[str, tuple[Path, object]] = {}
        self._final: _ChannelMajorFile | None = None
        self.frames = 0
        self._frame_shape: tuple[int, ...] | None = None

    def __enter__(self) -> LatentWriter:
        self._tmp = Path(self._atomic.__enter__())
        return self

    def write(self, mean: torch.Tensor, logvar: torch.Tensor | None = None) -> None:
        """Append latent frames (``C, t, H', W'``)."""
        tensors = {"mean": mean, "logvar": logvar}
        names = tuple(name for name, t in tensors.items() if t is not None)
        shape = (mean.shape[0],) + tuple(mean.shape[2:])
        if self._frame_shape is None:
            self._frame_shape, self._names = shape, names
            if self.layout == "one-pass":
                self._final = _ChannelMajorFile(
                    self._tmp, len(names), self.latent_frames, shape, self._itemsize
                )
        elif names != self._names or shape != self._frame_shape:
            raise ValueError(
                f"LatentWriter: a chunk of {names} {shape} after chunks of {self._names} {self._frame_shape}"
            )
        t = mean.shape[1]
        if self._final is not None and self.frames + t > self.latent_frames:
            self._fall_back(f"more than the {self.latent_frames} latent frames announced")
        for i, name in enumerate(names):
            chunk = tensors[name].detach().to("cpu", self.dtype)
            if self._final is not None:
                self._final.write(i, self.frames, _as_numpy(chunk.contiguous()))
            else:
                self._scratch_file(name).write(_as_numpy(chunk.transpose(0, 1).contiguous()).tobytes())
        self.frames += t

    @property
    def _itemsize(self) -> int:
        return np.dtype(_st_dtypes()[self.dtype][1]).itemsize

    def _scratch_file(self, name: str):
        if name not in self._scratch:
            p = self._tmp.with_name(self._tmp.name + f".{name}")
            register_temporary(p)
            self._scratch[name] = (p, open(p, "wb"))
        return self._scratch[name][1]

    def _fall_back(self, reason: str) -> None:
        """Leave the one-pass path: copy the frames written so far into frame-major scratch files
        (a block of frames at a time) and go on as if no count had been announced."""
        final, self._final = self._final, None
        self.layout, self.fallback = "scratch", reason
        log.info("%s: %s; writing through a scratch file", self.path.name, reason)
        block = max(1, _READ_BLOCK * 8 // final.frame_bytes)
        with final:
            for i, name in enumerate(self._names):
                out = self._scratch_file(name)
                for t0 in range(0, self.frames, block):
                    out.write(final.read_frames(i, t0, min(self.frames, t0 + block)))

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._finish()
        except BaseException as e:  # a failed finish discards the output like any other error
            exc_type, exc, tb = type(e), e, e.__traceback__
            raise
        finally:
            if self._final is not None:
                self._final.close()
            for p, f in self._scratch.values():
                f.close()
                p.unlink(missing_ok=True)
                forget_temporary(p)
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
        self.info.has_logvar = "logvar" in self._names
        header, digest_at = self._header()
        if self._final is not None and self.frames != self.latent_frames:
            self._fall_back(f"{self.frames} latent frames written, {self.latent_frames} announced")
        elif self._final is not None and len(header) != 8 + _HEADER_RESERVE:
            self._fall_back(f"a header of {len(header)} bytes, more than the {_HEADER_RESERVE} reserved")
        if self._final is not None:
            with self._final as final:
                final.write_header(header, digest_at)
        else:
            self._lay_out_scratch(header, digest_at)

    def _header(self) -> tuple[bytes, int]:
        """The file's header (length, JSON padded with spaces) with a placeholder for the checksum,
        and the offset of the placeholder's hex digits."""
        c, h, w = self._frame_shape
        tensor_bytes = c * h * w * self._itemsize * self.frames
        header = {"__metadata__": self.info.to_metadata() | {CHECKSUM_KEY: _CHECKSUM_PLACEHOLDER}}
        for i, name in enumerate(self._names):
            header[name] = {
                "dtype": _st_dtypes()[self.dtype][0],
                "shape": [c, self.frames, h, w],
                "data_offsets": [i * tensor_bytes, (i + 1) * tensor_bytes],
            }
        blob = json.dumps(header, separators=(",", ":")).encode()
        key = f'"{CHECKSUM_KEY}":"'.encode()
        digest_at = 8 + blob.index(key) + len(key)  # where the placeholder's hex digits start
        size = max(_HEADER_RESERVE, -(-len(blob) // 8) * 8)
        return struct.pack("<Q", size) + blob + b" " * (size - len(blob)), digest_at

    def _lay_out_scratch(self, header: bytes, digest_at: int) -> None:
        """The scratch path: the frame-major scratch files, one channel plane at a time, into the
        final file (the digest is taken as the planes are written)."""
        c, h, w = self._frame_shape
        digest = _checksum()
        with open(self._tmp, "wb") as out:
            out.write(header)
            for p, f in self._scratch.values():
                f.close()
                frames = np.memmap(
                    p, dtype=_st_dtypes()[self.dtype][1], mode="r", shape=(self.frames, c, h, w)
                )
                for ch in range(c):  # channel-major layout, one channel plane at a time
                    plane = np.ascontiguousarray(frames[:, ch]).tobytes()
                    digest.update(plane)
                    out.write(plane)
                del frames
            out.seek(digest_at)
            out.write(digest.hexdigest().encode())


class _ChannelMajorFile:
    """The final file while the one-pass path writes it: the data of tensor ``i`` (mean, logvar),
    channel ``ch``, latent frame ``t`` has its fixed place after a header of the reserved size, so
    every chunk is written where it stays; the header comes last, when the metadata is known.

    The checksum covers the data in its stored (channel-major) order, which the chunks do not
    arrive in: BLAKE2b is sequential (digests of parts do not combine), so the first channel
    plane, which does arrive in order, is hashed as it is written and the rest is read back once
    on close (a read, mostly from the page cache, not a second write)."""

    def __init__(self, path: Path, tensors: int, frames: int, frame_shape: tuple[int, ...], itemsize: int):
        c, h, w = frame_shape
        self.frames, self.channels = frames, c
        self.plane = h * w * itemsize  # bytes of one channel of one latent frame
        self.frame_bytes = c * self.plane
        self.data_start = 8 + _HEADER_RESERVE
        self._f = open(path, "r+b")  # the atomic temporary, created empty
        try:
            self._f.truncate(self.data_start + tensors * frames * self.frame_bytes)
        except BaseException:
            self._f.close()
            raise
        self._digest = _checksum()
        self._hashed = self.data_start  # the data before this offset is in the digest

    def _offset(self, i: int, ch: int, t: int) -> int:
        return self.data_start + (i * self.channels + ch) * self.frames * self.plane + t * self.plane

    def write(self, i: int, t0: int, chunk: np.ndarray) -> None:
        """``chunk`` (``C, t, H', W'``, C-contiguous): latent frames ``t0 ...`` of tensor ``i``."""
        for ch in range(self.channels):
            at = self._offset(i, ch, t0)
            data = memoryview(chunk[ch]).cast("B")
            self._f.seek(at)
            self._f.write(data)
            if at == self._hashed:
                self._digest.update(data)
                self._hashed += len(data)

    def read_frames(self, i: int, t0: int, t1: int) -> bytes:
        """Latent frames ``t0:t1`` of tensor ``i`` as frame-major bytes (``t, C, H', W'``)."""
        n = (t1 - t0) * self.plane
        planes = []
        for ch in range(self.channels):
            self._f.seek(self._offset(i, ch, t0))
            planes.append(np.frombuffer(self._f.read(n), np.uint8).reshape(t1 - t0, self.plane))
        return np.stack(planes, axis=1).tobytes()

    def write_header(self, header: bytes, digest_at: int) -> None:
        """Hash the data not yet hashed, in stored order, then write the header with the digest."""
        self._f.flush()
        self._f.seek(self._hashed)
        buf = bytearray(_READ_BLOCK)
        while n := self._f.readinto(buf):
            self._digest.update(memoryview(buf)[:n])
        self._f.seek(0)
        self._f.write(
            header[:digest_at]
            + self._digest.hexdigest().encode()
            + header[digest_at + len(_CHECKSUM_PLACEHOLDER) :]
        )

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> _ChannelMajorFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _as_numpy(t: torch.Tensor) -> np.ndarray:
    import torch

    return t.view(torch.uint16).numpy() if t.dtype == torch.bfloat16 else t.numpy()


@functools.cache
def _st_dtypes() -> dict:
    """torch dtype -> (safetensors dtype name, numpy dtype of the stored bytes); torch is imported
    only by the writer, so that reading a file's header and checking its data does not need it."""
    import torch

    return {
        torch.float32: ("F32", np.float32),
        torch.float16: ("F16", np.float16),
        torch.bfloat16: ("BF16", np.uint16),
    }


class LatentReader:
    """Lazy reader: ``info``, and time slices of ``mean``/``logvar`` as ``[C, t, H', W']`` tensors.

    Opening a file checks it (one pass over the data, before anything is decoded): header and
    metadata, the shape, the ``data_blake2b`` checksum and that every value is finite; any problem
    is an :class:`InputError` in one line. ``checksum`` is the verified digest (None for a file
    written before checksums, which warns once).
    """

    def __init__(self, path: str | os.PathLike, *, verify: bool = True, tensors: bool = True):
        """``tensors=False``: only the header, metadata and the data check (no torch import;
        :meth:`read` then gives numpy arrays), as ``vaekit info`` needs."""
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such latent file")
        try:
            self._f = safe_open(str(self.path), framework="pt" if tensors else "np")
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
        self.checksum: str | None = meta.get(CHECKSUM_KEY)
        if verify:
            self._verify()

    def _verify(self) -> None:
        """Hash the stored tensor bytes and look for NaN/inf in them, block by block."""
        with open(self.path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            tensors = {k: v for k, v in header.items() if k != "__metadata__"}
            dtypes = sorted({v["dtype"] for v in tensors.values()})
            np_dtype = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}.get(dtypes[0])
            if len(dtypes) != 1 or np_dtype is None:
                raise InputError(f"{self.path}: unexpected tensor dtypes {dtypes}; not a vaekit latent file")
            digest = _checksum()
            bad = 0
            while block := f.read(_READ_BLOCK):
                digest.update(block)
                values = np.frombuffer(block, np_dtype, count=len(block) // np.dtype(np_dtype).itemsize)
                if np_dtype is np.uint16:  # bfloat16: exponent bits all set is inf or NaN
                    bad += int(np.count_nonzero((values & 0x7F80) == 0x7F80))
                else:
                    bad += int(values.size - np.count_nonzero(np.isfinite(values)))
        if self.checksum is None:
            warnings.warn(
                f"{self.path.name} has no data checksum (written by a vaekit before checksums); "
                "its latents cannot be verified",
                UnverifiedLatentWarning,
                stacklevel=3,
            )
        elif digest.hexdigest() != self.checksum:
            raise InputError(
                f"{self.path}: the latent data does not match the checksum stored when it was written "
                f"({CHECKSUM_KEY}); the file was altered or damaged: encode the video again"
            )
        if bad:
            raise InputError(
                f"{self.path}: {bad} latent values are not finite (NaN or inf); the file was altered "
                "or damaged: encode the video again"
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
