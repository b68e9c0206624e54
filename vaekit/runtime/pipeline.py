"""The streaming pipeline: frames -> tensors -> latents -> tensors -> frames, written once.

Every file-level job (:mod:`.jobs`), ``vaekit eval`` (:mod:`vaekit.evaluate`), latent statistics
(:mod:`.stats`) and the Python API's file helpers (:mod:`vaekit.api`) are compositions of four
pieces (docs/DESIGN.md, "Streaming"):

- :class:`VideoSource`: one input file, opened and probed once, its frames streamed as uint8 arrays;
- :data:`encode_stream`: uint8 frames -> :class:`LatentChunk` (a :class:`DiagonalGaussian` per
  chunk, never a raw mean/logvar concatenation) with the source's :class:`Geometry`, which is
  known from the first chunk on and carried forward;
- :func:`decode_stream`: latent chunks -> uint8 frames cut to the source's frame count and size;
- :data:`reconstruct`: uint8 frames -> ``(source, reconstruction)`` uint8 pairs in one stream.

The pixel contract (scaling, padding, cropping) is :mod:`.pixels`; the chunked engine with its
cache is :mod:`.streaming`. Nothing holds the whole video.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from ..io.formats import FrameClock
from ..io.video import VideoInfo, VideoReader
from ..model.distribution import DiagonalGaussian
from .backend import Backend
from .pixels import crop, frames_to_tensor, tensor_to_frames
from .pixels import latent_frames as _latent_frames
from .streaming import DEFAULT_CHUNK_FRAMES, StreamingDecoder, StreamingEncoder
from .tiling import TileSpec

#: ``progress(total_frames_or_None, description) -> callable(n_frames)`` ; the CLI passes tqdm
ProgressFactory = Callable[[int | None, str], Callable[[int], None]]


def no_progress(total: int | None, desc: str) -> Callable[[int], None]:
    return lambda n: None


@dataclass
class StreamOptions:
    """How a stream runs: frames per chunk (a multiple of the temporal compression), tiling of
    large frames, and the progress bar factory."""

    chunk_frames: int = DEFAULT_CHUNK_FRAMES
    tile: TileSpec = field(default_factory=TileSpec)
    progress: ProgressFactory = no_progress


@dataclass(frozen=True)
class Geometry:
    """The source's frame size, the padded size the model sees, and its frame count (the frames
    read so far while a stream runs; all of them once it is exhausted)."""

    height: int
    width: int
    padded_height: int
    padded_width: int
    frame_count: int

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def padded_size(self) -> tuple[int, int]:
        return self.padded_height, self.padded_width


class VideoSource:
    """One video or image file: opened and probed at most once (on first use of :attr:`info`),
    its frames streamed as ``H, W, 3`` uint8 arrays (at most ``max_frames``, each passed through
    ``transform`` if given).

    The first pass reads from the container the probe opened (frame 0, decoded for the probe,
    is not decoded again; nothing is reopened or seeked, so a pipe works). :meth:`frames` may be
    called again for another pass, which opens the file again."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        max_frames: int | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.path = Path(path)
        self.max_frames = max_frames
        self.transform = transform
        self._reader: VideoReader | None = None  # opened by the probe, not yet read
        #: the timestamps of the frames the latest pass read (:class:`vaekit.io.formats.FrameClock`)
        self.clock = FrameClock()

    @cached_property
    def info(self) -> VideoInfo:
        self._reader = VideoReader(self.path)
        return self._reader.info

    @property
    def fps(self) -> Fraction:
        return self.info.fps

    @property
    def total(self) -> int | None:
        """Frames a pass yields, as far as known before decoding (for progress bars)."""
        info = self.info  # probed even with max_frames: an unreadable file fails before any work
        return self.max_frames or info.frame_count

    @property
    def frame_count(self) -> int | None:
        """Frames a pass yields as the container declares them (None: it does not say). A
        container may be wrong (a cut file, a variable rate): what is read is what counts."""
        declared, cap = self.info.frame_count, self.max_frames
        return declared if cap is None or declared is None else min(declared, cap)

    def latent_frames(self, temporal_compression: int) -> int | None:
        """The latent frames :attr:`frame_count` frames make (None where it is unknown)."""
        n = self.frame_count
        return None if n is None else _latent_frames(n, temporal_compression)

    def frames(self) -> Iterator[np.ndarray]:
        frames = itertools.islice(self._pass(), self.max_frames)
        return frames if self.transform is None else map(self.transform, frames)

    def _pass(self) -> Iterator[np.ndarray]:
        reader, self._reader = self._reader, None
        if reader is None:  # a second pass, or frames before the probe
            reader = VideoReader(self.path)
            self.__dict__.setdefault("info", reader.info)
        self.clock = reader.clock
        yield from reader.frames()


@dataclass
class LatentChunk:
    """The latents of one chunk (``B, C, n, h, w``) and the source's geometry so far."""

    posterior: DiagonalGaussian
    geometry: Geometry


class EncodeStream:
    """uint8 frames -> :class:`LatentChunk` per chunk (:data:`encode_stream`).

    While and after it runs: ``geometry`` (None before the first chunk), ``latent_frames`` (so
    far) and ``tiled``."""

    def __init__(
        self,
        backend: Backend,
        frames: Iterable[np.ndarray],
        opts: StreamOptions | None = None,
        *,
        tick: Callable[[int], None] | None = None,
        keep: deque | None = None,
    ):
        opts = opts or StreamOptions()
        self._encoder = StreamingEncoder(backend, opts.chunk_frames, opts.tile)
        self._frames, self._tick, self._keep = frames, tick, keep
        self.geometry: Geometry | None = None
        self.latent_frames = 0

    @property
    def tiled(self) -> bool:
        return self._encoder.tiled

    def _tensors(self) -> Iterator[torch.Tensor]:
        for f in self._frames:
            if self._keep is not None:
                self._keep.append(f)
            yield frames_to_tensor(f)
            if self._tick is not None:
                self._tick(1)

    def __iter__(self) -> Iterator[LatentChunk]:
        enc = self._encoder
        for moments in enc.run(self._tensors()):
            (h, w), (ph, pw) = enc.size, enc.padded_size
            self.geometry = Geometry(h, w, ph, pw, enc.frame_count)
            self.latent_frames += moments.shape[2]
            yield LatentChunk(DiagonalGaussian(moments), self.geometry)

    def means(self) -> Iterator[torch.Tensor]:
        """The posterior means chunk by chunk (what a decoder takes)."""
        return (chunk.posterior.mean for chunk in self)


#: ``encode_stream(backend, frames, opts, *, tick=None, keep=None)``: stream ``H, W, 3`` uint8
#: frames through the encoder; iterating the result yields a :class:`LatentChunk` per chunk.
#: ``tick(1)`` is called per frame read, and ``keep`` (a deque) receives every frame read, for a
#: caller that pairs them with their reconstruction.
encode_stream = EncodeStream


def decode_stream(
    backend: Backend,
    latents: Iterable[torch.Tensor],
    frame_count: int,
    height: int,
    width: int,
    opts: StreamOptions | None = None,
) -> Iterator[np.ndarray]:
    """Stream latent chunks (``1, C, n, h, w``) through the decoder: ``H, W, 3`` uint8 frames
    cut to ``frame_count`` frames of ``height x width`` (the source's)."""
    opts = opts or StreamOptions()
    left = frame_count
    for x in StreamingDecoder(backend, opts.chunk_frames, opts.tile).run(latents):
        if left <= 0:
            break
        frames = tensor_to_frames(crop(x, left, height, width))
        left -= frames.shape[0]
        yield from frames


class Reconstruction:
    """uint8 frames -> ``(source, reconstruction)`` uint8 frame pairs (:data:`reconstruct`); ``tick``
    as for :class:`EncodeStream`.

    While and after it runs: ``geometry``, ``latent_frames`` and ``tiled`` of its encoder."""

    def __init__(
        self, backend: Backend, frames: Iterable[np.ndarray], opts: StreamOptions | None = None, **kw
    ):
        self._opts = opts = opts or StreamOptions()
        self._pending: deque[np.ndarray] = deque()
        self._backend = backend
        self.encoded = EncodeStream(backend, frames, opts, keep=self._pending, **kw)

    @property
    def geometry(self) -> Geometry | None:
        return self.encoded.geometry

    @property
    def latent_frames(self) -> int:
        return self.encoded.latent_frames

    @property
    def tiled(self) -> bool:
        return self.encoded.tiled

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        opts, pending = self._opts, self._pending
        dec = StreamingDecoder(self._backend, opts.chunk_frames, opts.tile)
        for x in dec.run(self.encoded.means()):
            h, w = self.geometry.size
            for frame in tensor_to_frames(crop(x, len(pending), h, w)):
                yield pending.popleft(), frame


#: ``reconstruct(backend, frames, opts, *, tick=None)``: encode and decode ``H, W, 3`` uint8
#: frames in one stream; iterating the result yields each source frame with its reconstruction
#: (uint8, the source's size), in order.
reconstruct = Reconstruction
