"""The trainer as users launch it: ``python -m vaekit train`` in a subprocess, under torchrun, and
stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trainkit import small_model_dir, small_recipe, train_lines

from vaekit.train import latest_checkpoint, load_checkpoint, losses, train

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


def _run(cmd: list[str], timeout: float) -> tuple[int, str, str]:
    """Run ``cmd`` in its own process group; on timeout kill the whole group (torchrun's workers too)."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd[:6])} ... timed out; stderr: {err[-2000:]}")
    return proc.returncode, out, err


@pytest.fixture
def model_dir(tmp_path):
    return small_model_dir(tmp_path / "small")


def test_two_process_torchrun_matches_one_process_with_the_same_global_batch(model_dir, tmp_path):
    # posterior means (no sampling noise), so 2 ranks x 1 clip must equal 1 process x 2 clips
    recipe = small_recipe(model_dir, tmp_path / "single", max_steps=2, disc_start=1, sample_posterior=False)
    config = tmp_path / "recipe.toml"
    config.write_text(recipe.to_toml())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [
        "-m",
        "vaekit",
        "train",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "ddp"),
        "--batch-size",
        "1",
    ]
    returncode, out, err = _run(cmd, timeout=300)
    assert returncode == 0, err[-3000:]
    assert "global batch 2 = 1 x 2 ranks" in out
    train(recipe)
    ddp, single = train_lines(tmp_path / "ddp"), train_lines(tmp_path / "single")
    assert [r["phase"] for r in ddp] == ["vae", "adversarial"]
    for a, b in zip(ddp, single, strict=True):
        assert a["global_batch_size"] == b["global_batch_size"] == 2
        for key in losses.LOSS_KEYS:  # d_weight included: its gradients are averaged over ranks
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    assert [p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()] == ["step_00000002.pt"]


def test_sigterm_saves_a_checkpoint_that_resumes(model_dir, tmp_path):
    recipe = small_recipe(model_dir, tmp_path / "run", max_steps=10_000, save_every=10_000)
    config = tmp_path / "recipe.toml"
    config.write_text(recipe.to_toml())
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaekit", "train", "--config", str(config)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        metrics = Path(recipe.out) / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "stopped by a signal" in out and "Traceback" not in err
    state = load_checkpoint(latest_checkpoint(recipe.out))
    assert 2 <= state["step"] < 10_000
    summary = train(recipe.replace(max_steps=state["step"] + 2), resume=True)
    assert summary["step"] == state["step"] + 2 and not summary["interrupted"]
