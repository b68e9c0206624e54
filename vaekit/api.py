"""The Python API: ``vaekit.load(...)`` returns a :class:`VideoVAE`, a ``torch.nn.Module`` for
diffusion pipelines with whole-tensor, streaming and video-file entry points."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import torch

from .dtypes import name_of, parse_dtype, torch_dtypes
from .io.video import open_writer
from .model import DEFAULT_MODEL, CausalVideoVAE, DiagonalGaussian, load_model
from .runtime.backend import TorchBackend
from .runtime.pipeline import StreamOptions, VideoSource, decode_stream, encode_stream
from .runtime.streaming import DEFAULT_CHUNK_FRAMES, StreamingDecoder, StreamingEncoder
from .runtime.tiling import TileSpec

DTYPES = torch_dtypes()


class SlowPrecisionWarning(UserWarning):
    """Half precision on a CPU without native half kernels: far slower than fp32."""


def native_half_on_cpu(dtype: torch.dtype) -> bool:
    """Whether PyTorch runs ``dtype`` (fp16/bf16) convolutions natively on this CPU (oneDNN with
    AVX512-FP16/AMX-FP16, resp. AVX512-BF16/AMX-BF16); without, they fall back to slow kernels."""
    try:
        if dtype == torch.float16:
            return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
        if dtype == torch.bfloat16:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without these probes: assume the slow path
        return False
    return True


def warn_if_slow_precision(device: str | torch.device, dtype: torch.dtype) -> None:
    """One :class:`SlowPrecisionWarning` for fp16/bf16 on a CPU that has no native kernels for it."""
    if torch.device(device).type != "cpu" or dtype not in (torch.float16, torch.bfloat16):
        return
    if native_half_on_cpu(dtype):
        return
    name = name_of(dtype)
    warnings.warn(
        f"{name} on this CPU runs far slower than fp32 (27x on 64x64 and 72x on 128x128 clips, tiny "
        f"model, benchmarks/bench_cpu_precision.py): it has no native {name} kernels; use --dtype fp32",
        SlowPrecisionWarning,
        stacklevel=3,
    )


@dataclass
class EncodedVideo:
    """Latents of a video file plus what is needed to decode it back to the source's shape."""

    latent_dist: DiagonalGaussian
    frame_count: int
    height: int
    width: int
    fps: Fraction


class VideoVAE(CausalVideoVAE):
    """A :class:`~vaekit.model.CausalVideoVAE` with streaming and video-file helpers.

    ``encode``/``decode`` work on whole tensors; ``iter_encode``/``iter_decode`` stream any
    number of frames in constant memory; ``encode_video``/``decode_to_video`` read and write files.
    """

    def _backend(self) -> TorchBackend:
        return TorchBackend(self)

    def iter_encode(
        self,
        frames: Iterable[torch.Tensor],
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        tile: str | TileSpec = "auto",
    ) -> Iterator[DiagonalGaussian]:
        """Stream pixel pieces (``B, 3, t, H, W`` in ``[-1, 1]``) -> latent distributions per chunk."""
        tile = tile if isinstance(tile, TileSpec) else TileSpec.parse(tile)
        for moments in StreamingEncoder(self._backend(), chunk_frames, tile).run(frames):
            yield DiagonalGaussian(moments)

    def iter_decode(
        self,
        latents: Iterable[torch.Tensor],
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        tile: str | TileSpec = "auto",
    ) -> Iterator[torch.Tensor]:
        """Stream latent pieces (``B, C, n, h, w``) -> pixel chunks (padded size; trim the tail)."""
        tile = tile if isinstance(tile, TileSpec) else TileSpec.parse(tile)
        yield from StreamingDecoder(self._backend(), chunk_frames, tile).run(latents)

    def encode_video(
        self, path: str | os.PathLike, chunk_frames: int = DEFAULT_CHUNK_FRAMES, tile: str | TileSpec = "auto"
    ) -> EncodedVideo:
        """Encode a video file (streamed from disk) into latents ``1, C, n, h, w``."""
        source = VideoSource(path)
        info = source.info
        stream = encode_stream(self._backend(), source.frames(), _options(chunk_frames, tile))
        latent_dist = DiagonalGaussian.cat([chunk.posterior for chunk in stream])
        return EncodedVideo(latent_dist, stream.geometry.frame_count, info.height, info.width, info.fps)

    def decode_to_video(
        self,
        z: torch.Tensor,
        path: str | os.PathLike,
        fps: Fraction | float = Fraction(24),
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        *,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        tile: str | TileSpec = "auto",
        codec: str = "libx264",
        crf: int = 18,
    ) -> int:
        """Decode latents ``1, C, n, h, w`` into a video file (or an image file for one frame); returns
        the number of frames written."""
        sc, tc = self.spatial_compression, self.temporal_compression
        num_frames = num_frames or 1 + tc * (z.shape[2] - 1)
        height, width = height or z.shape[3] * sc, width or z.shape[4] * sc
        written = 0
        opts = _options(chunk_frames, tile)
        with open_writer(path, width, height, fps, frame_count=num_frames, codec=codec, crf=crf) as w:
            for frame in decode_stream(self._backend(), z.split(1, dim=2), num_frames, height, width, opts):
                w.write(frame)
                written += 1
        return written


def _options(chunk_frames: int, tile: str | TileSpec) -> StreamOptions:
    return StreamOptions(chunk_frames, tile if isinstance(tile, TileSpec) else TileSpec.parse(tile))


def load(
    name_or_path: str | os.PathLike = DEFAULT_MODEL,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = torch.float32,
) -> VideoVAE:
    """Load a model folder (``config.json`` + ``model.safetensors``) or a preset by name.

    fp16/bf16 on a CPU without native half kernels warn (:class:`SlowPrecisionWarning`): there
    they run tens of times slower than fp32."""
    dtype = parse_dtype(dtype)
    warn_if_slow_precision(device, dtype)
    return load_model(name_or_path, device=device, dtype=dtype, cls=VideoVAE)
