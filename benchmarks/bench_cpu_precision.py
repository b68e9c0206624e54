"""How much slower fp16 and bf16 are than fp32 on the CPU (the factor `vaekit` warns about).

    python benchmarks/bench_cpu_precision.py                       # tiny, 17 frames of 64x64
    python benchmarks/bench_cpu_precision.py --size 128 --frames 33 --json out.json

Streams one real-photo clip through the encoder and the decoder of the model at each precision on
the CPU (the same engine `vaekit roundtrip` runs), best of ``--repeat`` runs, and prints seconds
per precision and the factor against fp32. Set ``OMP_NUM_THREADS`` to fix the thread count.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch

from vaekit.api import load
from vaekit.io.synthetic import camera_motion_clip
from vaekit.runtime import TileSpec, TorchBackend
from vaekit.runtime.jobs import frames_to_tensor
from vaekit.runtime.streaming import StreamingDecoder, StreamingEncoder


def roundtrip_seconds(model: str, dtype: str, frames: list, chunk: int, repeat: int) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = TorchBackend(load(model, device="cpu", dtype=dtype))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        with torch.inference_mode():
            enc = StreamingEncoder(backend, chunk, TileSpec.parse("off"))
            latents = [
                m[:, : backend.latent_channels] for m in enc.run(frames_to_tensor(f) for f in frames)
            ]
            for _x in StreamingDecoder(backend, chunk, TileSpec.parse("off")).run(latents):
                pass
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--chunk-frames", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dtypes", default="fp32,fp16,bf16")
    ap.add_argument("--json", help="Also write the results to this file.")
    args = ap.parse_args()
    frames = list(camera_motion_clip("astronaut", args.frames, args.size, args.size, seed=0))
    result = {
        "model": args.model,
        "clip": f"{args.frames} frames {args.size}x{args.size}",
        "threads": torch.get_num_threads(),
        "seconds": {},
    }
    for dtype in args.dtypes.split(","):
        result["seconds"][dtype] = round(
            roundtrip_seconds(args.model, dtype, frames, args.chunk_frames, args.repeat), 3
        )
    base = result["seconds"].get("fp32")
    if base:
        result["factor_vs_fp32"] = {k: round(v / base, 1) for k, v in result["seconds"].items()}
    for k, v in result["seconds"].items():
        factor = f"  x{result['factor_vs_fp32'][k]}" if base else ""
        print(f"{k:5s} {v:8.3f} s{factor}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
