"""PSNR by slot of a pan at rising speeds: where a model stops following motion.

    python benchmarks/pan_speed.py                                   # tiny, 0-16 px/frame
    python benchmarks/pan_speed.py --model tiny --model tiny-v1 --speeds 0,2,4,8 --json out.json

Renders the motion suite's coffee pan (:func:`vaekit.eval_suite.pan_spec`, 17 frames at 256x256)
at each speed and scores it exactly as ``vaekit eval --suite motion`` does (the same streaming
reconstruction, equal-floats baseline and per-slot PSNR), printing per model the PSNR over frames
1.. and per slot (the position of a frame in the 4 frames one latent covers). One thread; a few
seconds per clip and model.
"""

from __future__ import annotations

import argparse
import json
import warnings

import torch

from vaekit.eval_suite import FrameErrors, clip_metrics, pan_spec
from vaekit.evaluate import evaluate_frames
from vaekit.io.motion import render_motion_clip
from vaekit.model import load_model
from vaekit.runtime.backend import TorchBackend
from vaekit.runtime.pipeline import StreamOptions


def _scores(errors: FrameErrors, tc: int) -> dict:
    return {
        "psnr": errors.frames_psnr(range(1, len(errors))),
        "slot_psnr": clip_metrics(errors, tc)["slot_psnr"],
    }


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
        video = list(render_motion_clip(spec).numpy())
        row = {"speed": speed, "rendered_speed": round(spec.shots[0].speed * args.size / 256, 3)}
        for name, model in models.items():
            errors = {"model": FrameErrors(), "baseline": FrameErrors()}
            evaluate_frames(
                TorchBackend(model),
                lambda v=video: iter(v),
                StreamOptions(),
                name=f"pan {speed:g}",
                observe=lambda kind, ref, rec, e=errors: e[kind].update(ref, rec),
            )
            row[name] = _scores(errors["model"], model.temporal_compression)
            row["baseline"] = _scores(errors["baseline"], model.temporal_compression)  # same for every model
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
