"""Statistics and speed of the ``builtin:motion`` training source against ``builtin:photos``.

    python benchmarks/motion_stats.py                 # 2000 clips, 17 frames, 128 px, seed 0
    python benchmarks/motion_stats.py --clips 500 --frames 33 --resolution 256

Prints a markdown table of per-frame displacements (px/frame, from the sampled parameters, see
:func:`vaekit.io.motion.motion_statistics`), the share of each effect, and the mean time to make one
clip through the trainer's :class:`~vaekit.train.data.ClipReader` on one CPU thread. The numbers
in docs/motion-data.md come from the default run.
"""

from __future__ import annotations

import argparse
import time

import torch

from vaekit.io.motion import motion_statistics
from vaekit.train.data import ClipReader, find_items


def _row(name: str, stats: dict) -> str:
    return f"| {name} | " + " | ".join(f"{stats[k]:.2f}" for k in ("p10", "p50", "p90", "max")) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=2000, help="clips sampled for the statistics")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timed", type=int, default=300, help="clips rendered for the timing (0: skip)")
    args = parser.parse_args()

    stats = motion_statistics(args.clips, args.frames, args.resolution, args.seed)
    print(f"{args.clips} clips of {args.frames} frames at {args.resolution} px, seed {args.seed}\n")
    print("| displacement, px/frame | p10 | p50 | p90 | max |")
    print("|---|---|---|---|---|")
    print(_row("builtin:photos camera (view centre)", stats["photos"]["camera"]))
    print(_row("builtin:photos camera (worst corner)", stats["photos"]["camera_max"]))
    for key, label in (
        ("motion", "builtin:motion, all clips"),
        ("motion_only", 'builtin:motion, "motion" clips'),
    ):
        print(_row(f"{label}: camera (view centre)", stats[key]["camera"]))
        print(_row(f"{label}: camera (worst corner)", stats[key]["camera_max"]))
        print(_row(f"{label}: sprites (centre)", stats[key]["sprites"]))
    fast = motion_statistics(args.clips, args.frames, args.resolution, args.seed, fast=True, reference=False)["motion"]
    print(_row("builtin:fastmotion: camera (view centre)", fast["camera"]))
    print(_row("builtin:fastmotion: camera (worst corner)", fast["camera_max"]))
    print(_row("builtin:fastmotion: sprites (centre)", fast["sprites"]))
    print("\n| share of builtin:motion clips | |\n|---|---|")
    for name, value in stats["shares"].items():
        print(f"| {name} | {value:.3f} |" if name == "sprites_per_clip" else f"| {name} | {value:.1%} |")

    if args.timed:
        torch.set_num_threads(1)  # as in a DataLoader worker
        items = find_items(["builtin:motion"])
        reader = ClipReader(args.frames, args.resolution, 1)
        for item in items:  # warm the per-process photo caches, as a worker does in its first steps
            reader.read(item, torch.Generator().manual_seed(0))
        start = time.perf_counter()
        for i in range(args.timed):
            reader.read(items[i % len(items)], torch.Generator().manual_seed(1000 + i))
        ms = (time.perf_counter() - start) / args.timed * 1e3
        print(f"\nClipReader.read: {ms:.1f} ms/clip on one thread (mean of {args.timed} clips)")


if __name__ == "__main__":
    main()
