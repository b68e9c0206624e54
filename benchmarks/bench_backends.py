"""Backend benchmark on the CPU: torch eager vs ONNX Runtime, same clip, same streaming engine.

    python benchmarks/bench_backends.py                       # tiny, 256x256 and 512x512, ~10 min on 2 cores
    python benchmarks/bench_backends.py --threads 1           # both runtimes on one thread (fairer on a busy machine)
    python benchmarks/bench_backends.py --artifacts DIR       # reuse an fp32 `vaekit export --format onnx`
    python benchmarks/bench_backends.py --json out.json

The clip is a camera moving over a photograph (:mod:`vaekit.io.synthetic`), rendered at each size
from the same photo and camera path. Every (size, backend) case runs in a fresh subprocess, so its
peak RSS (``ru_maxrss``) is its own: it streams the clip through the encoder, then the decoder
(chunks of ``--chunk-frames``, no tiles) once to warm up, then ``--repeats`` timed times. The
cases run in ``--rounds`` alternating rounds (torch, onnx, torch, onnx, ...) so that load from
other processes hits both backends alike; frames/s is the best time over all runs (the median is
in the JSON), memory the first round's. The latents of both backends are compared.

When ONNX Runtime is not at least 1.3x faster than torch eager, the script measures why: each
runtime's own profiler splits one chunk's encode and decode into time per operator type, which
shows whether the time sits in convolutions (optimised kernels on both sides: MLAS vs oneDNN or
torch's own im2col fallback) or in the work around them (which graph fusion removes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

TARGET_SPEEDUP = 1.3
BACKENDS = ("torch", "onnx")


def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB."""
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _clip(size: int, frames: int):
    import torch

    from vaekit.io.synthetic import camera_motion_clip
    from vaekit.runtime.jobs import frames_to_tensor

    return torch.cat(
        [frames_to_tensor(f) for f in camera_motion_clip("astronaut", frames, size, size, seed=0)], dim=2
    )


def _backend(kind: str, model: str, artifacts: str, threads: int | None):
    """The torch model or the ONNX step graphs, both on ``threads`` CPU threads (None: all cores)."""
    import torch

    from vaekit.model import load_model
    from vaekit.runtime import TorchBackend
    from vaekit.runtime.onnx_backend import OnnxBackend

    if kind == "onnx":
        root = Path(artifacts)
        return OnnxBackend(root / "encoder.step.onnx", root / "decoder.step.onnx", "cpu", threads=threads)
    if threads:
        torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TorchBackend(load_model(model))


def worker(args) -> dict:
    """One (backend, size) case in this fresh process."""
    import torch

    from vaekit.runtime import TileSpec, decode_all, encode_all

    backend = _backend(args.backend, args.model, args.artifacts, args.threads)
    x = _clip(args.size, args.frames)
    tile = TileSpec(mode="off")
    rss_before, _ = _rss_mb()
    load_before = round(os.getloadavg()[0], 2)
    z = encode_all(backend, x, args.chunk_frames, tile)[:, : backend.latent_channels]  # warm-up
    decode_all(backend, z, args.chunk_frames, tile)
    enc, dec = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        z = encode_all(backend, x, args.chunk_frames, tile)[:, : backend.latent_channels]
        t1 = time.perf_counter()
        out = decode_all(backend, z, args.chunk_frames, tile)
        t2 = time.perf_counter()
        enc.append(t1 - t0)
        dec.append(t2 - t1)
    torch.save(z.float(), args.latents_out)
    _, peak = _rss_mb()
    return {
        "backend": args.backend,
        "size": args.size,
        "frames": args.frames,
        "decoded_frames": out.shape[2],
        "encode_s": [round(t, 3) for t in enc],
        "decode_s": [round(t, 3) for t in dec],
        "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": round(peak - rss_before, 1),
        "threads": args.threads or "all cores",
        "load_average_1m": [load_before, round(os.getloadavg()[0], 2)],
    }


def profile_worker(args) -> dict:
    """Time per operator type for one encoder step (a full chunk of frames) and one decoder step
    (its latents), from each runtime's own profiler; both runtimes get the same inputs."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from vaekit.export.artifacts import onnx_spec

    runs = 3
    specs = {p: onnx_spec(Path(args.artifacts) / f"{p}.step.onnx") for p in ("encoder", "decoder")}
    sc, tc = specs["encoder"].spatial_compression, specs["encoder"].temporal_compression
    h = args.size // sc
    inputs = {
        "encoder": (_clip(args.size, args.chunk_frames), args.size),
        "decoder": (torch.randn(1, specs["decoder"].latent_channels, args.chunk_frames // tc, h, h), h),
    }
    totals: dict[str, float] = defaultdict(float)
    if args.backend == "torch":
        backend = _backend("torch", args.model, args.artifacts, args.threads)
        steps = {
            "encoder": (backend.encode_step, backend.init_encoder_cache),
            "decoder": (backend.decode_step, backend.init_decoder_cache),
        }
        for part, (step, init) in steps.items():
            x, size = inputs[part]
            step(x, init(1, size, size))  # warm-up
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                for _ in range(runs):
                    step(x, init(1, size, size))
            for e in prof.key_averages():
                if e.key.startswith("aten::"):
                    totals[e.key] += e.self_cpu_time_total / 1e3 / runs
        return {"backend": "torch", "ms_by_op": dict(totals)}
    for part, spec in specs.items():
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(args.latents_out).with_suffix("")) + f"-{part}"
        if args.threads:
            options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(
            str(Path(args.artifacts) / f"{part}.step.onnx"), options, providers=["CPUExecutionProvider"]
        )
        x, size = inputs[part]
        feed = {spec.input_name: x.numpy()}
        feed.update(
            {c.input: np.zeros(s, np.float32) for c, s in zip(spec.caches, spec.cache_shapes(1, size, size))}
        )
        for _ in range(runs + 1):  # the first run is the warm-up
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
        kernels = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
        for e in kernels[len(kernels) // (runs + 1) :]:
            totals[e["args"]["op_name"]] += e["dur"] / 1e3 / runs
    return {"backend": "onnx", "ms_by_op": dict(totals)}


def conv_worker(args) -> dict:
    """The model's three convolution shapes at its first level, alone, in both runtimes: a 1x3x3
    Conv3d, the same convolution as a Conv2d with frames folded into the batch (the layout ONNX
    Runtime's blocked NCHWc kernels take), and the causal 3x1x1 Conv3d (on chunk + 2 frames)."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    from vaekit.model import VAEConfig, resolve_model_dir

    cfg = VAEConfig.from_json(resolve_model_dir(args.model) / "config.json")
    c, t, s = cfg.channels[0], args.chunk_frames, args.size // cfg.patch_size
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cases = {
        "conv3d 1x3x3": (torch.nn.Conv3d(c, c, (1, 3, 3), padding=(0, 1, 1)), (1, c, t, s, s)),
        "conv2d 3x3, frames as batch": (torch.nn.Conv2d(c, c, 3, padding=1), (t, c, s, s)),
        "conv3d 3x1x1 (temporal)": (torch.nn.Conv3d(c, c, (3, 1, 1)), (1, c, t + 2, s, s)),
    }

    def best_ms(fn, *fn_args, n=5):
        fn(*fn_args)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn(*fn_args)
            times.append(time.perf_counter() - t0)
        return round(1e3 * min(times), 1)

    out = {}
    options = ort.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
    for name, (conv, shape) in cases.items():
        x = torch.randn(shape)
        pads = [p for p in conv.padding] * 2
        node = helper.make_node(
            "Conv", ["x", "w", "b"], ["y"], pads=pads, kernel_shape=list(conv.kernel_size)
        )
        graph = helper.make_graph(
            [node],
            "conv",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            initializer=[
                numpy_helper.from_array(conv.weight.detach().numpy(), "w"),
                numpy_helper.from_array(conv.bias.detach().numpy(), "b"),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feed = {"x": x.numpy()}
        with torch.no_grad():
            out[name] = {
                "torch_ms": best_ms(conv, x),
                "onnx_ms": best_ms(session.run, None, feed),
            }
            assert np.allclose(session.run(None, feed)[0], conv(x).numpy(), atol=1e-3)
    return {"shape": f"{c} channels, {t} frames, {s}x{s}", "convs": out}


def _run_worker(args, backend: str, size: int, tmp: Path, mode: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        f"--{mode}",
        "--backend",
        backend,
        "--size",
        str(size),
        "--model",
        args.model,
        "--frames",
        str(args.frames),
        "--chunk-frames",
        str(args.chunk_frames),
        "--repeats",
        str(args.repeats),
        "--artifacts",
        str(args.artifacts),
        "--latents-out",
        str(tmp / f"{backend}-{size}.pt"),
        *(["--threads", str(args.threads)] if args.threads else []),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"worker {backend} {size} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _merge(runs: list[dict]) -> dict:
    """One row from the rounds of one case: best and median frames/s, the first round's memory."""
    row = dict(runs[0])
    enc = [t for r in runs for t in r["encode_s"]]
    dec = [t for r in runs for t in r["decode_s"]]
    row.update(
        encode_s=enc,
        decode_s=dec,
        encode_fps=round(row["frames"] / min(enc), 2),
        decode_fps=round(row["decoded_frames"] / min(dec), 2),
        encode_fps_median=round(row["frames"] / statistics.median(enc), 2),
        decode_fps_median=round(row["decoded_frames"] / statistics.median(dec), 2),
        load_average_1m=[r["load_average_1m"] for r in runs],
    )
    return row


def _top_ops(ms_by_op: dict[str, float], n: int = 6) -> list[tuple[str, float, float]]:
    total = sum(ms_by_op.values()) or 1.0
    top = sorted(ms_by_op.items(), key=lambda kv: -kv[1])[:n]
    return [(op, round(ms, 1), round(100 * ms / total, 1)) for op, ms in top]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--sizes", default="256,512")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--chunk-frames", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2, help="timed runs per case and round")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of all cases")
    p.add_argument("--threads", type=int, help="CPU threads for both runtimes (default: all cores)")
    p.add_argument(
        "--artifacts", help="folder with an fp32 ONNX export of --model (made in a temp dir if absent)"
    )
    p.add_argument("--json", help="also write the results here")
    p.add_argument(
        "--why", action="store_true", help="profile operators even when ONNX Runtime meets the target"
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--profile-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--conv-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--latents-out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker or args.profile_worker or args.conv_worker:
        run = worker if args.worker else profile_worker if args.profile_worker else conv_worker
        print(json.dumps(run(args)))
        return

    import torch

    from vaekit.export import export

    with tempfile.TemporaryDirectory(prefix="vaekit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.artifacts:
            args.artifacts = tmp / "onnx"
            t0 = time.perf_counter()
            export(args.model, "onnx", args.artifacts)
            print(f"exported {args.model} to ONNX in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        sizes = [int(s) for s in args.sizes.split(",")]
        runs = {(b, size): [] for size in sizes for b in BACKENDS}
        for size in sizes:
            for _ in range(args.rounds):
                for backend in BACKENDS:
                    runs[(backend, size)].append(_run_worker(args, backend, size, tmp, "worker"))
            a, b = (torch.load(tmp / f"{k}-{size}.pt") for k in BACKENDS)
            runs[("onnx", size)][0]["latent_max_abs_diff_vs_torch"] = float((a - b).abs().max())
        rows = [_merge(rs) for rs in runs.values()]
        by = {(r["backend"], r["size"]): r for r in rows}
        for size in sizes:
            t, o = by[("torch", size)], by[("onnx", size)]
            o["encode_speedup"] = round(o["encode_fps"] / t["encode_fps"], 2)
            o["decode_speedup"] = round(o["decode_fps"] / t["decode_fps"], 2)
        slow = [
            s
            for s in sizes
            if min(by[("onnx", s)]["encode_speedup"], by[("onnx", s)]["decode_speedup"]) < TARGET_SPEEDUP
        ]
        why = None
        if slow or args.why:
            size = min(slow or sizes)
            why = {
                k: _top_ops(_run_worker(args, k, size, tmp, "profile-worker")["ms_by_op"]) for k in BACKENDS
            }
            why["size"] = size
            why["convs"] = _run_worker(args, "torch", size, tmp, "conv-worker")

    result = {
        "model": args.model,
        "frames": args.frames,
        "chunk_frames": args.chunk_frames,
        "repeats": args.repeats,
        "rounds": args.rounds,
        "threads": args.threads or "all cores",
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnxruntime": __import__("onnxruntime").__version__,
        },
        "rows": rows,
        "target_speedup": TARGET_SPEEDUP,
        "why_not_faster": why,
    }
    print(
        f"\n{args.model}, {args.frames} frames, chunks of {args.chunk_frames}, best of {args.rounds}x{args.repeats} runs, "
        f"{args.threads or os.cpu_count()} threads on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'size':>5} {'backend':8} {'enc fps':>8} {'dec fps':>8} {'enc x':>6} {'dec x':>6} {'peak MiB':>9} {'growth':>7}"
    )
    for r in rows:
        print(
            f"{r['size']:>5} {r['backend']:8} {r['encode_fps']:>8} {r['decode_fps']:>8} "
            f"{r.get('encode_speedup', 1.0):>6} {r.get('decode_speedup', 1.0):>6} {r['peak_rss_mb']:>9} {r['rss_growth_mb']:>7}"
        )
    if why:
        print(
            f"\nONNX Runtime is below {TARGET_SPEEDUP}x; time per operator, one {args.chunk_frames}-frame chunk "
            f"encoded and decoded at {why['size']}x{why['size']}:"
        )
        for k in BACKENDS:
            print(f"  {k:5s} " + ", ".join(f"{op} {ms} ms ({pct}%)" for op, ms, pct in why[k]))
        print(f"one convolution alone ({why['convs']['shape']}), ms torch / onnx:")
        for name, ms in why["convs"]["convs"].items():
            print(f"  {name:28s} {ms['torch_ms']:>8} / {ms['onnx_ms']:<8}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
