"""Dataset encoding benchmark: clips/s with 1 and 2 processes, and where each clip's time goes.

    python benchmarks/bench_dataset_encode.py                  # 8 videos, 17-frame clips at 128x128
    python benchmarks/bench_dataset_encode.py --quick          # 4 videos, 9-frame clips at 64x64
    python benchmarks/bench_dataset_encode.py --json out.json --device cuda

A folder of generated videos (real photographs filmed by a moving virtual camera, 320x240, at 24,
25 and 30000/1001 fps) is encoded by ``vaekit encode DATASET -o OUT --clip-frames N --size S --fps 24``
once by one process and once under ``torchrun --nproc_per_node 2``, each into a fresh folder,
each process with ``--threads`` OpenMP threads. clips/s is the job's own clock (after the model
is loaded, up to the merged index; process start-up excluded); the shares split the time the
ranks spent on decode (PyAV), resize (crop included), model (the encoder) and write (latent
file + index line). Results print as a table and as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_dataset(root: Path, videos: int, frames: int) -> Path:
    from vaekit.io.synthetic import write_sample_clip

    root.mkdir(parents=True, exist_ok=True)
    rates = [Fraction(24), Fraction(25), Fraction(30000, 1001)]
    photos = ["astronaut", "coffee", "chelsea"]
    for i in range(videos):
        write_sample_clip(root / f"video{i:03d}.mp4", photo=photos[i % 3], num_frames=frames, width=320,
                          height=240, fps=rates[i % 3], seed=i)  # fmt: skip
    return root


def run(dataset: Path, out: Path, procs: int, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(args.threads))
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(k, None)
    cmd = [sys.executable]
    if procs > 1:
        cmd += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs)]
    cmd += ["-m", "vaekit", "encode", str(dataset), "-o", str(out), "--clip-frames", str(args.clip_frames),
            "--size", args.size, "--fps", "24", "--model", args.model, "--json", "--quiet"]  # fmt: skip
    if args.device:
        cmd += ["--device", args.device]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd[:8])} ... failed ({p.returncode}): {p.stderr[-2000:]}")
    summary = json.loads([x for x in p.stdout.splitlines() if x.startswith("{")][-1])
    return {"processes": procs, **{k: summary[k] for k in ("clips_written", "seconds", "clips_per_s",
                                                           "time_shares", "stage_seconds")}}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 videos, 9-frame clips at 64x64")
    ap.add_argument("--videos", type=int, default=None)
    ap.add_argument("--video-frames", type=int, default=None, help="frames per generated video")
    ap.add_argument("--clip-frames", type=int, default=None)
    ap.add_argument("--size", default=None, help="clip size WxH")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--device", default=None, help="default: cuda:LOCAL_RANK where CUDA exists, else cpu")
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads per process")
    ap.add_argument("--json", dest="json_out", help="also write the results to this file")
    args = ap.parse_args()
    quick = dict(videos=4, video_frames=49, clip_frames=9, size="64x64")
    full = dict(videos=8, video_frames=97, clip_frames=17, size="128x128")
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    with tempfile.TemporaryDirectory(prefix="vaekit-bench-ds-") as tmp:
        dataset = make_dataset(Path(tmp) / "videos", args.videos, args.video_frames)
        rows = [run(dataset, Path(tmp) / f"out{n}", n, args) for n in (1, 2)]
    result = {
        "model": args.model,
        "device": args.device or "auto",
        "threads_per_process": args.threads,
        "cpus": os.cpu_count(),
        "videos": args.videos,
        "video": f"{args.video_frames} frames 320x240 at 24/25/29.97 fps",
        "clip": f"{args.clip_frames} frames {args.size} at 24 fps",
        "runs": rows,
        "speedup_2_vs_1": round(rows[1]["clips_per_s"] / rows[0]["clips_per_s"], 3),
    }
    print(f"{args.videos} videos ({result['video']}) -> clips of {result['clip']}, model {args.model}, "
          f"{args.threads} thread(s) per process, {os.cpu_count()} CPUs")  # fmt: skip
    print("| processes | clips | seconds | clips/s | decode | resize | model | write |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["time_shares"]
        print(f"| {r['processes']} | {r['clips_written']} | {r['seconds']:.2f} | {r['clips_per_s']:.2f} | "
              + " | ".join(f"{100 * s[k]:.1f}%" for k in ("decode", "resize", "model", "write")) + " |")
    print(f"2 processes / 1 process: x{result['speedup_2_vs_1']}")
    print(json.dumps(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
