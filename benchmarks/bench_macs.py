"""Multiply-adds per pixel-frame of the tiny model: v1, the shipped v2 and v2 candidates.

    python benchmarks/bench_macs.py                    # 17 x 128 x 128 clip, table + JSON
    python benchmarks/bench_macs.py --frames 33 --size 256 --json out.json
    python benchmarks/bench_macs.py --set 'motion_levels=[0,1,2]'   # price a candidate

Counts every ``nn.Conv3d`` with forward hooks during one ``encode`` and one ``decode`` (of the
latent means): MACs = output elements * in_channels / groups * kernel volume (biases, norms,
activations and reshapes are not counted). The figure per pixel-frame divides by the clip's
``frames * height * width``; the lead-in frames are part of the cost. v1 is ``tiny-v1``, v2 the
shipped ``tiny``; ``--set FIELD=JSON`` adds a candidate, the shipped config with those fields
changed. Every v2 architecture must stay within 1.3x v1 (docs/DESIGN.md).
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

BUDGET = 1.3


def _config(name: str) -> VAEConfig:
    from vaekit.model import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(name).config


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
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="a candidate: the shipped config with this field changed (repeat for more fields)",
    )
    args = ap.parse_args()
    try:
        changes = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    except ValueError as e:
        ap.error(f"--set takes FIELD=JSON, e.g. 'motion_levels=[0,1,2]' ({e})")

    configs = {"v1": _config("tiny-v1"), "v2": _config("tiny")}
    if changes:
        configs["candidate"] = dataclasses.replace(configs["v2"], **changes)
    results = {}
    for label, cfg in configs.items():
        torch.manual_seed(0)
        results[label] = count_macs(CausalVideoVAE(cfg).eval(), args.frames, args.size)
    base = results["v1"]["macs_per_pixel_frame"]
    for r in results.values():
        r["ratio"] = r["macs_per_pixel_frame"] / base
        r["within_budget"] = r["ratio"] <= BUDGET
    out = {"clip": [args.frames, args.size, args.size], "budget": BUDGET, "candidate": changes, **results}

    labels = list(results)
    kinds = sorted({k for r in results.values() for k in r["by_kind_per_pixel_frame"]})
    print(f"MACs per pixel-frame, encode + decode of a {args.frames}x{args.size}x{args.size} clip")
    print(f"{'layers':22s}" + "".join(f" {label:>18s}" for label in labels))
    for k in kinds:
        print(
            f"{k:22s}"
            + "".join(f" {results[lb]['by_kind_per_pixel_frame'].get(k, 0.0):18,.0f}" for lb in labels)
        )
    print(f"{'total':22s}" + "".join(f" {results[lb]['macs_per_pixel_frame']:18,.0f}" for lb in labels))
    print(f"{'x v1 (budget 1.3)':22s}" + "".join(f" {results[lb]['ratio']:18.3f}" for lb in labels))
    print(f"{'params':22s}" + "".join(f" {results[lb]['params']:18,d}" for lb in labels))
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
