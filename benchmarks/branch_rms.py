"""How large the v2 branches have grown: RMS of the pointwise convs that end each branch.

    python benchmarks/branch_rms.py                          # the shipped tiny
    python benchmarks/branch_rms.py runs/b10/model models/tiny --json out.json

The motion and group-mixing branches (weights whose names hold ``.motion.`` or ``.mix.``) start
with their last conv at zero, so they begin as no-ops; this prints, per model folder or preset,
the RMS of every branch's ``pointwise`` weight, the mean over encoder and decoder branches, and
for scale the RMS a default-initialised conv of the same shape would have. ``branch_lr_scale``
(docs/DESIGN.md, "Training") was measured with it (models/tiny/README.md).
"""

from __future__ import annotations

import argparse
import json
import math

import vaekit
from vaekit.train.trainer import BRANCH_NAME_PARTS


def branch_rms(model) -> dict:
    rows = {}
    for name, p in model.named_parameters():
        branch = any(part in f".{name}" for part in BRANCH_NAME_PARTS)  # what branch_lr_scale scales
        if branch and "pointwise" in name and name.endswith("weight"):
            fan_in = p[0].numel()
            # nn.Conv3d's default (kaiming_uniform, a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            rows[name] = {"rms": p.detach().float().pow(2).mean().sqrt().item(), "default_rms": 1 / math.sqrt(3 * fan_in)}
    enc = [r["rms"] for n, r in rows.items() if n.startswith("encoder")]
    dec = [r["rms"] for n, r in rows.items() if n.startswith("decoder")]
    return {
        "branches": rows,
        "encoder_mean_rms": sum(enc) / len(enc) if enc else None,
        "decoder_mean_rms": sum(dec) / len(dec) if dec else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["tiny"], help="model folders or preset names")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    out = {}
    for m in args.models:
        r = branch_rms(vaekit.load(m))
        out[m] = r
        if not r["branches"]:
            print(f"{m}: no v2 branches")
            continue
        print(f"{m}")
        print(f"  {'branch pointwise weight':60s} {'RMS':>8s} {'default':>8s}")
        for name, row in r["branches"].items():
            print(f"  {name:60s} {row['rms']:8.4f} {row['default_rms']:8.4f}")
        print(f"  mean RMS: encoder {r['encoder_mean_rms']:.4f}, decoder {r['decoder_mean_rms']:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
