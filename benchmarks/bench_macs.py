"""Multiply-adds per pixel-frame of the tiny model (v1) and of the v2 architecture on top of it.

    python benchmarks/bench_macs.py                    # 17 x 128 x 128 clip, table + JSON
    python benchmarks/bench_macs.py --frames 33 --size 256 --json out.json

Counts every ``nn.Conv3d`` with forward hooks during one ``encode`` and one ``decode`` (of the
latent means): MACs = output elements * in_channels / groups * kernel volume (biases, norms,
activations and reshapes are not counted). The figure per pixel-frame divides by the clip's
``frames * height * width``; the lead-in frames are part of the cost. v2 must stay within 1.3x v1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import warnings
from collections import defaultdict

import torch
from torch import nn

from vaekit.model import CausalVideoVAE, VAEConfig

#: the v2 options on top of the tiny preset (the recommended v2 tiny config)
V2_TINY = {"resample_kernel": 3, "motion_levels": [1, 2], "group_mixing": True, "lead_in": "replicate"}
BUDGET = 1.3


def _tiny_config() -> VAEConfig:
    from vaekit.model import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model("tiny").config


def count_macs(model: CausalVideoVAE, frames: int, size: int) -> dict:
    """MACs of every Conv3d, by kind of layer, for encode + decode of a ``frames x size x size`` clip."""
    by_kind: dict[str, int] = defaultdict(int)
    hooks = []
    names = {m: n for n, m in model.named_modules()}

    def kind(name: str) -> str:
        part = name.split(".")[0]
        if ".motion." in name:
            return f"{part} motion"
        if ".mix." in name:
            return f"{part} group mix"
        if ".downs." in name or ".ups." in name or name.startswith(("encoder.downs", "decoder.ups")):
            return f"{part} resample"
        return f"{part} other"

    def hook(module: nn.Conv3d, _inputs, output: torch.Tensor) -> None:
        macs = output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
        by_kind[kind(names[module])] += macs

    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            hooks.append(m.register_forward_hook(hook))
    x = torch.rand(1, 3, frames, size, size) * 2 - 1
    with torch.no_grad():
        z = model.encode(x).mean
        model.decode(z)
    for h in hooks:
        h.remove()
    pixels = frames * size * size
    total = sum(by_kind.values())
    return {
        "macs": total,
        "macs_per_pixel_frame": total / pixels,
        "params": sum(p.numel() for p in model.parameters()),
        "by_kind_per_pixel_frame": {k: v / pixels for k, v in sorted(by_kind.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    v1_cfg = _tiny_config()
    v2_cfg = dataclasses.replace(v1_cfg, name="tiny-v2", **V2_TINY)
    results = {}
    for label, cfg in (("v1", v1_cfg), ("v2", v2_cfg)):
        torch.manual_seed(0)
        results[label] = count_macs(CausalVideoVAE(cfg).eval(), args.frames, args.size)
    ratio = results["v2"]["macs_per_pixel_frame"] / results["v1"]["macs_per_pixel_frame"]
    out = {
        "clip": [args.frames, args.size, args.size],
        "v2_options": V2_TINY,
        **results,
        "ratio": ratio,
        "budget": BUDGET,
        "within_budget": ratio <= BUDGET,
    }

    kinds = sorted(
        set(results["v1"]["by_kind_per_pixel_frame"]) | set(results["v2"]["by_kind_per_pixel_frame"])
    )
    print(f"MACs per pixel-frame, encode + decode of a {args.frames}x{args.size}x{args.size} clip")
    print(f"{'layers':22s} {'v1':>12s} {'v2':>12s}")
    for k in kinds:
        a = results["v1"]["by_kind_per_pixel_frame"].get(k, 0.0)
        b = results["v2"]["by_kind_per_pixel_frame"].get(k, 0.0)
        print(f"{k:22s} {a:12,.0f} {b:12,.0f}")
    a, b = results["v1"]["macs_per_pixel_frame"], results["v2"]["macs_per_pixel_frame"]
    print(f"{'total':22s} {a:12,.0f} {b:12,.0f}   ratio {ratio:.3f} (budget {BUDGET})")
    print(f"{'params':22s} {results['v1']['params']:12,d} {results['v2']['params']:12,d}")
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
