"""Training data: clips from video files, still images and the built-in photo-motion source.

Every batch is a pure function of ``(seed, step, rank)``: :class:`ClipBatches` item ``step`` is
this rank's share of global batch ``step``. That makes the data position of a checkpoint just
the step, keeps the stream identical for any number of DataLoader workers, gives ranks disjoint
shards (rank ``r`` takes samples ``r*B .. r*B+B-1`` of each global batch), and even keeps the
stream when the number of ranks changes but the global batch does not.

Sources (``data`` / ``val_data`` entries): a folder (searched recursively for videos and images),
a file, a glob pattern, ``builtin:photos`` / ``builtin:photos:NAME,NAME`` (clips with slow camera
motion made from scikit-image's bundled photographs, no download needed), or ``builtin:motion`` /
``builtin:motion:NAME,NAME`` (motion-rich clips from the same photographs: fast pans with zoom and
roll, moving occluding cut-outs of the named photos, motion blur, hard cuts, fades, still shots,
sensor noise and x264 re-encoding, plus 20% slow ``builtin:photos``-like clips; see
:mod:`vaekit.io.motion` and docs/motion-data.md), or ``builtin:fastmotion[:NAME,NAME]`` (the same
generator with motion clips only, cameras at 2-16 and sprites at 4-16 px/frame; list it beside
``builtin:motion`` to weight training towards fast motion).

Videos give clips of ``num_frames`` frames taken every ``sample_rate`` frames from a random
start; images give 1-frame clips. A batch never mixes the two: when both are present, image
batches and video batches interleave in proportion to their file counts. Each clip is resized
(short side to ``resolution``) and randomly cropped to a square. A file that cannot be decoded,
or is too short for a clip, is replaced by the next file of the shuffled order and reported back
to the trainer (which warns once per file).
"""

from __future__ import annotations

import glob
import hashlib
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..io.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, frame_count_exact, iter_frames, probe
from ..runtime.pixels import to_unit

BUILTIN_PHOTOS = "builtin:photos"
BUILTIN_MOTION = "builtin:motion"
BUILTIN_FAST_MOTION = "builtin:fastmotion"
#: each built-in source's spec prefix and the ``Item.source`` it gives ("" = builtin:photos)
_BUILTIN_SOURCES = {BUILTIN_PHOTOS: "", BUILTIN_MOTION: "motion", BUILTIN_FAST_MOTION: "fastmotion"}
_BUILTIN_PREFIX = {source: prefix for prefix, source in _BUILTIN_SOURCES.items()}


@dataclass(frozen=True)
class Item:
    """One thing a clip can be cut from: a video/image file, or a built-in photo by name.

    ``source`` says which built-in generator films the photo: "" (:data:`BUILTIN_PHOTOS`), "motion"
    (:data:`BUILTIN_MOTION`, whose sprites and second shots come from ``pool``) or "fastmotion"
    (:data:`BUILTIN_FAST_MOTION`: the same generator, motion clips only, faster).
    """

    kind: str  # "video" (videos and photo-motion clips) or "image"
    path: str = ""
    photo: str = ""
    source: str = ""
    pool: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.path:
            return self.path
        return f"{_BUILTIN_PREFIX[self.source]}:{self.photo}"


class SkippedItem(Exception):
    """This item gives no clip (unreadable, too short); the reason is the message."""


def seed_for(*parts) -> int:
    """A 63-bit seed derived from ``parts`` (stable across processes and Python runs)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _generator(*parts) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed_for(*parts))
    return g


# ------------------------------------------------------------------------------------------------
# finding the files


def _photo_items(spec: str, prefix: str) -> list[Item]:
    from ..io.synthetic import list_photos

    available = list_photos()
    names = spec[len(prefix) + 1 :].split(",") if spec.startswith(prefix + ":") else available
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise InputError(f"unknown built-in photos {unknown}; available: {', '.join(available)}")
    source = _BUILTIN_SOURCES[prefix]
    pool = tuple(names) if source else ()  # the motion generators take sprites from the others
    return [Item("video", photo=n, source=source, pool=pool) for n in names]


def _file_item(path: Path) -> Item:
    return Item("image" if path.suffix.lower() in IMAGE_SUFFIXES else "video", path=str(path))


def find_items(specs: list[str]) -> list[Item]:
    """Expand data sources into items, in a stable (sorted) order. InputError when one is empty."""
    items: list[Item] = []
    for spec in specs:
        prefix = next((p for p in _BUILTIN_SOURCES if spec == p or spec.startswith(p + ":")), None)
        if prefix is not None:
            found = _photo_items(spec, prefix)
        elif Path(spec).is_dir():
            media = IMAGE_SUFFIXES | VIDEO_SUFFIXES
            found = [
                _file_item(p)
                for p in sorted(Path(spec).rglob("*"))
                if p.suffix.lower() in media and p.is_file()
            ]
        elif Path(spec).is_file():
            found = [_file_item(Path(spec))]
        else:
            found = [
                _file_item(Path(p)) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).is_file()
            ]
        if not found:
            raise InputError(f"data source {spec!r} has no videos or images; check the path or pattern")
        items += found
    return items


# ------------------------------------------------------------------------------------------------
# cutting one clip


def resize_and_crop(frames: torch.Tensor, resolution: int, gen: torch.Generator) -> torch.Tensor:
    """``T, H, W, 3`` uint8 -> ``3, T, res, res`` float in [-1, 1]: short side scaled, random crop."""
    x = frames.permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    scale = resolution / min(h, w)
    if scale != 1.0:
        size = (max(resolution, round(h * scale)), max(resolution, round(w * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        h, w = size
    top = int(torch.randint(0, h - resolution + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - resolution + 1, (1,), generator=gen))
    x = x[:, :, top : top + resolution, left : left + resolution]
    return to_unit(x, clamp=True).permute(1, 0, 2, 3).contiguous()


def color_jitter(clip: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The same random colour change on every frame of a ``3, T, H, W`` clip in [-1, 1]: a random
    channel order, saturation x [0.6, 1.6] around the per-pixel grey, then a per-channel gain
    x [0.85, 1.15] in [0, 1] units. Few photographs thus teach many colours."""
    u = torch.rand(4, generator=gen)
    x = (clip[torch.randperm(3, generator=gen)] + 1) / 2
    grey = x.mean(dim=0, keepdim=True)
    x = grey + (x - grey) * (0.6 + u[0])
    x = x * (0.85 + 0.3 * u[1:]).view(3, 1, 1, 1)
    return (x.clamp(0, 1) * 2 - 1).contiguous()


class ClipReader:
    """Cuts clips out of items; remembers frame counts, loaded photos and bad files per process."""

    def __init__(self, num_frames: int, resolution: int, sample_rate: int, color_augment: bool = False):
        self.num_frames = num_frames
        self.resolution = resolution
        self.sample_rate = sample_rate
        self.color_augment = color_augment
        self._frame_counts: dict[str, int] = {}
        self._photos: dict[str, np.ndarray] = {}
        self._bad: dict[str, str] = {}

    def read(self, item: Item, gen: torch.Generator) -> torch.Tensor:
        """The clip ``3, T, res, res`` of ``item`` (T = 1 for images); SkippedItem if impossible."""
        if item.label in self._bad:
            raise SkippedItem(self._bad[item.label])
        try:
            if item.photo and item.source:
                frames = self._motion_frames(item, gen)
            elif item.photo:
                frames = self._photo_frames(item.photo, gen)
            elif item.kind == "image" or self.num_frames == 1:
                frames = self._video_frames(item.path, 1, gen)
            else:
                frames = self._video_frames(item.path, self.num_frames, gen)
        except (InputError, SkippedItem) as e:
            self._bad[item.label] = str(e)
            raise SkippedItem(str(e)) from None
        clip = resize_and_crop(frames, self.resolution, gen)
        return color_jitter(clip, gen) if self.color_augment else clip

    def _frame_count(self, path: str) -> int:
        if path not in self._frame_counts:
            count = probe(path).frame_count
            self._frame_counts[path] = count if count is not None else frame_count_exact(path)
        return self._frame_counts[path]

    def _video_frames(self, path: str, num_frames: int, gen: torch.Generator) -> torch.Tensor:
        stride = self.sample_rate if num_frames > 1 else 1
        span = (num_frames - 1) * stride + 1
        count = self._frame_count(path)
        if count < span:
            raise SkippedItem(f"{path} has {count} frames; a clip needs {span}")
        start = int(torch.randint(0, count - span + 1, (1,), generator=gen))
        wanted = range(start, start + span, stride)
        frames = []
        stream = iter_frames(path, start=start)  # seeks: a clip costs one GOP, not the prefix
        try:
            for index, frame in enumerate(stream, start=start):
                if index in wanted:
                    frames.append(torch.from_numpy(frame))
                if len(frames) == num_frames:
                    break
        finally:
            stream.close()
        if len(frames) < num_frames:
            raise SkippedItem(f"{path} ended after {start + len(frames)} frames; a clip needs {start + span}")
        return torch.stack(frames)

    def _photo_frames(self, name: str, gen: torch.Generator) -> torch.Tensor:
        from ..io.synthetic import camera_motion_clip, load_photo

        if name not in self._photos:
            self._photos[name] = load_photo(name)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        frames = camera_motion_clip(
            self._photos[name], self.num_frames, self.resolution, self.resolution, seed=seed
        )
        return torch.from_numpy(np.stack(list(frames)))

    def _motion_frames(self, item: Item, gen: torch.Generator) -> torch.Tensor:
        from ..io.motion import motion_clip

        return motion_clip(
            gen,
            item.pool or (item.photo,),
            self.num_frames,
            self.resolution,
            photo=item.photo,
            fast=item.source == "fastmotion",
        )


# ------------------------------------------------------------------------------------------------
# the deterministic stream of batches


class ClipBatches(torch.utils.data.Dataset):
    """Item ``step`` is this rank's ``batch_size`` clips of global batch ``step``.

    Returns ``{"video": B, 3, T, res, res float, "skipped": [(label, reason), ...]}``.
    """

    def __init__(
        self,
        items: list[Item],
        reader: ClipReader,
        *,
        seed: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.reader = reader
        self.seed = seed
        self.batch_size = batch_size
        self.rank = rank
        self.global_batch = batch_size * world_size
        self.pools = {kind: [it for it in items if it.kind == kind] for kind in ("image", "video")}
        self.num_items = len(items)
        self._orders: dict[tuple[str, int], torch.Tensor] = {}

    def __len__(self) -> int:  # the stream is endless; the sampler decides which steps to read
        return 2**62

    def epoch(self, step: int) -> int:
        """Completed passes over the data before ``step`` (global samples / data size)."""
        return step * self.global_batch // self.num_items

    def _kind_and_ordinal(self, step: int) -> tuple[str, int]:
        """Which pool global batch ``step`` draws from, and how many batches drew from it before."""
        n_img = len(self.pools["image"])
        images_before = step * n_img // self.num_items
        if (step + 1) * n_img // self.num_items > images_before:
            return "image", images_before
        return "video", step - images_before

    def _item(self, kind: str, sample: int) -> Item:
        """Sample ``sample`` of a pool: a fresh shuffle of the pool per pass over it."""
        pool = self.pools[kind]
        epoch, pos = divmod(sample, len(pool))
        if (kind, epoch) not in self._orders:
            if len(self._orders) >= 4:  # a batch spans at most two passes per pool
                self._orders.clear()
            self._orders[kind, epoch] = torch.randperm(
                len(pool), generator=_generator(self.seed, kind, epoch)
            )
        return pool[int(self._orders[kind, epoch][pos])]

    def __getitem__(self, step: int) -> dict:
        kind, ordinal = self._kind_and_ordinal(step)
        pool_size = len(self.pools[kind])
        clips, skipped = [], []
        for b in range(self.batch_size):
            sample = ordinal * self.global_batch + self.rank * self.batch_size + b
            for attempt in range(pool_size):
                item = self._item(kind, sample + attempt)
                try:
                    clips.append(self.reader.read(item, _generator(self.seed, kind, sample, attempt)))
                    break
                except SkippedItem as e:
                    skipped.append((item.label, str(e)))
            else:
                raise InputError(f"no {kind} in the data gives a clip; first problem: {skipped[0][1]}")
        return {"video": torch.stack(clips), "skipped": skipped}


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # decoding/resizing processes must not compete with training threads
    # Ctrl-C and SIGTERM (e.g. `pkill`, a scheduler's preemption, which signal the whole process
    # group) are for the trainer, which saves a checkpoint and then shuts its workers down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def make_loader(dataset: ClipBatches, start_step: int, end_step: int, num_workers: int, pin_memory: bool):
    """A DataLoader over steps ``start_step .. end_step - 1`` of ``dataset`` (in order)."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=range(start_step, end_step),
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if num_workers else None,
        persistent_workers=False,
        prefetch_factor=2 if num_workers else None,
    )


def validation_clips(items: list[Item], reader: ClipReader, count: int, seed: int):
    """``count`` fixed clips (each ``1, 3, T, res, res``) and the ``(label, reason)`` of skipped files."""
    data = ClipBatches(items, reader, seed=seed, batch_size=1)
    batches = [data[i] for i in range(count)]
    return [b["video"] for b in batches], [s for b in batches for s in b["skipped"]]


#: files probed for the start line; past this many, unreadable ones are found as they are read
DESCRIBE_PROBE_LIMIT = 5000


def unreadable_files(items: list[Item], limit: int = DESCRIBE_PROBE_LIMIT) -> list[str]:
    """The files among (the first ``limit`` file) ``items`` that do not open as a video or image."""
    bad = []
    for it in [it for it in items if it.path][:limit]:
        try:
            probe(it.path)
        except InputError:
            bad.append(it.path)
    return bad


def describe(items: list[Item]) -> str:
    """``12 videos, 3 images, 2 built-in photos, 4 built-in motion photos`` for the console;
    files that do not open are not counted but named (``+ 2 unreadable files, skipped: ...``)."""
    bad = set(unreadable_files(items))
    counts = {
        "videos": sum(it.kind == "video" and not it.photo and it.path not in bad for it in items),
        "images": sum(it.kind == "image" and it.path not in bad for it in items),
        "built-in photos": sum(bool(it.photo) and not it.source for it in items),
        "built-in motion photos": sum(bool(it.photo) and bool(it.source) for it in items),
    }
    text = ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "no readable files"
    if bad:
        names = ", ".join(Path(p).name for p in sorted(bad)[:3]) + (", ..." if len(bad) > 3 else "")
        text += f" (+ {len(bad)} unreadable file{'s' if len(bad) > 1 else ''}, skipped: {names})"
    return text
