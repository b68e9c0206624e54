"""Encode + decode speed of a vaekit preset vs the Wan 2.1 VAE architecture, same clip, same run.

    python benchmarks/bench_vs_wan.py [--model tiny] [--size 256] [--frames 17] [--json out.json]

Speed depends only on the architecture, so both models run with random weights: vaekit's preset
through the streaming engine, diffusers' ``AutoencoderKLWan`` at its default configuration
(needs ``pip install diffusers``). Each side does one warm-up pass and then ``--repeats`` timed
passes, alternating, and the median is reported. The target of the default-model issue is a
ratio of at least 20x at 256x256.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()

    from diffusers import AutoencoderKLWan

    from vaekit.model import load_model
    from vaekit.runtime import TileSpec, TorchBackend, decode_all, encode_all

    torch.manual_seed(0)
    x = torch.rand(1, 3, args.frames, args.size, args.size) * 2 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = TorchBackend(load_model(args.model))
    wan = AutoencoderKLWan().eval()  # the Wan 2.1 VAE's default architecture, random weights
    off = TileSpec(mode="off")

    def ours():
        z = encode_all(backend, x, 16, off)[:, :16]
        decode_all(backend, z, 16, off)

    @torch.no_grad()
    def theirs():
        z = wan.encode(x).latent_dist.mode()
        wan.decode(z)

    ours(), theirs()  # warm-up
    t_ours, t_wan = [], []
    for _ in range(args.repeats):
        t_ours.append(_time(ours))
        t_wan.append(_time(theirs))
    result = {
        "clip": f"{args.frames}x{args.size}x{args.size}",
        "threads": torch.get_num_threads(),
        "vaekit_model": args.model,
        "vaekit_params_m": round(sum(p.numel() for p in backend.model.parameters()) / 1e6, 2),
        "wan_params_m": round(sum(p.numel() for p in wan.parameters()) / 1e6, 2),
        "vaekit_s": round(statistics.median(t_ours), 3),
        "wan_s": round(statistics.median(t_wan), 3),
    }
    result["speedup"] = round(result["wan_s"] / result["vaekit_s"], 1)
    print(f"{'':10s} {'params':>8s} {'enc+dec s':>10s}")
    print(f"{'vaekit':10s} {result['vaekit_params_m']:7.1f}M {result['vaekit_s']:10.3f}")
    print(f"{'wan 2.1':10s} {result['wan_params_m']:7.1f}M {result['wan_s']:10.3f}")
    print(f"speedup x{result['speedup']} (target >= 20 at 256x256)")
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
