"""Latent file writing: the scratch path (frame-major scratch file, then a channel-major rewrite:
the writer before issue 14 step 2) against the one-pass path (each chunk written straight into
its final place; the checksum's tail read back on close), side by side in one run.

    python benchmarks/bench_latent_write.py                        # 1000 x 16 x 90 x 160, fp32
    python benchmarks/bench_latent_write.py --frames 250 --logvar  # smaller, with logvar
    python benchmarks/bench_latent_write.py --json out.json

Each path writes the same chunks (``--chunk`` latent frames each, what a 16-frame encode chunk
gives) into a latent file in ``--dir`` (default: a temporary folder), ``--repeats`` times,
alternating the order. Reported per path: seconds until the writer closed, seconds until
``os.sync()`` returned as well (the data on disk, not only in the page cache), and the bytes the
process wrote and read through system calls (``/proc/self/io`` wchar/rchar; the scratch path
reads its scratch file through a memory map, which rchar does not count). Both paths hash every
byte once (BLAKE2b), so on a CPU-bound machine the hash sets a floor under both times. The two files' sizes
and stored checksums must agree. A table and a JSON object (with the ratios) are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import tempfile
import time
from fractions import Fraction
from pathlib import Path


def _io() -> dict[str, int]:
    try:
        with open("/proc/self/io") as f:
            return {k: int(v) for k, v in (line.split(": ") for line in f)}
    except OSError:  # not Linux
        return {"wchar": 0, "rchar": 0}


def _checksum_of(path: Path) -> str:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]["data_blake2b"]


def write_once(path: Path, one_pass: bool, args) -> dict:
    import torch

    from vaekit.io.latent_file import LatentInfo, LatentWriter

    c, t, h, w = 16, args.frames, args.height, args.width
    gen = torch.Generator().manual_seed(0)
    chunk = torch.randn(c, args.chunk, h, w, generator=gen)  # the same values for every chunk
    info = LatentInfo(
        model_name="bench",
        model_sha256="0" * 64,
        source_width=w * 8,
        source_height=h * 8,
        padded_width=w * 8,
        padded_height=h * 8,
        frame_count=1 + 4 * (t - 1),
        fps=Fraction(24),
        dtype="",
        latent_channels=c,
        temporal_compression=4,
        spatial_compression=8,
    )
    os.sync()
    before, t0 = _io(), time.perf_counter()
    with LatentWriter(path, latent_frames=t if one_pass else None) as writer:
        for s in range(0, t, args.chunk):
            n = min(args.chunk, t - s)
            writer.write(chunk[:, :n], chunk[:, :n] if args.logvar else None)
        writer.info = info
    closed = time.perf_counter() - t0
    os.sync()
    synced = time.perf_counter() - t0
    after = _io()
    return {
        "layout": writer.layout,
        "seconds": closed,
        "seconds_synced": synced,
        "written_mb": (after["wchar"] - before["wchar"]) / 1e6,
        "read_mb": (after["rchar"] - before["rchar"]) / 1e6,
        "size_mb": path.stat().st_size / 1e6,
        "checksum": _checksum_of(path),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000, help="latent frames (default 1000)")
    ap.add_argument("--height", type=int, default=90, help="latent height (default 90: 720p)")
    ap.add_argument("--width", type=int, default=160, help="latent width (default 160: 1280 wide)")
    ap.add_argument("--chunk", type=int, default=4, help="latent frames per written chunk (default 4)")
    ap.add_argument("--logvar", action="store_true", help="write a logvar tensor as well")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary folder)")
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON result here")
    args = ap.parse_args()

    runs: dict[str, list[dict]] = {"scratch": [], "one-pass": []}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for r in range(args.repeats):
            order = ("scratch", "one-pass") if r % 2 == 0 else ("one-pass", "scratch")
            for name in order:
                path = Path(tmp, f"{name}.latent.safetensors")
                result = write_once(path, name == "one-pass", args)
                assert result["layout"] == name, result
                runs[name].append(result)
                path.unlink()
    a, b = runs["scratch"], runs["one-pass"]
    assert {x["checksum"] for x in a + b} == {a[0]["checksum"]}, "the two paths wrote different data"
    assert {x["size_mb"] for x in a + b} == {a[0]["size_mb"]}

    def med(rs, key):
        return statistics.median(x[key] for x in rs)

    summary = {
        "shape": [16, args.frames, args.height, args.width],
        "tensors": 2 if args.logvar else 1,
        "chunk": args.chunk,
        "repeats": args.repeats,
        "file_mb": round(a[0]["size_mb"], 1),
        "paths": {
            name: {
                key: round(med(rs, key), 3) for key in ("seconds", "seconds_synced", "written_mb", "read_mb")
            }
            for name, rs in runs.items()
        },
    }
    summary["ratio_seconds"] = round(med(a, "seconds") / med(b, "seconds"), 2)
    summary["ratio_seconds_synced"] = round(med(a, "seconds_synced") / med(b, "seconds_synced"), 2)
    summary["ratio_written"] = round(med(a, "written_mb") / med(b, "written_mb"), 2)

    print(
        f"latent {summary['shape']} fp32 x{summary['tensors']} = {summary['file_mb']} MB, chunks of {args.chunk}"
    )
    print(f"{'path':10s} {'s (closed)':>11s} {'s (synced)':>11s} {'written MB':>11s} {'read MB':>9s}")
    for name, p in summary["paths"].items():
        print(
            f"{name:10s} {p['seconds']:11.2f} {p['seconds_synced']:11.2f} {p['written_mb']:11.0f} {p['read_mb']:9.0f}"
        )
    print(
        f"scratch / one-pass: {summary['ratio_seconds']}x time (closed), "
        f"{summary['ratio_seconds_synced']}x (synced), {summary['ratio_written']}x bytes written"
    )
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
