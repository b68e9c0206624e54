"""PSNR by slot of a pan at rising speeds: where a model stops following motion.

    python benchmarks/pan_speed.py                                   # tiny, 0-16 px/frame
    python benchmarks/pan_speed.py --model tiny --model tiny-v1 --speeds 0,2,4,8 --json out.json

Renders the motion suite's coffee pan (:func:`vaekit.eval_suite.pan_spec`, 17 frames at 256x256)
at each speed, reconstructs it whole-clip in fp32 (latent means; streaming gives the same numbers)
and prints, per model, PSNR over frames 1.. and per slot (the position of a frame in the 4 frames
one latent covers), next to the equal-floats baseline of ``vaekit eval``. One thread; a few
seconds per clip and model.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings

import torch

from vaekit.eval_suite import pan_spec
from vaekit.evaluate import baseline_factor, baseline_frame
from vaekit.io.motion import render_motion_clip
from vaekit.model import load_model


def _psnr(mse: float) -> float:
    return 10 * math.log10(255**2 / mse) if mse > 0 else math.inf


def _scores(frames: torch.Tensor, rec: torch.Tensor, tc: int) -> dict:
    """frames, rec: T, 3, H, W in 0-255."""
    mse = (rec - frames).pow(2).mean(dim=(1, 2, 3))
    slots = [mse[1:][k::tc].mean().item() for k in range(tc)]
    return {"psnr": _psnr(mse[1:].mean().item()), "slot_psnr": [_psnr(s) for s in slots]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="preset or model folder (repeatable; default tiny)")
    parser.add_argument("--speeds", default="0,1,2,4,6,8,12,16", help="px/frame at 256, comma-separated")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    speeds = [float(s) for s in args.speeds.split(",")]
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in args.model or ["tiny"]:
            models[name] = load_model(name).float().eval()
    rows = []
    for speed in speeds:
        spec = pan_spec(speed, args.size, args.frames)
        clip = render_motion_clip(spec).permute(0, 3, 1, 2).float()  # T, 3, H, W in 0-255
        row = {"speed": speed, "rendered_speed": round(spec.shots[0].speed * args.size / 256, 3)}
        for name, model in models.items():
            tc = model.temporal_compression
            with torch.no_grad():
                x = clip.permute(1, 0, 2, 3)[None] / 127.5 - 1
                rec, _ = model(x, sample=False)
            rec = ((rec[0].permute(1, 0, 2, 3).clamp(-1, 1) + 1) * 127.5).round()
            row[name] = _scores(clip, rec, tc)
        first = next(iter(models.values()))
        lat = first.config.latent_channels * (1 + (len(clip) - 1) // first.temporal_compression)
        lat *= (args.size // first.spatial_compression) ** 2
        factor = baseline_factor(len(clip), args.size, args.size, lat)
        base = torch.cat([baseline_frame(f[None], factor) for f in clip])
        row["baseline"] = _scores(clip, base, first.temporal_compression)
        rows.append(row)

    names = [*models, "baseline"]
    print(
        f"coffee pan, {args.frames} frames at {args.size}x{args.size}: PSNR over frames 1.. (dB), then by slot"
    )
    print(
        "| px/frame | " + " | ".join(names) + " | " + " | ".join(f"{n} slots 0/1/2/3" for n in names) + " |"
    )
    print("|" + "---|" * (1 + 2 * len(names)))
    for row in rows:
        cells = [f"{row['rendered_speed']:g}"] + [f"{row[n]['psnr']:.2f}" for n in names]
        cells += ["/".join(f"{p:.2f}" for p in row[n]["slot_psnr"]) for n in names]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": args.size, "frames": args.frames, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
