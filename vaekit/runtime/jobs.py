"""File-level jobs: video file -> latent file, latent file -> video file, and both in one stream.

Each job is a short composition of the streaming pipeline (:mod:`.pipeline`, docs/DESIGN.md
"Streaming") with the video and latent file formats. Frames flow one at a time from the demuxer
through the model to the muxer or latent writer; nothing holds the whole video. Every output is
written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import time
import warnings
from fractions import Fraction
from pathlib import Path

import torch

from .. import __version__
from ..errors import ModelMismatchError
from ..io.formats import FormatChangeWarning, pixel_note
from ..io.latent_file import LatentInfo, LatentReader, LatentWriter
from ..io.names import IMAGE_SUFFIXES
from ..io.video import open_writer
from ..metrics import VideoQuality
from .backend import Backend
from .pipeline import (  # noqa: F401  (StreamOptions, ProgressFactory, no_progress: re-exported)
    Geometry,
    ProgressFactory,
    StreamOptions,
    VideoSource,
    decode_stream,
    encode_stream,
    no_progress,
    reconstruct,
)
from .pixels import frame_to_chw, frames_to_tensor, tensor_to_frames  # noqa: F401  (re-exported)


def _latent_info(backend: Backend, geometry: Geometry, fps: Fraction, source: str) -> LatentInfo:
    g = geometry
    return LatentInfo(
        model_name=backend.model_name,
        model_sha256=backend.model_sha256,
        source_width=g.width,
        source_height=g.height,
        padded_width=g.padded_width,
        padded_height=g.padded_height,
        frame_count=g.frame_count,
        fps=fps,
        dtype="",  # set by the writer
        latent_channels=backend.latent_channels,
        temporal_compression=backend.temporal_compression,
        spatial_compression=backend.spatial_compression,
        source=source,
        vaekit_version=__version__,
        model_dir=getattr(backend, "model_dir", ""),
        **backend.scaling,
    )


def _summary(src, dst, frames: int, width: int, height: int, fps: Fraction, seconds: float, **extra) -> dict:
    """The one-object-per-output report every job returns (printed by ``--json``)."""
    return {
        "input": str(src),
        "output": str(dst),
        "frames": frames,
        "width": width,
        "height": height,
        "fps": f"{fps.numerator}/{fps.denominator}",
        **extra,
        "seconds": round(seconds, 3),
        "frames_per_s": round(frames / max(seconds, 1e-9), 2),
    }


def encode_file(
    backend: Backend,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    opts: StreamOptions | None = None,
    *,
    save_logvar: bool = False,
    latent_dtype: torch.dtype = torch.float32,
) -> dict:
    """Encode a video (or image) file into a latent file. Returns a summary dict."""
    opts = opts or StreamOptions()
    source = VideoSource(src)
    fps = source.fps  # probed before any work: a missing or unreadable file fails here
    if not getattr(backend, "latent_stats_computed", True):
        from ..model.folder import LatentStatsMissingWarning

        where = getattr(backend, "model_dir", "") or "DIR"
        warnings.warn(
            f"model {backend.model_name!r} has no latent statistics yet (exported from a training run): the "
            f"latent files decode, but carry no normalisation for diffusion; `vaekit stats VIDEOS --model {where}`",
            LatentStatsMissingWarning,
            stacklevel=2,
        )
    t0 = time.perf_counter()
    tick = opts.progress(source.total, f"encode {Path(src).name}")
    stream = encode_stream(backend, source.frames(), opts, tick=tick)
    # the count the container declares: chunks go straight into the final layout (one pass on
    # disk), and the writer falls back to a scratch file if the frames read say otherwise
    announced = source.latent_frames(backend.temporal_compression)
    with LatentWriter(dst, latent_dtype, latent_frames=announced) as writer:
        for chunk in stream:
            post = chunk.posterior
            writer.write(post.mean[0], post.logvar[0] if save_logvar else None)
        writer.info = latent = _latent_info(backend, stream.geometry, fps, Path(src).name)
    seconds = time.perf_counter() - t0
    g = stream.geometry
    return _summary(
        src,
        dst,
        g.frame_count,
        g.width,
        g.height,
        fps,
        seconds,
        latent_shape=list(latent.latent_shape),
        tiled=stream.tiled,
        latent_layout=writer.layout,
    )


def check_latent_model(reader: LatentReader, backend: Backend) -> None:
    """Refuse latents made by another model (different weights fingerprint or geometry)."""
    info = reader.info
    if info.model_sha256 != backend.model_sha256:
        from ..model.folder import preset_with_fingerprint

        sha = info.model_sha256[:12]
        preset = preset_with_fingerprint(info.model_sha256)
        made_by = f"model {info.model_name!r} (weights {sha}" + (
            f", folder {info.model_dir})" if info.model_dir else ")"
        )
        same_name = (
            " (same name, other weights: a retrained or fine-tuned model?)"
            if info.model_name == backend.model_name
            else ""
        )
        if preset:
            fix = f"decode it with --model {preset} (the preset with those weights)"
        elif info.model_dir and Path(info.model_dir, "config.json").is_file():
            fix = (
                f"decode it with --model {info.model_dir} (the folder that encoded it; `vaekit info "
                f"{info.model_dir}` shows its fingerprint, which must be {sha}...)"
            )
        else:
            fix = (
                f"decode it with --model DIR, the model folder whose weights have the fingerprint {sha}... "
                "(`vaekit info DIR` shows a folder's; a training run's model is RUN_DIR/model)"
            )
        raise ModelMismatchError(
            f"{reader.path.name} was encoded by {made_by}, not by the loaded model {backend.model_name!r} "
            f"(weights {backend.model_sha256[:12]}){same_name}; {fix}"
        )
    geometry = (info.latent_channels, info.temporal_compression, info.spatial_compression)
    ours = (backend.latent_channels, backend.temporal_compression, backend.spatial_compression)
    if geometry != ours:  # same weights but a different geometry means an altered file
        raise ModelMismatchError(
            f"{reader.path.name}: latent geometry {geometry} does not match the model's {ours}"
        )


def decode_file(
    backend: Backend,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    opts: StreamOptions | None = None,
    *,
    codec: str = "libx264",
    crf: int = 18,
    audio_from: str | os.PathLike | None = None,
) -> dict:
    """Decode a latent file into a video file with the source's size, frame count and fps."""
    opts = opts or StreamOptions()
    reader = LatentReader(src)
    check_latent_model(reader, backend)
    info = reader.info
    t0 = time.perf_counter()
    chunk = max(1, opts.chunk_frames // backend.temporal_compression)
    latents = (z[None] for z in reader.iter_chunks(chunk))
    tick = opts.progress(info.frame_count, f"decode {Path(src).name}")
    with open_writer(
        dst,
        info.source_width,
        info.source_height,
        info.fps,
        frame_count=info.frame_count,
        codec=codec,
        crf=crf,
        audio_from=audio_from,
    ) as writer:
        n = 0
        for frame in decode_stream(
            backend, latents, info.frame_count, info.source_height, info.source_width, opts
        ):
            writer.write(frame)
            n += 1
            tick(1)
    seconds = time.perf_counter() - t0
    return _summary(src, dst, n, info.source_width, info.source_height, info.fps, seconds)


def _format_note(note: str | None) -> None:
    if note is not None:
        warnings.warn(note, FormatChangeWarning, stacklevel=3)


def roundtrip_file(
    backend: Backend,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    opts: StreamOptions | None = None,
    *,
    codec: str = "libx264",
    crf: int = 18,
    audio_from: str | os.PathLike | None = None,
    keep_audio: bool = True,
) -> dict:
    """Encode and decode a video in one stream; returns PSNR/SSIM of the decoded frames against
    the source frames (uint8, at the source size) before the output codec touches them.

    The source's audio is copied into a video output (``keep_audio``, unless ``audio_from`` names
    another file). A :class:`~vaekit.io.formats.FormatChangeWarning` says what the output does not
    keep of the source: a variable frame rate, bit depth above 8, 4:2:2/4:4:4 chroma, gray."""
    opts = opts or StreamOptions()
    source = VideoSource(src)
    info = source.info
    to_video = Path(dst).suffix.lower() not in IMAGE_SUFFIXES
    if audio_from is None and keep_audio and info.has_audio and to_video:
        audio_from = src
    t0 = time.perf_counter()
    tick = opts.progress(info.frame_count, f"roundtrip {Path(src).name}")
    pairs = reconstruct(backend, source.frames(), opts, tick=tick)
    quality = VideoQuality()
    n = 0
    with open_writer(
        dst,
        info.width,
        info.height,
        info.fps,
        frame_count=info.frame_count,
        codec=codec,
        crf=crf,
        audio_from=audio_from,
    ) as writer:
        if to_video:
            _format_note(pixel_note(Path(src).name, info.pix_fmt, writer.pix_fmt))
        for ref, frame in pairs:
            quality.update(frame_to_chw(ref), frame_to_chw(frame))
            writer.write(frame)
            n += 1
    if to_video:  # told from the timestamps the pass read: the source is not read again
        _format_note(source.clock.variable_rate_note(Path(src).name, info.fps))
    seconds = time.perf_counter() - t0
    return _summary(
        src,
        dst,
        n,
        info.width,
        info.height,
        info.fps,
        seconds,
        psnr=round(quality.psnr, 3),
        ssim=round(quality.ssim, 5),
        tiled=pairs.tiled,
    )
