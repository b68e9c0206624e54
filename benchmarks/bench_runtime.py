"""Streaming runtime benchmark: speed, peak memory, flat memory in video length, tiling error.

    python benchmarks/bench_runtime.py                 # everything (tiny + base), ~10 min on 2 cores
    python benchmarks/bench_runtime.py --quick         # tiny only, smaller clips
    python benchmarks/bench_runtime.py --json out.json

Each measurement runs in a fresh subprocess so that its peak RSS (``ru_maxrss``) is its own.
Speed cases stream a tensor clip through the engine (encode, then decode); the length cases run
the real file path (mp4 -> latent file -> mp4) on a 60-frame and a 600-frame clip, whose peak
memory should be within 20% of each other. Results print as a table and as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_speed(model: str, size: int, frames: int, chunk: int) -> dict:
    import torch

    from vaekit.model import load_model
    from vaekit.runtime import TileSpec, TorchBackend
    from vaekit.runtime.streaming import StreamingDecoder, StreamingEncoder

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = TorchBackend(load_model(model))
    x = torch.rand(1, 3, frames, size, size) * 2 - 1
    tile = TileSpec(mode="off")
    # warm-up on one chunk (first-call allocations, oneDNN kernel selection)
    list(StreamingEncoder(backend, chunk, tile).run([x[:, :, :chunk]]))
    t0 = time.perf_counter()
    moments = list(StreamingEncoder(backend, chunk, tile).run(x.split(1, dim=2)))
    t1 = time.perf_counter()
    z = torch.cat(moments, dim=2)[:, : backend.latent_channels]
    n_out = sum(y.shape[2] for y in StreamingDecoder(backend, chunk, tile).run(z.split(1, dim=2)))
    t2 = time.perf_counter()
    return {
        "case": "speed",
        "model": model,
        "size": size,
        "frames": frames,
        "chunk_frames": chunk,
        "encode_fps": round(frames / (t1 - t0), 2),
        "decode_fps": round(n_out / (t2 - t1), 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def case_length(model: str, frames: int, size: int, workdir: str) -> dict:
    from vaekit.io.synthetic import write_sample_clip
    from vaekit.model import load_model
    from vaekit.runtime import TorchBackend
    from vaekit.runtime.jobs import decode_file, encode_file

    clip = Path(workdir) / f"clip{frames}.mp4"
    if not clip.exists():
        write_sample_clip(clip, num_frames=frames, width=size, height=size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = TorchBackend(load_model(model))
    base_rss = _peak_rss_mb()
    t0 = time.perf_counter()
    encode_file(backend, clip, Path(workdir) / f"clip{frames}.latent.safetensors")
    decode_file(
        backend, Path(workdir) / f"clip{frames}.latent.safetensors", Path(workdir) / f"out{frames}.mp4"
    )
    return {
        "case": "length",
        "model": model,
        "size": size,
        "frames": frames,
        "seconds": round(time.perf_counter() - t0, 1),
        "rss_before_mb": round(base_rss, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def case_tiling(model: str, size: int, tile: str) -> dict:
    """Error that tiling adds: tiled vs untiled decode of the same latents of a real clip."""
    import torch

    from vaekit.io.synthetic import camera_motion_clip
    from vaekit.model import load_model
    from vaekit.runtime import TileSpec, TorchBackend, decode_all, encode_all
    from vaekit.runtime.jobs import frames_to_tensor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = load_model(model)
    backend = TorchBackend(m)
    x = torch.cat(
        [frames_to_tensor(f) for f in camera_motion_clip("astronaut", 9, size, size, seed=0)], dim=2
    )
    off, on = TileSpec(mode="off"), TileSpec.parse(tile)
    z = encode_all(backend, x, 8, off)[:, :16]
    z_tiled = encode_all(backend, x, 8, on)[:, :16]
    y, y_tiled = decode_all(backend, z, 8, off), decode_all(backend, z, 8, on)
    mse = float(((y.clamp(-1, 1) - y_tiled.clamp(-1, 1)) / 2).pow(2).mean())
    return {
        "case": "tiling",
        "model": model,
        "trained_weights": m.trained,
        "size": size,
        "tile": tile,
        "latent_max_abs_err": round(float((z - z_tiled).abs().max()), 5),
        "latent_rms": round(float(z.pow(2).mean().sqrt()), 5),
        "pixel_max_abs_err": round(float((y - y_tiled).abs().max()), 5),
        "tiled_vs_untiled_psnr_db": round(10 * __import__("math").log10(1 / max(mse, 1e-20)), 2),
    }


CASES = {"speed": case_speed, "length": case_length, "tiling": case_tiling}


def run_case(name: str, **kw) -> dict:
    """Run one case in a fresh interpreter and return its JSON result."""
    cmd = [sys.executable, __file__, "--case", name, "--kw", json.dumps(kw)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny preset only, shorter clips")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--kw", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:  # child process
        print(json.dumps(CASES[args.case](**json.loads(args.kw))))
        return

    results = []
    models = ["tiny"] if args.quick else ["tiny", "base"]
    for model in models:
        for size in (256, 512):
            frames = 9 if model == "base" else 17
            results.append(
                run_case("speed", model=model, size=size, frames=frames, chunk=8 if model == "base" else 16)
            )
            print(_row(results[-1]), flush=True)
    with tempfile.TemporaryDirectory() as d:
        for frames in (60, 600) if not args.quick else (60, 240):
            results.append(run_case("length", model="tiny", frames=frames, size=256, workdir=d))
            print(_row(results[-1]), flush=True)
    lengths = [r for r in results if r["case"] == "length"]
    ratio = lengths[1]["peak_rss_mb"] / lengths[0]["peak_rss_mb"]
    print(
        f"peak memory, {lengths[1]['frames']} vs {lengths[0]['frames']} frames: x{ratio:.3f} (target < 1.20)"
    )
    results.append({"case": "length_ratio", "ratio": round(ratio, 3)})
    results.append(run_case("tiling", model="tiny", size=512, tile="256:64"))
    print(_row(results[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


def _row(r: dict) -> str:
    return "  ".join(f"{k}={v}" for k, v in r.items())


if __name__ == "__main__":
    main()
