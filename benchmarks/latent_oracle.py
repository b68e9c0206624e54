"""Where a model loses the frames of a group under motion: in its encoder, or in its decoder/latent.

    python benchmarks/latent_oracle.py                                # tiny, 8 px/frame pan
    python benchmarks/latent_oracle.py --model tiny-v1 --speed 4 --iters 100 --json out.json

On the suite's coffee pan (:func:`vaekit.eval_suite.pan_spec`, 17 frames, the centre 128x128 of
the 256x256 render so the motion in pixels is the suite's), it scores per-slot PSNR three ways:

1. ``encoder``: decode(encode(x)), the model as it is;
2. ``oracle``: the latent optimised directly (Adam on the MSE through the fixed decoder, starting
   from the encoder's latent), the best this decoder can do with this latent shape. What the
   oracle recovers over row 1 is the encoder's share of the loss; what stays below the best slot
   is the decoder's and the latent's;
3. the encoder's sensitivity per slot: the mean |d(latent . r)/d(frame)| over each slot's frames,
   for a fixed random projection ``r`` (a balanced encoder weighs the four slots alike).

PSNR is scored by :class:`vaekit.eval_suite.FrameErrors` on 0..255 (frames 1.., clamped, not
rounded). One thread; about a second per oracle iteration.
"""

from __future__ import annotations

import argparse
import json
import warnings

import torch

from vaekit.eval_suite import FrameErrors, clip_metrics, pan_spec, slot_of
from vaekit.io.motion import render_motion_clip
from vaekit.model import load_model


def _frames_255(v: torch.Tensor) -> torch.Tensor:
    """``1, 3, T, H, W`` in -1..1 -> ``T, 3, H, W`` on 0..255 (FrameErrors' layout)."""
    return ((v.clamp(-1, 1) + 1) * 127.5)[0].transpose(0, 1)


def slot_psnr(x: torch.Tensor, y: torch.Tensor, tc: int) -> list[float]:
    """Per-slot PSNR of ``y`` against ``x`` (``1, 3, T, H, W`` in -1..1), as the suite scores it."""
    errors = FrameErrors()
    errors.update(_frames_255(x), _frames_255(y))
    return clip_metrics(errors, tc)["slot_psnr"]


def measure(model, x: torch.Tensor, iters: int, lr: float, log=print) -> dict:
    tc = model.temporal_compression
    with torch.no_grad():
        z0 = model.encode(x).mean
        encoder = slot_psnr(x, model.decode(z0), tc)
    log(f"encoder  slots {encoder}")
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for i in range(iters):
        loss = (model.decode(z) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (i + 1) % 25 == 0:
            log(f"  oracle iteration {i + 1}: mse {loss.item():.5f}")
    with torch.no_grad():
        oracle = slot_psnr(x, model.decode(z), tc)
    log(f"oracle   slots {oracle}")
    xg = x.clone().requires_grad_(True)
    zz = model.encode(xg).mean
    r = torch.randn(zz.shape, generator=torch.Generator().manual_seed(0))
    (grad,) = torch.autograd.grad((zz * r).sum(), xg)
    per_frame = grad.abs().mean(dim=(0, 1, 3, 4))
    slots = [slot_of(t, tc) for t in range(x.shape[2])]
    sensitivity = [round(per_frame[[k == s for k in slots]].mean().item(), 5) for s in range(tc)]
    log(f"encoder sensitivity by slot {sensitivity}")
    return {"encoder_slot_psnr": encoder, "oracle_slot_psnr": oracle, "encoder_sensitivity": sensitivity}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="preset or model folder (repeatable; default tiny)")
    parser.add_argument("--speed", type=float, default=8.0, help="pan speed in px/frame (default 8)")
    parser.add_argument("--iters", type=int, default=150, help="oracle Adam iterations (default 150)")
    parser.add_argument("--lr", type=float, default=0.02, help="oracle Adam learning rate (default 0.02)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    video = render_motion_clip(pan_spec(args.speed, 256, 17)).numpy()[:, 64:192, 64:192]
    x = torch.from_numpy(video).float().permute(3, 0, 1, 2)[None] / 127.5 - 1
    results = {}
    for name in args.model or ["tiny"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_model(name).float().eval().requires_grad_(False)
        print(f"== {name}, pan {args.speed:g} px/frame", flush=True)
        results[name] = measure(model, x, args.iters, args.lr, log=lambda s: print(s, flush=True))
    print("| model | encoder slots 0/1/2/3 | oracle slots 0/1/2/3 | encoder sensitivity 0/1/2/3 |")
    print("|---|---|---|---|")
    for name, r in results.items():
        cells = [
            "/".join(f"{v:.2f}" for v in r["encoder_slot_psnr"]),
            "/".join(f"{v:.2f}" for v in r["oracle_slot_psnr"]),
            "/".join(f"{v:.3f}" for v in r["encoder_sensitivity"]),
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"speed": args.speed, "iters": args.iters, "models": results}, f, indent=1)


if __name__ == "__main__":
    main()
