"""The training recipe: every knob of a run, read from TOML, overridden from the command line.

A recipe file groups its keys in one-level tables (``[model]``, ``[data]``, ``[loss]``, ``[gan]``,
``[optim]``, ``[run]``) for readability; key names are unique across tables, so the command
line addresses them flat (``--kl-weight`` sets ``kl_weight``). The resolved recipe (file +
overrides) is written back as ``RUN_DIR/config.toml``, which is what ``--resume`` and
``vaekit doctor`` read.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..logschema import REC_PART_KEYS

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SECTIONS = ("model", "data", "loss", "gan", "optim", "run")
MIXED_PRECISION = ("fp32", "bf16", "fp16")
PIXEL_LOSSES = ("l1", "l2")
LR_SCHEDULES = ("constant", "cosine")
GAN_LOSSES = ("hinge", "vanilla")
FREEZABLE = ("encoder", "decoder")


def _key(section: str, default: Any, doc: str):
    kwargs = {"default_factory": lambda: list(default)} if isinstance(default, list) else {"default": default}
    return field(metadata={"section": section, "doc": doc}, **kwargs)


@dataclass
class Recipe:
    """A resolved training recipe. Field docs double as the comments of ``config.toml``."""

    # [model]
    model: str = _key(
        "model", "tiny", "preset name or model folder whose config.json defines the architecture"
    )
    init_weights: str = _key("model", "", "model folder to start from (fine-tuning); empty: fresh init")
    grad_checkpointing: bool = _key("model", False, "recompute residual blocks in backward to save memory")
    freeze: list[str] = _key(
        "model",
        [],
        "parts that keep their init_weights and get no optimizer state: [\"decoder\"] fine-tunes the "
        "encoder alone (phase 1 only), [\"encoder\"] the decoder alone",
    )
    # [data]
    data: list[str] = _key(
        "data",
        ["builtin:photos"],
        "video/image folders, files or globs; builtin:photos[:a,b], builtin:motion[:a,b] or "
        "builtin:fastmotion[:a,b]",
    )
    val_data: list[str] = _key("data", [], "validation sources (same forms as data); empty: no validation")
    num_frames: int = _key("data", 17, "frames per clip, 1 + 4k (1 for image-only data)")
    resolution: int = _key("data", 256, "square crop size in pixels after resizing the short side")
    sample_rate: int = _key("data", 1, "take every n-th frame of a video")
    num_workers: int = _key("data", 2, "DataLoader worker processes per rank (0: decode in the main process)")
    val_clips: int = _key("data", 8, "number of fixed validation clips")
    color_augment: bool = _key(
        "data", False, "random channel order, saturation and per-channel gain per training clip"
    )
    # [loss]
    pixel_loss: str = _key("loss", "l1", "l1 or l2")
    pixelloss_weight: float = _key("loss", 1.0, "weight of the pixel loss (rec_loss)")
    temporal_weight: float = _key(
        "loss", 0.0, "weight of L1 on frame differences x[t] - x[t-1], added to rec_loss (logged as temporal_loss)"
    )
    pooled_weight: float = _key(
        "loss", 0.0, "weight of L1 on 8x8 average-pooled frames, added to rec_loss (logged as pooled_loss)"
    )
    perceptual_weight: float = _key("loss", 1.0, "weight of LPIPS (perception_loss); 0 disables it")
    lpips_net: str = _key("loss", "vgg", "LPIPS backbone: vgg or alex")
    lpips_frames: int = _key(
        "loss", 0, "frames of each clip LPIPS sees, drawn at random per clip and step; 0: all frames"
    )
    lpips_backbone_path: str = _key(
        "loss", "", "torchvision backbone weights (.pth); empty: TORCH_HOME cache (vaekit weights lpips)"
    )
    lpips_random_backbone: bool = _key(
        "loss", False, "tests only: random backbone, the numbers are NOT LPIPS"
    )
    kl_weight: float = _key("loss", 1e-6, "weight of the KL term (kl_loss is summed over the latent)")
    sample_posterior: bool = _key("loss", True, "decode a posterior sample (true) or its mean (false)")
    # [gan]
    disc_start: int = _key("gan", 2000, "step at which the discriminator starts (phase 2)")
    disc_weight: float = _key("gan", 0.5, "scale of the adaptive d_weight")
    d_weight_max: float = _key(
        "gan", 1e4, "upper bound of d_weight (small models: try 1.0; the tiny run reached 3.5)"
    )
    disc_factor: float = _key("gan", 1.0, "disc_factor from disc_start on")
    disc_loss: str = _key("gan", "hinge", "hinge or vanilla")
    disc_channels: int = _key("gan", 64, "width of the first discriminator layer")
    disc_layers: int = _key("gan", 3, "strided layers of the 3D PatchGAN")
    disc_lr: float = _key("gan", 1e-4, "discriminator learning rate")
    disc_beta1: float = _key("gan", 0.5, "AdamW beta1 of the discriminator (taming and LDM use 0.5)")
    disc_beta2: float = _key("gan", 0.9, "AdamW beta2 of the discriminator (taming and LDM use 0.9)")
    # [optim]
    lr: float = _key("optim", 1e-4, "generator learning rate after warmup")
    warmup_steps: int = _key("optim", 0, "linear learning-rate warmup of the generator")
    lr_schedule: str = _key(
        "optim", "constant", "constant, or cosine: from lr_decay_start down to min_lr_ratio x lr at max_steps"
    )
    lr_decay_start: int = _key("optim", 0, "step at which the cosine decay begins (after warmup)")
    min_lr_ratio: float = _key("optim", 0.1, "the cosine schedule's final lr as a fraction of lr")
    adam_beta1: float = _key("optim", 0.9, "AdamW beta1 of the generator")
    adam_beta2: float = _key("optim", 0.99, "AdamW beta2 of the generator")
    weight_decay: float = _key("optim", 0.0, "AdamW weight decay (both optimizers)")
    branch_lr_scale: float = _key(
        "optim",
        1.0,
        "learning-rate multiplier of the v2 motion and group-mixing branches (they start as no-ops "
        "and grow slowly at a fine-tuning lr; docs/DESIGN.md, \"Training\")",
    )
    clip_grad: float = _key("optim", 1.0, "max gradient norm of generator and discriminator; 0: no clipping")
    batch_size: int = _key("optim", 1, "clips per rank and step (global batch = batch_size x ranks)")
    max_steps: int = _key("optim", 10000, "total optimizer steps")
    ema_decay: float = _key("optim", 0.999, "decay of the generator weights' moving average")
    mixed_precision: str = _key("optim", "fp32", "fp32, bf16 or fp16 (fp16 uses a gradient scaler)")
    # [run]
    out: str = _key("run", "runs/tiny", "run directory")
    seed: int = _key("run", 0, "seed of data order, crops, posterior samples and initialisation")
    device: str = _key("run", "auto", "auto (CUDA when available), cpu or cuda")
    log_every: int = _key("run", 10, "steps between metrics lines")
    val_every: int = _key("run", 500, "steps between validations; 0: never")
    save_every: int = _key("run", 1000, "steps between checkpoints (one is always written at the end)")
    keep_last: int = _key("run", 3, "checkpoints kept on disk")
    max_bad_steps: int = _key("run", 5, "non-finite steps in a row that stop the run")
    doctor_rules: str = _key(
        "run",
        "",
        "TOML file of doctor thresholds (as vaekit doctor --rules) for the live doctor; empty: defaults",
    )

    def __post_init__(self):
        if self.doctor_rules:  # absolute, so vaekit doctor finds it from any folder
            self.doctor_rules = str(Path(self.doctor_rules).expanduser().resolve())
        self.validate()

    def validate(self) -> None:
        """Raise InputError for values no run could use."""
        checks = [
            (self.mixed_precision in MIXED_PRECISION, f"mixed_precision must be one of {MIXED_PRECISION}"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}"),
            (0.0 <= self.min_lr_ratio <= 1.0, "min_lr_ratio must be in [0, 1]"),
            (self.d_weight_max > 0, "d_weight_max must be > 0"),
            (min(self.temporal_weight, self.pooled_weight) >= 0, "temporal_weight and pooled_weight must be >= 0"),
            (self.pixel_loss in PIXEL_LOSSES, f"pixel_loss must be one of {PIXEL_LOSSES}"),
            (self.disc_loss in GAN_LOSSES, f"disc_loss must be one of {GAN_LOSSES}"),
            (self.lpips_net in ("vgg", "alex"), "lpips_net must be vgg or alex"),
            (self.device in ("auto", "cpu", "cuda"), "device must be auto, cpu or cuda"),
            (self.num_frames >= 1 and self.resolution >= 8, "num_frames must be >= 1 and resolution >= 8"),
            (
                min(self.sample_rate, self.batch_size, self.log_every, self.save_every) >= 1,
                "sample_rate, batch_size, log_every and save_every must be >= 1",
            ),
            (
                min(
                    self.max_steps,
                    self.disc_start,
                    self.val_every,
                    self.warmup_steps,
                    self.num_workers,
                    self.lr_decay_start,
                    self.lpips_frames,
                )
                >= 0,
                "max_steps, disc_start, val_every, warmup_steps, num_workers, lr_decay_start and lpips_frames "
                "must be >= 0",
            ),
            (self.keep_last >= 1 and self.max_bad_steps >= 1, "keep_last and max_bad_steps must be >= 1"),
            (0.0 <= self.ema_decay < 1.0, "ema_decay must be in [0, 1)"),
            (self.branch_lr_scale > 0, "branch_lr_scale must be > 0"),
            (self.data != [], "data needs at least one source"),
            (
                set(self.freeze) <= set(FREEZABLE) and len(set(self.freeze)) < len(FREEZABLE),
                f"freeze takes one of {list(FREEZABLE)} (freezing both would train nothing)",
            ),
            (
                "decoder" not in self.freeze or self.disc_start >= self.max_steps,
                "freeze = [\"decoder\"] is phase 1 only (d_weight needs the decoder's last layer): set "
                "disc_start >= max_steps",
            ),
            (not self.freeze or bool(self.init_weights), "freeze needs init_weights (frozen random weights)"),
        ]
        for name, value in dataclasses.asdict(self).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"recipe key {name} must be a finite number, got {value}")
        for ok, message in checks:
            if not ok:
                raise InputError(f"bad recipe: {message}")

    @property
    def rec_part_keys(self) -> tuple[str, ...]:
        """The optional parts of ``rec_loss`` this recipe turns on, each logged as its own key."""
        weights = {"temporal_loss": self.temporal_weight, "pooled_loss": self.pooled_weight}
        return tuple(k for k in REC_PART_KEYS if weights[k] > 0)

    def lr_at(self, step: int) -> float:
        """The generator's learning rate at ``step``: linear warmup, then constant or cosine decay."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.lr_schedule == "constant":
            return self.lr * warm
        start = max(self.lr_decay_start, self.warmup_steps)
        progress = min(1.0, max(0.0, (step - start) / max(1, self.max_steps - start)))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.lr * warm * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)

    # -- reading ----------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, values: dict[str, Any], where: str = "recipe") -> Recipe:
        """Build from flat keys or one-level tables; unknown keys and wrong types are errors."""
        if isinstance(values.get("doctor"), dict):
            raise InputError(
                f"{where}: a [doctor] table does not belong in a recipe; put the thresholds in their own "
                'file and set doctor_rules = "FILE.toml" in [run] (or pass --rules FILE.toml)'
            )
        flat: dict[str, Any] = {}
        for key, value in values.items():
            if isinstance(value, dict):
                flat.update(value)
            else:
                flat[key] = value
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(flat) - set(fields))
        if unknown:
            raise InputError(f"{where}: unknown keys {unknown}; known keys: {', '.join(fields)}")
        return cls(**{k: _coerce(k, v, fields[k].type, where) for k, v in flat.items()})

    @classmethod
    def from_toml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
        """Read a recipe file and apply command-line overrides (``None`` values are ignored)."""
        path = Path(path)
        try:
            values = tomllib.loads(path.read_text())
        except OSError as e:
            raise InputError(f"cannot read recipe {path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise InputError(f"recipe {path} is not valid TOML: {e}") from None
        recipe = cls.from_mapping(values, where=str(path))
        return recipe.replace(**(overrides or {}))

    def replace(self, **overrides: Any) -> Recipe:
        """A copy with ``overrides`` applied (``None`` values are ignored)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return Recipe.from_mapping({**dataclasses.asdict(self), **given}, where="command line")

    # -- writing ----------------------------------------------------------------------------
    def to_toml(self) -> str:
        """The recipe as TOML, one table per section, each key with its doc as a comment."""
        lines = ["# Resolved vaekit training recipe (recipe file + command-line overrides)."]
        for section in SECTIONS:
            lines += ["", f"[{section}]"]
            for f in dataclasses.fields(self):
                if f.metadata["section"] == section:
                    lines.append(f"{f.name} = {_toml_value(getattr(self, f.name))}  # {f.metadata['doc']}")
        return "\n".join(lines) + "\n"

    def differences(self, other: Recipe) -> list[str]:
        """Names of the keys whose values differ from ``other``."""
        mine, theirs = dataclasses.asdict(self), dataclasses.asdict(other)
        return [k for k in mine if mine[k] != theirs[k]]


def _coerce(name: str, value: Any, type_name: str, where: str) -> Any:
    """Check one value against its field type (ints are accepted for floats)."""
    expected = {"str": str, "int": int, "float": (int, float), "bool": bool, "list[str]": list}[type_name]
    is_bool = isinstance(value, bool)
    if not isinstance(value, expected) or (is_bool and type_name != "bool"):
        raise InputError(f"{where}: {name} must be {type_name}, got {value!r}")
    if type_name == "list[str]":
        if not all(isinstance(v, str) for v in value):
            raise InputError(f"{where}: {name} must be a list of strings, got {value!r}")
        return list(value)
    return float(value) if type_name == "float" else value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"
