"""The index of a latent training set: ``OUT/index.jsonl``, its per-rank part files and manifest.

A folder written by ``vaekit encode DATASET -o OUT --clip-frames N`` holds

    OUT/encode.json            the manifest: model fingerprint, clip options, latent dtype; a
                               resumed run must agree with it (else it would mix two sets)
    OUT/index.jsonl            one JSON object per line, sorted: a ``clip`` record per latent file
                               and a ``video`` record per source video (done / failed, with error)
    OUT/index.parts/rank-*.jsonl  while a run is going: what each rank finished, append-only
    OUT/<path in DATASET>.<start>-<end>.latent.safetensors

Each rank appends one line to its own part file after each latent file has been renamed into
place, flushed at once, so a killed rank loses at most the clip in hand; a line cut short by a
kill is ignored on reading and trimmed when the rank's file is opened again. When every rank has
finished, rank 0 merges the index and the parts (the last record of each latent / source wins),
writes ``index.jsonl`` atomically and removes the parts. The merged file contains no ranks or
timings, so it is the same for any number of processes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError
from .atomic import atomic_write_bytes

INDEX = "index.jsonl"
PARTS = "index.parts"
MANIFEST = "encode.json"
SET_FORMAT = "vaekit.latent-set"
SET_VERSION = 1


def source_signature(path: Path) -> dict:
    """Size and modification time of a source file: a changed file is encoded again."""
    st = path.stat()
    return {"source_bytes": st.st_size, "source_mtime_ns": st.st_mtime_ns}


def is_latent_set(folder: str | os.PathLike) -> bool:
    p = Path(folder)
    return p.is_dir() and ((p / INDEX).is_file() or (p / MANIFEST).is_file() or (p / PARTS).is_dir())


def _parse_lines(data: bytes, where: Path) -> list[dict]:
    records = []
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if not data.endswith(b"\n") and n == data.count(b"\n") + 1:
                continue  # the last line of a killed writer: the clip it named is simply redone
            raise InputError(f"{where}: line {n} is not JSON; the index was edited or damaged") from None
        if isinstance(rec, dict) and rec.get("kind") in ("clip", "video"):
            records.append(rec)
    return records


def read_records(folder: str | os.PathLike) -> list[dict]:
    """Every record of ``index.jsonl`` then of the part files, in the order they were written."""
    root = Path(folder)
    files = [root / INDEX] if (root / INDEX).is_file() else []
    if (root / PARTS).is_dir():
        files += sorted((root / PARTS).glob("rank-*.jsonl"))
    records = []
    for f in files:
        records += _parse_lines(f.read_bytes(), f)
    return records


def record_key(rec: dict) -> tuple:
    return ("clip", rec["latent"]) if rec["kind"] == "clip" else ("video", rec["source"])


def latest(records: Iterable[dict]) -> dict[tuple, dict]:
    """The last record of each latent file / source video."""
    out: dict[tuple, dict] = {}
    for rec in records:
        out[record_key(rec)] = rec
    return out


def _sort_key(rec: dict) -> tuple:
    # per source: its clips by start frame, then its video record
    return (rec["source"], rec["kind"] != "clip", rec.get("frames", [0])[0], rec.get("latent", ""))


def merge(folder: str | os.PathLike) -> list[dict]:
    """Fold the part files into ``index.jsonl`` (atomically) and remove them; returns the records.

    Clips of a source whose video record has another size/mtime (the file changed since) are
    dropped: they belong to the old file."""
    root = Path(folder)
    current = latest(read_records(root))
    videos = {k[1]: r for k, r in current.items() if k[0] == "video"}

    def fresh(rec: dict) -> bool:
        v = videos.get(rec["source"])
        return rec["kind"] == "video" or v is None or (
            v["source_bytes"], v["source_mtime_ns"]) == (rec["source_bytes"], rec["source_mtime_ns"])  # fmt: skip

    records = sorted((r for r in current.values() if fresh(r)), key=_sort_key)
    data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
    atomic_write_bytes(root / INDEX, data)
    parts = root / PARTS
    if parts.is_dir():
        for f in parts.glob("rank-*.jsonl"):
            f.unlink(missing_ok=True)
        try:
            parts.rmdir()
        except OSError:
            pass  # something else lives there: leave it
    return records


class PartWriter:
    """Append-only records of one rank: one line per record, flushed (and fsynced) at once."""

    def __init__(self, folder: str | os.PathLike, rank: int):
        parts = Path(folder) / PARTS
        parts.mkdir(parents=True, exist_ok=True)
        self.path = parts / f"rank-{rank:05d}.jsonl"
        self._trim_partial_line()
        self._f = open(self.path, "ab")

    def _trim_partial_line(self) -> None:
        """Cut a last line that a killed run left without its newline."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def append(self, record: dict) -> None:
        self._f.write((json.dumps(record, sort_keys=True) + "\n").encode())
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def read_manifest(folder: str | os.PathLike) -> dict | None:
    p = Path(folder) / MANIFEST
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except ValueError:
        raise InputError(f"{p} is not JSON; it was edited or damaged: restore it or use a new -o folder") from None


def check_or_write_manifest(folder: str | os.PathLike, manifest: dict, write: bool) -> None:
    """Refuse to add to a set made with other options (one line naming the differences); write the
    manifest (``write``: rank 0) when the folder has none yet."""
    old = read_manifest(folder)
    if old is None:
        if write:
            atomic_write_bytes(Path(folder) / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
        return
    diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
    if diff:
        said = "; ".join(f"{k}: {old.get(k)!r} there, {manifest.get(k)!r} now" for k in diff)
        raise InputError(
            f"{folder} holds latents made with other settings ({said}); "
            "re-run with the same settings to continue it, or write to a new -o folder"
        )


def clip_records(folder: str | os.PathLike) -> list[dict]:
    """The finished clips of a set (merged index and any unmerged parts), sorted."""
    recs = [r for r in latest(read_records(folder)).values() if r["kind"] == "clip" and r["status"] == "ok"]
    return sorted(recs, key=_sort_key)


def summarize(folder: str | os.PathLike) -> dict:
    """What ``vaekit info OUT`` prints for a latent set."""
    root = Path(folder)
    manifest = read_manifest(root) or {}
    current = latest(read_records(root))
    clips = [r for k, r in current.items() if k[0] == "clip" and r["status"] == "ok"]
    videos = [r for k, r in current.items() if k[0] == "video"]
    failed = sorted((r for r in videos if r["status"] == "failed"), key=lambda r: r["source"])
    shapes = Counter("x".join(map(str, r["latent_shape"])) for r in clips)
    sizes = Counter("x".join(map(str, r["clip_shape"][-1:-3:-1])) for r in clips)
    fps = Counter(r["fps"] for r in clips)
    on_disk = sum((root / r["latent"]).stat().st_size for r in clips if (root / r["latent"]).is_file())
    missing = sum(not (root / r["latent"]).is_file() for r in clips)
    parts = sorted((root / PARTS).glob("rank-*.jsonl")) if (root / PARTS).is_dir() else []
    clip = manifest.get("clip", {})
    out = {
        "kind": "latent set",
        "path": str(root),
        "model": manifest.get("model"),
        "model_sha256": manifest.get("model_sha256"),
        "clip_options": ", ".join(f"{k}={v}" for k, v in clip.items() if v is not None),
        "latent_dtype": manifest.get("latent_dtype"),
        "clips": len(clips),
        "videos": len({r["source"] for r in clips} | {r["source"] for r in videos}),
        "videos_done": sum(r["status"] == "done" for r in videos),
        "videos_too_short": sum(r["status"] == "done" and r["clips"] == 0 for r in videos),
        "videos_failed": len(failed),
        "latent_shapes": ", ".join(f"{s} ({n})" for s, n in shapes.most_common()),
        "clip_sizes": ", ".join(f"{s} ({n})" for s, n in sizes.most_common()),
        "fps": ", ".join(f"{s} ({n})" for s, n in fps.most_common()),
        "latent_frames": sum(r["latent_shape"][1] for r in clips),
        "bytes_on_disk": on_disk,
        "missing_latent_files": missing,
        "state": f"incomplete: {len(parts)} rank part file(s) not merged; run the same command again"
        if parts
        else "complete",
    }
    for r in failed[:5]:
        out[f"failed: {Path(r['source']).name}"] = r["error"]
    return out
