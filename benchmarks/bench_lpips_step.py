"""What LPIPS costs a training step: no LPIPS, LPIPS on every frame, LPIPS on a subset (``lpips_frames``).

One generator step of the tiny model (forward, loss, backward, AdamW) on a fixed batch, with the
perceptual term off, on all frames, and on ``--subset`` frames per clip, for the VGG and AlexNet
backbones. The variants alternate over ``--rounds`` rounds and the medians are compared, so the
ratios hold on a shared, noisy machine. Needs the real backbones (``vaekit weights lpips``).

    python benchmarks/bench_lpips_step.py                       # 2 x 17 x 128 x 128, as train/tiny.toml
    python benchmarks/bench_lpips_step.py --num-frames 9 --resolution 64

Prints a table and one JSON object (also written to ``--json PATH``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vaekit  # noqa: E402
from vaekit.perceptual import PerFrameLPIPS  # noqa: E402
from vaekit.train import Recipe  # noqa: E402
from vaekit.train.losses import vae_terms  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--num-frames", type=int, default=17)
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--subset", type=int, default=4, help="lpips_frames of the subset rows")
    p.add_argument("--steps", type=int, default=3, help="timed steps per variant and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--json", help="also write the JSON result here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    vae = vaekit.load(args.model, dtype="fp32").train()
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-5)
    torch.manual_seed(0)
    x = torch.rand(args.batch_size, 3, args.num_frames, args.resolution, args.resolution) * 2 - 1
    variants = {"no LPIPS": (None, 0.0)}
    for net in ("vgg", "alex"):
        variants[f"{net}, all {args.num_frames} frames"] = (PerFrameLPIPS(net), 1.0)
        variants[f"{net}, {args.subset} frames"] = (PerFrameLPIPS(net, frames=args.subset), 1.0)

    def step(perceptual, weight, i):
        recipe = Recipe(perceptual_weight=weight, kl_weight=1e-7)
        x_hat, post = vae(x, generator=torch.Generator().manual_seed(i))
        terms = vae_terms(recipe, x, x_hat, post, perceptual, torch.Generator().manual_seed(i))
        opt.zero_grad(set_to_none=True)
        terms["vae_loss"].backward()
        opt.step()

    times = {k: [] for k in variants}
    for perc, w in variants.values():  # warm-up
        step(perc, w, 0)
    for _ in range(args.rounds):
        for name, (perc, w) in variants.items():
            t = time.perf_counter()
            for i in range(args.steps):
                step(perc, w, i + 1)
            times[name].append((time.perf_counter() - t) / args.steps)
    base = statistics.median(times["no LPIPS"])
    rows = [{"variant": k, "s_per_step": round(statistics.median(v), 3),
             "ratio": round(statistics.median(v) / base, 2)} for k, v in times.items()]  # fmt: skip
    result = {"batch": [args.batch_size, 3, args.num_frames, args.resolution, args.resolution],
              "threads": args.threads, "rounds": args.rounds, "steps": args.steps, "rows": rows}  # fmt: skip
    print(f"{'variant':24s} {'s/step':>7s} {'x no LPIPS':>10s}")
    for row in rows:
        print(f"{row['variant']:24s} {row['s_per_step']:7.3f} {row['ratio']:10.2f}")
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
