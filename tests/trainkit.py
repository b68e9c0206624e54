"""Helpers for the trainer tests: a small model folder, small recipes, metrics checks."""

from __future__ import annotations

import json
import math
from pathlib import Path

from modelkit import SMALL

from vaekit.model import VAEConfig
from vaekit.train import Recipe

PHOTOS = "builtin:photos:astronaut,chelsea,rocket,coins"


def small_model_dir(folder: Path) -> Path:
    """A model folder (config.json only) with the small test architecture (0.13M parameters)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(VAEConfig(**SMALL).to_json())
    return folder


def small_recipe(model_dir: Path, out: Path, **overrides) -> Recipe:
    """A recipe that trains the small model on 5-frame 32px photo-motion clips in seconds."""
    values = dict(
        model=str(model_dir),
        data=[PHOTOS],
        val_data=[],
        num_frames=5,
        resolution=32,
        num_workers=0,
        perceptual_weight=0.0,
        kl_weight=1e-6,
        disc_start=3,
        disc_channels=8,
        disc_layers=2,
        disc_lr=1e-3,
        batch_size=2,
        max_steps=6,
        lr=1e-3,
        out=str(out),
        log_every=1,
        val_every=0,
        save_every=100,
    )
    values.update(overrides)
    return Recipe.from_mapping(values)


def read_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def train_lines(run_dir: Path) -> list[dict]:
    return [r for r in read_lines(run_dir) if "rec_loss" in r]


def val_lines(run_dir: Path) -> list[dict]:
    return [r for r in read_lines(run_dir) if "val/psnr" in r]


def _close(a: float, b: float, *terms: float) -> bool:
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-6 * (abs(a) + sum(abs(t) for t in terms)) + 1e-9)


def identity_errors(line: dict, kl_weight: float) -> list[str]:
    """The DESIGN.md identities that ``line`` breaks (empty when all hold to float precision)."""
    r = line
    checks = {
        "nll_loss = rec_loss + perception_loss": (
            r["nll_loss"],
            r["rec_loss"] + r["perception_loss"],
            r["rec_loss"],
            r["perception_loss"],
        ),
        "vae_loss = nll_loss + kl_weight * kl_loss": (
            r["vae_loss"],
            r["nll_loss"] + kl_weight * r["kl_loss"],
            r["nll_loss"],
            kl_weight * r["kl_loss"],
        ),
        "total_loss = vae_loss + d_weight * disc_factor * g_loss": (
            r["total_loss"],
            r["vae_loss"] + r["d_weight"] * r["disc_factor"] * r["g_loss"],
            r["vae_loss"],
            r["d_weight"] * r["g_loss"],
        ),
        "g_loss = -logits_fake": (r["g_loss"], -r["logits_fake"], r["g_loss"]),
    }
    return [f"step {r['step']}: {name}" for name, (a, b, *t) in checks.items() if not _close(a, b, *t)]
