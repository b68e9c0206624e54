"""``vaekit encode DATASET -o OUT --clip-frames N``: latents for a diffusion training set.

Every video under DATASET is cut into fixed-length clips (:mod:`vaekit.runtime.clips`) and each
clip is written as an ordinary latent file, plus one line in the set's index
(:mod:`vaekit.io.latent_index`). The same command runs on one process or on many under
``torchrun``, which sets RANK / WORLD_SIZE / LOCAL_RANK; the process group is the trainer's
(:func:`vaekit.train.distributed.setup`: NCCL on CUDA, gloo on CPU).

- Sharding: a video belongs to rank ``blake2b(its path inside DATASET) mod WORLD_SIZE``, so each
  rank's share is disjoint and does not depend on file order: adding videos moves no finished work.
  Each rank decodes and encodes only its own videos, on its own device (``cuda:LOCAL_RANK``), and
  writes only its own latent files and its own index part file.
- Progress: rank 0 draws one bar for the whole job. The counters travel in a small asynchronous
  all-reduce (on a gloo group) that every rank starts again between clips once the previous one
  has completed; nobody waits for it while working, and the last round doubles as the barrier
  before rank 0 merges the index.
- Resume: the index says what is finished (latent path, source size + mtime, model fingerprint);
  running the same command again skips finished clips and videos without re-encoding them.
- Faults: a video that cannot be read is recorded (``status: failed`` with its one-line error)
  and skipped, on this run and later ones, until the file changes. SIGTERM/SIGHUP/Ctrl-C let the
  clip in hand finish, then stop (exit 143/129/130); a second signal stops at once. Either way
  no partial file is left (atomic writes) and the index holds only whole clips. A rank that is
  killed outright loses only its clip in hand; the others' files and index lines are untouched.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from .errors import InputError, MissingDependencyError, VaekitError
from .interrupt import TERMINATING, Terminated
from .io import latent_index as index
from .io.atomic import make_folder
from .io.latent_file import SUFFIX, LatentInfo, LatentWriter
from .io.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, VideoReader
from .runtime.backend import Backend
from .runtime.clips import ClipSpec, iter_clips, plan_geometry
from .runtime.jobs import _latent_info
from .runtime.pipeline import StreamOptions, encode_stream
from .runtime.streaming import DEFAULT_CHUNK_FRAMES
from .runtime.tiling import TileSpec

#: parts of the time each clip costs, as the summary reports them
STAGES = ("decode", "resize", "model", "write")
_OWN_OUTPUT_TAGS = (".decoded", ".roundtrip")


# -- the work list -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    path: Path  # the file as found
    rel: str  # its path inside the dataset folder given (posix): names outputs, picks the rank


def find_videos(inputs: list[str | os.PathLike], out: Path) -> list[Item]:
    """Video and image files of ``inputs`` (folders searched recursively, sorted; hidden files,
    vaekit's own outputs and anything inside ``out`` left out)."""
    out = out.resolve()
    items: list[Item] = []
    for given in map(Path, inputs):
        if not given.exists():
            raise InputError(f"{given}: no such file or folder")
        if given.is_file():
            items.append(Item(given, given.name))
            continue
        for f in sorted(given.rglob("*")):
            rel = f.relative_to(given)
            if (
                f.suffix.lower() not in VIDEO_SUFFIXES | IMAGE_SUFFIXES
                or any(part.startswith(".") for part in rel.parts)
                or f.stem.endswith(_OWN_OUTPUT_TAGS)
                or not f.is_file()
                or f.resolve().is_relative_to(out)
            ):
                continue
            items.append(Item(f, rel.as_posix()))
    seen: dict[str, Path] = {}
    for it in items:
        if it.rel in seen:
            raise InputError(
                f"{seen[it.rel]} and {it.path} would both be written as {it.rel}; encode them into separate -o folders"
            )
        seen[it.rel] = it.path
    if not items:
        raise InputError(f"{', '.join(map(str, inputs))} holds no video or image files")
    return items


def rank_of(rel: str, world_size: int) -> int:
    """The rank that encodes the video at ``rel``: a hash of the name, not its place in a list."""
    digest = hashlib.blake2b(rel.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % world_size


def latent_name(rel: str, start: int, end: int) -> str:
    """``sub/a.mp4`` frames 0..17 -> ``sub/a.mp4.000000-000017.latent.safetensors`` (inside OUT)."""
    return f"{rel}.{start:06d}-{end:06d}{SUFFIX}"


# -- latent files of clips -----------------------------------------------------------------------
@dataclass
class ClipLatentInfo(LatentInfo):
    """A latent file's metadata plus where its clip came from (readers that do not know these keys
    ignore them). ``frame_count``/``fps`` are the clip's; the source's are below."""

    clip_start: int = 0  # first frame on the (resampled) timeline of the source
    clip_end: int = 0
    source_start: int = 0  # first and one-past-last source frame used
    source_end: int = 0
    source_fps: str = ""
    source_path: str = ""


def _fps_text(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


# -- progress over all ranks ---------------------------------------------------------------------
_FIELDS = ("videos", "clips", "resumed", "failed", "finished") + tuple(f"{s}_s" for s in STAGES)


class GlobalProgress:
    """Counters of this rank, summed over ranks by rounds of an asynchronous all-reduce.

    :meth:`poll` (between clips) collects a finished round and starts the next one after
    ``interval`` seconds; :meth:`finish` keeps running rounds until every rank has finished, so
    all ranks leave it after the same round and rank 0 holds the job's totals."""

    def __init__(self, world_size: int, group, total_videos: int, show: bool, interval: float = 0.5):
        self.world_size, self.group, self.interval = world_size, group, interval
        self.local = dict.fromkeys(_FIELDS, 0.0)
        self.totals = dict(self.local)
        self._work = self._buf = None
        self._last = 0.0
        self._t0 = time.perf_counter()
        self.bar = None
        if show:
            from tqdm import tqdm

            self.bar = tqdm(total=total_videos, desc="encode", unit="video", dynamic_ncols=True, leave=True)

    def add(self, **counts: float) -> None:
        for k, v in counts.items():
            self.local[k] += v
        self.poll()

    def _apply(self, values: dict) -> None:
        self.totals = values
        if self.bar is not None:
            self.bar.n = int(values["videos"] + values["failed"])
            rate = values["clips"] / max(time.perf_counter() - self._t0, 1e-9)
            self.bar.set_postfix(clips=int(values["clips"]), clips_s=f"{rate:.2f}", failed=int(values["failed"]))

    def _start(self) -> None:
        import torch.distributed as dist

        self._buf = torch.tensor([self.local[k] for k in _FIELDS], dtype=torch.float64)
        self._work = dist.all_reduce(self._buf, group=self.group, async_op=True)
        self._last = time.monotonic()

    def _collect(self) -> None:
        try:
            self._work.wait()
        except RuntimeError as e:  # a peer is gone (its process ended): nothing to sum any more
            raise VaekitError(
                f"another rank stopped before the job finished ({str(e).splitlines()[0][:120]}); the "
                "clips finished so far are kept: run the same command again to finish"
            ) from None
        self._apply(dict(zip(_FIELDS, self._buf.tolist())))
        self._work = None

    def poll(self) -> None:
        if self.world_size == 1:
            self._apply(dict(self.local))
            return
        if self._work is not None and self._work.is_completed():
            self._collect()
        if self._work is None and time.monotonic() - self._last >= self.interval:
            self._start()

    def finish(self, should_stop: Callable[[], None]) -> dict:
        """Mark this rank finished and wait (in rounds) for the others; returns the totals."""
        self.local["finished"] = 1.0
        if self.world_size == 1:
            self._apply(dict(self.local))
        while self.totals["finished"] < self.world_size:
            if self._work is None:
                self._start()
            while not self._work.is_completed():
                should_stop()
                time.sleep(0.02)
            self._collect()
            if self.totals["finished"] < self.world_size:
                time.sleep(min(self.interval, 0.1))
        return self.totals

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- stopping between clips ----------------------------------------------------------------------
class StopFlag:
    signum: int | None = None

    def check(self) -> None:
        """Raise the interruption the command line reports (exit 130 / 143 / 129) if one came."""
        if self.signum is None:
            return
        if self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(self.signum)


@contextlib.contextmanager
def stop_between_clips() -> Iterator[StopFlag]:
    """The first SIGINT/SIGTERM/SIGHUP only sets the flag (the clip in hand finishes, then the job
    stops); a second one interrupts at once, like :func:`vaekit.interrupt.signals_as_interrupts`."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {}

    def on_signal(signum, frame):
        if flag.signum is None:
            flag.signum = signum
            return
        for s in previous:  # the cleanup that follows must not be cut short
            signal.signal(s, signal.SIG_IGN)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    try:
        for s in (*TERMINATING, signal.SIGINT):
            current = signal.getsignal(s)
            if current is signal.SIG_IGN or current is None:
                continue
            previous[s] = current
            signal.signal(s, on_signal)
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# -- the job -------------------------------------------------------------------------------------
@dataclass
class EncodeSettings:
    spec: ClipSpec
    chunk_frames: int = DEFAULT_CHUNK_FRAMES
    tile: TileSpec | None = None
    save_logvar: bool = False
    latent_dtype: torch.dtype = torch.float32
    compute_dtype: str = "fp32"


class _Timer:
    def __init__(self):
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextlib.contextmanager
    def __call__(self, stage: str, sync: torch.device | None = None):
        t = time.perf_counter()
        try:
            yield
        finally:
            if sync is not None and sync.type == "cuda":
                torch.cuda.synchronize(sync)
            self.seconds[stage] += time.perf_counter() - t

    def take(self) -> dict:
        out = {f"{k}_s": v for k, v in self.seconds.items()}
        self.seconds = dict.fromkeys(STAGES, 0.0)
        return out


class RankJob:
    """What one rank does: its share of the videos, clip by clip, recorded in its part file."""

    def __init__(self, backend: Backend, out: Path, settings: EncodeSettings, rank: int, stop: StopFlag):
        self.backend, self.out, self.s, self.rank, self.stop = backend, out, settings, rank, stop
        self.timer = _Timer()
        self.folders: set[Path] = set()
        self.clips_of_video = 0
        done = index.latest(index.read_records(out))
        self.clips = {k[1]: r for k, r in done.items() if k[0] == "clip" and r["status"] == "ok"}
        self.videos = {k[1]: r for k, r in done.items() if k[0] == "video"}

    def _finished_clip(self, name: str, sig: dict) -> bool:
        rec = self.clips.get(name)
        return (
            rec is not None
            and rec["source_bytes"] == sig["source_bytes"]
            and rec["source_mtime_ns"] == sig["source_mtime_ns"]
            and rec["model_sha256"] == self.backend.model_sha256
            and (self.out / name).is_file()
        )

    def run_video(self, item: Item, parts: index.PartWriter, progress: GlobalProgress) -> None:
        source = str(item.path.resolve())
        try:
            sig = index.source_signature(item.path)
        except OSError as e:
            parts.append({"kind": "video", "status": "failed", "source": source, "source_bytes": -1,
                          "source_mtime_ns": -1, "clips": 0, "error": f"{item.path}: {e.strerror}"})  # fmt: skip
            progress.add(failed=1)
            return
        old = self.videos.get(source)
        if old is not None and (old["source_bytes"], old["source_mtime_ns"]) == tuple(sig.values()):
            progress.add(**({"failed": 1} if old["status"] == "failed" else {"videos": 1}))
            return
        self.clips_of_video = 0
        try:
            record = self._encode_video(item, source, sig, parts, progress)
        except InputError as e:  # clips finished before damage later in the file stay valid
            record = {"kind": "video", "status": "failed", "source": source, **sig,
                      "clips": self.clips_of_video, "error": str(e)}  # fmt: skip
            parts.append(record)
            progress.add(failed=1, **self.timer.take())
            return
        parts.append(record)
        progress.add(videos=1, **self.timer.take())

    def _encode_video(self, item, source, sig, parts, progress) -> dict:
        with VideoReader(item.path) as reader:  # opened once: the probe and the frames
            return self._encode_frames(reader, item, source, sig, parts, progress)

    def _encode_frames(self, reader: VideoReader, item, source, sig, parts, progress) -> dict:
        spec, backend = self.s.spec, self.backend
        info = reader.info
        geometry = plan_geometry(info.height, info.width, spec, backend.spatial_compression)
        n, step = spec.frames, spec.step

        @functools.cache  # asked once per frame of each window: one lookup and stat per clip
        def wanted(k: int) -> bool:
            return not self._finished_clip(latent_name(item.rel, k * step, k * step + n), sig)

        def transform(frame: np.ndarray) -> np.ndarray:
            with self.timer("resize"):
                return geometry.apply(frame)

        def decoded():
            frames = reader.frames()
            while True:
                self.stop.check()
                with self.timer("decode"):
                    frame = next(frames, None)
                if frame is None:
                    return
                yield frame

        fps = spec.fps or info.fps
        for clip in iter_clips(decoded(), spec, info.fps, transform, wanted):
            self.clips_of_video += 1
            if not clip.frames:
                progress.add(resumed=1)
                continue
            name = latent_name(item.rel, clip.start, clip.end)
            latent_shape = self._write_clip(clip, name, fps, info, item, source)
            parts.append({
                "kind": "clip", "status": "ok", "latent": name, "source": source, **sig,
                "frames": [clip.start, clip.end], "fps": _fps_text(fps),
                "source_frames": [clip.source_start, clip.source_end], "source_fps": _fps_text(info.fps),
                "source_shape": [info.height, info.width], "clip_shape": [3, n, *geometry.output],
                "latent_shape": latent_shape, "model": backend.model_name,
                "model_sha256": backend.model_sha256,
            })  # fmt: skip
            progress.add(clips=1, **self.timer.take())
            self.stop.check()  # the clip in hand is finished and recorded: stop here if asked
        return {"kind": "video", "status": "done", "source": source, **sig, "clips": self.clips_of_video,
                "source_shape": [info.height, info.width]}  # fmt: skip

    def _write_clip(self, clip, name: str, fps: Fraction, info, item: Item, source: str) -> list[int]:
        backend, s = self.backend, self.s
        dst = self.out / name
        if dst.parent not in self.folders:
            make_folder(dst.parent)
            self.folders.add(dst.parent)
        stream = encode_stream(backend, clip.frames, StreamOptions(s.chunk_frames, s.tile))
        with self.timer("model", backend.device):
            posteriors = [chunk.posterior for chunk in stream]
        with self.timer("write"):
            latent_frames = sum(post.mean.shape[2] for post in posteriors)  # known: one pass on disk
            with LatentWriter(dst, s.latent_dtype, latent_frames=latent_frames) as writer:
                for post in posteriors:
                    writer.write(post.mean[0], post.logvar[0] if s.save_logvar else None)
                base = _latent_info(backend, stream.geometry, fps, item.rel)
                writer.info = latent = ClipLatentInfo(
                    **asdict(base), clip_start=clip.start, clip_end=clip.end, source_start=clip.source_start,
                    source_end=clip.source_end, source_fps=_fps_text(info.fps), source_path=source,
                )  # fmt: skip
        return list(latent.latent_shape)


def _rank_device(device: str | None):
    """Join the torchrun group (if any) and pick this rank's device: ``cuda:LOCAL_RANK`` where CUDA
    is asked for or (``device`` None) available, else the CPU; one process keeps ``device`` as given."""
    from .train.distributed import setup

    world = int(os.environ.get("WORLD_SIZE", "1"))
    mode = "auto" if device is None else "cuda" if device.startswith("cuda") else "cpu"
    if mode == "cuda" and not torch.cuda.is_available():
        raise MissingDependencyError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and mode != "cpu" and torch.cuda.is_available() and local >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise MissingDependencyError(
            f"LOCAL_RANK {local} but this machine has {n} GPU(s): start at most {n} processes per node "
            f"(torchrun --nproc_per_node {n}), or use --device cpu"
        )
    d = setup(mode)
    if world == 1 and device is not None:
        return d, device
    return d, str(d.device)


def encode_dataset(
    inputs: list[str | os.PathLike],
    out: str | os.PathLike,
    settings: EncodeSettings,
    make_backend: Callable[[str], Backend],
    *,
    device: str | None = None,
    show_progress: bool = False,
    progress_interval: float = 0.5,
) -> dict | None:
    """Run this process's share of the job (see the module docstring). Returns the job's summary
    on rank 0 (None on the other ranks). ``make_backend(device)`` loads the model."""
    import torch.distributed as dist

    from .train.distributed import teardown

    out = Path(out)
    spec = settings.spec
    d, dev = _rank_device(device)
    try:
        items = find_videos(inputs, out)
        backend = make_backend(dev)
        tc = backend.temporal_compression
        if d.is_main and (spec.frames - 1) % tc:
            warnings.warn(
                f"--clip-frames {spec.frames} is not 1 + {tc}k: each clip's last latent frame covers "
                f"copies of its last frame; {1 + tc * ((spec.frames - 1) // tc)} or "
                f"{1 + tc * -(-(spec.frames - 1) // tc)} fit the model exactly",
                stacklevel=2,
            )
        make_folder(out)
        manifest = {
            "format": index.SET_FORMAT,
            "version": index.SET_VERSION,
            "model": backend.model_name,
            "model_sha256": backend.model_sha256,
            "clip": spec.to_dict(),
            "latent_dtype": str(settings.latent_dtype).removeprefix("torch."),
            "dtype": settings.compute_dtype,
            "save_logvar": settings.save_logvar,
        }
        index.check_or_write_manifest(out, manifest, write=d.is_main)
        group = None
        if d.enabled:
            group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
        mine = [it for it in items if rank_of(it.rel, d.world_size) == d.rank]
        t0 = time.perf_counter()
        progress = GlobalProgress(d.world_size, group, len(items), show_progress and d.is_main, progress_interval)
        with stop_between_clips() as stop:
            job = RankJob(backend, out, settings, d.rank, stop)
            parts = index.PartWriter(out, d.rank)
            try:
                for item in mine:
                    stop.check()
                    job.run_video(item, parts, progress)
            finally:
                parts.close()
            totals = progress.finish(stop.check)
        progress.close()
        if not d.is_main:
            return None
        records = index.merge(out)
        seconds = time.perf_counter() - t0
        busy = sum(totals[f"{s}_s"] for s in STAGES)
        failed = [{"source": r["source"], "error": r["error"]} for r in records
                  if r["kind"] == "video" and r["status"] == "failed"]  # fmt: skip
        return {
            "output": str(out),
            "index": str(out / index.INDEX),
            "ranks": d.world_size,
            "videos": len(items),
            "videos_failed": len(failed),
            "clips_written": int(totals["clips"]),
            "clips_resumed": int(totals["resumed"]),
            "clips_total": sum(r["kind"] == "clip" for r in records),
            "seconds": round(seconds, 3),
            "clips_per_s": round(totals["clips"] / max(seconds, 1e-9), 3),
            "time_shares": {s: round(totals[f"{s}_s"] / busy, 4) if busy else 0.0 for s in STAGES},
            "stage_seconds": {s: round(totals[f"{s}_s"], 3) for s in STAGES},
            "failed": failed,
        }
    finally:
        teardown()
