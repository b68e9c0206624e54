"""Trainer overhead and training-step memory, measured side by side.

Speed: the steps/s of ``vaekit train`` in phase 1, as the trainer itself logs them
(``samples_per_s`` between two log lines: data loading, EMA, NaN checks and logging included;
validation and checkpoints switched off), against a bare loop of the same model, batch, loss
and AdamW (forward, backward, step, nothing else). The two alternate over several rounds and
the medians are compared. Phase 2 of the trainer (which also runs and trains the discriminator)
is timed for reference.

Memory: the peak memory of one trainer step above what was held before it, with and without
``--grad-checkpointing``, each in a fresh process. On CUDA: ``max_memory_allocated``. On CPU:
the peak resident set size (``VmHWM``, reset before each step through ``/proc/self/clear_refs``),
with glibc told to hand large blocks back to the system at once so freed memory is not counted.

    python benchmarks/bench_train.py                                   # tiny, 64px, 9 frames
    python benchmarks/bench_train.py --model base --resolution 256 --num-frames 17 --mixed-precision bf16

Prints a table and one JSON object (also written to ``--json PATH``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vaekit.model import CausalVideoVAE, VAEConfig, resolve_model_dir  # noqa: E402
from vaekit.train import Recipe, Trainer  # noqa: E402
from vaekit.train.data import ClipBatches, ClipReader, find_items, seed_for  # noqa: E402


def make_recipe(args, out: Path, **overrides) -> Recipe:
    """``--recipe`` with the benchmark's sizes, built-in photo clips, no LPIPS/validation/checkpoints."""
    sizes = dict(
        data=["builtin:photos"],
        num_frames=args.num_frames,
        resolution=args.resolution,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        perceptual_weight=0.0,
        mixed_precision=args.mixed_precision,
        disc_start=10**9,
        max_steps=args.steps,
        log_every=args.interval,
        val_every=0,
        save_every=10**9,
        out=str(out),
    )
    return Recipe.from_toml(args.recipe, {**sizes, **overrides})


class FixedBatch(torch.utils.data.Dataset):
    """Stands in for the trainer's data: every step gets the same, already decoded batch."""

    def __init__(self, data, batch: torch.Tensor):
        self.data, self.batch = data, batch

    def __getitem__(self, step: int) -> dict:
        return {"video": self.batch, "skipped": []}

    def epoch(self, step: int) -> int:
        return self.data.epoch(step)


def _now() -> tuple[float, float]:
    """(wall clock, CPU time of this process), after waiting for queued GPU work."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter(), time.process_time()


def _rates(marks: list[tuple[float, float]], steps: int) -> list[tuple[float, float]]:
    """(steps per wall second, steps per CPU second) between consecutive clock marks."""
    return [(steps / (w1 - w0), steps / (c1 - c0)) for (w0, c0), (w1, c1) in zip(marks, marks[1:])]


class TimedTrainer(Trainer):
    """The trainer, with the clock read where it measures its own ``samples_per_s``: at every
    metrics line, so an interval holds ``log_every`` whole loop iterations."""

    marks: list[tuple[float, float]]

    def _log_train(self, step, values, samples_per_s):
        self.marks.append(_now())
        super()._log_train(step, values, samples_per_s)


def trainer_rates(args, batch: torch.Tensor | None, **overrides) -> list[tuple[float, float]]:
    """Rates of each log interval of one trainer run (from the line after step 0 on).

    With ``batch``, the trainer's data is replaced by that fixed batch (the bare loop's input);
    without, clips are rendered by the real data pipeline in ``--num-workers`` processes.
    """
    with tempfile.TemporaryDirectory() as tmp:
        recipe = make_recipe(args, Path(tmp) / "run", **overrides)
        trainer = TimedTrainer(recipe.replace(num_workers=0) if batch is not None else recipe)
        trainer.marks = []
        if batch is not None:
            trainer.data = FixedBatch(trainer.data, batch)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the live doctor judges a one-batch run: not of interest here
            trainer.fit()
    return _rates(trainer.marks, args.interval)


def bare_rates(args, batch: torch.Tensor) -> list[tuple[float, float]]:
    """Rates of a plain forward/backward/AdamW loop of the same model, batch and loss."""
    recipe = make_recipe(args, Path("unused"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed_for(recipe.seed, "init"))
    config = VAEConfig.from_json(resolve_model_dir(recipe.model) / "config.json")
    model = CausalVideoVAE(config).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=(recipe.adam_beta1, recipe.adam_beta2))
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.mixed_precision)
    x = batch.to(device)
    noise = torch.Generator(device=device)
    marks = []
    for i in range(args.steps):
        noise.manual_seed(i)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            x_hat, posterior = model(x, generator=noise)
        loss = (x - x_hat.float()).abs().mean() + recipe.kl_weight * posterior.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i % args.interval == 0:
            marks.append(_now())
    return _rates(marks, args.interval)


# -- memory -----------------------------------------------------------------------------------------
def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


class PeakMemoryTrainer(Trainer):
    """The trainer, recording the peak memory of each step above the memory held before it."""

    peaks: list[float]

    def train_step(self, x, step):
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated() / 2**20
        else:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
            before = _rss_mib("VmRSS")
        values = super().train_step(x, step)
        if cuda:
            torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _rss_mib("VmHWM")
        self.peaks.append(peak - before)
        return values


def memory_probe(args) -> dict:
    """Run in a fresh process: median per-step peak (MiB) over the steps after the first two."""
    with tempfile.TemporaryDirectory() as tmp:
        recipe = make_recipe(args, Path(tmp) / "run", grad_checkpointing=args.grad_checkpointing, max_steps=6)
        trainer = PeakMemoryTrainer(recipe.replace(num_workers=0))
        trainer.data = FixedBatch(trainer.data, trainer.data[0]["video"])
        trainer.peaks = []
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit()
    return {"peak_step_mib": statistics.median(trainer.peaks[2:]), "device": str(trainer.device)}


def measure_memory(args, grad_checkpointing: bool) -> dict:
    cmd = [sys.executable, __file__, "--memory-probe", *_forward(args)]
    if grad_checkpointing:
        cmd.append("--grad-checkpointing")
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _forward(args) -> list[str]:
    keys = ("recipe", "resolution", "num_frames", "batch_size", "mixed_precision")
    return [a for k in keys for a in (f"--{k.replace('_', '-')}", str(getattr(args, k)))]


# -- main -------------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--recipe", default=str(REPO / "train" / "tiny.toml"), help="recipe whose model/loss/optim are used"
    )
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--num-frames", type=int, default=9)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--num-workers", type=int, default=1, help="data workers of the end-to-end row")
    p.add_argument("--mixed-precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--steps", type=int, default=21, help="steps per timed run (1 + a multiple of --interval)")
    p.add_argument("--interval", type=int, default=5, help="steps per timed interval")
    p.add_argument("--rounds", type=int, default=3, help="rounds of alternating runs")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (CPU)")
    p.add_argument("--json", help="also write the JSON result here")
    p.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--grad-checkpointing", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_probe:
        print(json.dumps(memory_probe(args)))
        return

    torch.set_num_threads(args.threads)
    recipe = make_recipe(args, Path("unused"))
    data = ClipBatches(find_items(recipe.data), ClipReader(args.num_frames, args.resolution, 1), seed=0,
                       batch_size=args.batch_size)  # fmt: skip
    batch = data[0]["video"]
    runs = {"bare": [], "trainer": [], "adversarial": [], "end_to_end": []}
    for _ in range(args.rounds):
        runs["bare"] += bare_rates(args, batch)
        runs["trainer"] += trainer_rates(args, batch)
        runs["adversarial"] += trainer_rates(args, batch, disc_start=0)
        runs["end_to_end"] += trainer_rates(args, None)
    memory = {flag: measure_memory(args, flag) for flag in (False, True)}

    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items() if k != "end_to_end"}
    on_cpu = memory[False]["device"] == "cpu"
    primary = cpu if on_cpu else wall  # CPU seconds do not count other processes' load
    result = {
        "recipe": args.recipe,
        "model": recipe.model,
        "clips": [args.batch_size, 3, args.num_frames, args.resolution, args.resolution],
        "mixed_precision": args.mixed_precision,
        "device": memory[False]["device"],
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "steps_per_wall_s": wall,
        "steps_per_cpu_s": cpu,
        "trainer_overhead_pct": 100.0 * (primary["bare"] / primary["trainer"] - 1.0),
        "trainer_overhead_pct_wall": 100.0 * (wall["bare"] / wall["trainer"] - 1.0),
        "end_to_end_overhead_pct_wall": 100.0 * (wall["bare"] / wall["end_to_end"] - 1.0),
        "peak_step_mib": memory[False]["peak_step_mib"],
        "peak_step_mib_grad_checkpointing": memory[True]["peak_step_mib"],
        "intervals": runs,
    }
    print(f"{recipe.model} ({args.recipe}): clips {result['clips']} {args.mixed_precision} on {result['device']}, "
          f"{result['torch_threads']} threads / {result['cpu_count']} cores; medians of "
          f"{len(runs['bare'])} intervals of {args.interval} steps")  # fmt: skip
    print(f"{'':44s}{'steps/s':>9s}{'(CPU s)':>9s}{'time/step':>11s}")
    rows = [
        ("bare forward/backward/AdamW step", "bare", ""),
        ("vaekit train, phase 1, same batch", "trainer", f"overhead {result['trainer_overhead_pct']:+.1f}%"),
        ("vaekit train, phase 2, same batch", "adversarial", "(+ discriminator forward/backward/step)"),
        (f"vaekit train, phase 1, data in {args.num_workers} worker(s)", "end_to_end",
         f"wall-clock overhead {result['end_to_end_overhead_pct_wall']:+.1f}%"),
    ]  # fmt: skip
    for label, key, note in rows:
        per_cpu = f"{cpu[key]:9.3f}" if key in cpu else f"{'-':>9s}"
        ratio = primary["bare"] / primary.get(key, wall[key])
        print(f"{label:44s}{wall[key]:9.3f}{per_cpu}{ratio:10.2f}x  {note}")
    print(f"peak memory of a trainer step: {result['peak_step_mib']:.0f} MiB; with --grad-checkpointing "
          f"{result['peak_step_mib_grad_checkpointing']:.0f} MiB")  # fmt: skip
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
