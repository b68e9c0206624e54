"""The training loop of ``vaekit train``: two phases, two optimizers, exact resume, DDP.

One step, for global batch ``step``:

1. the VAE reconstructs the clips (a posterior sample whose noise is seeded by step and rank);
2. phase 1 (``step < disc_start``): the generator loss is ``vae_loss``; the discriminator is
   neither run nor updated. Phase 2: the frozen discriminator scores the reconstructions for
   ``g_loss``, ``d_weight`` balances it against ``nll_loss`` on the decoder's last layer, and
   the discriminator then scores real and detached fake clips for ``disc_loss``;
3. if any loss is non-finite on any rank, nothing is updated (a warning; ``max_bad_steps`` in a
   row save a checkpoint and stop the run);
4. the generator's AdamW steps on ``total_loss`` (gradients clipped to ``clip_grad``; the
   logged ``grad_norm`` is the norm before clipping), then in phase 2 the discriminator's AdamW
   steps on ``disc_loss`` (clipped the same way); the EMA follows the generator.

Metrics lines, validation, checkpoints and the final EMA export happen on rank 0; every rank
agrees on skipping and stopping through one small all-reduce per step. SIGINT/SIGTERM finish the
current step, save a checkpoint and return.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import time
import warnings
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from ..doctor.live import LiveDoctor
from ..doctor.logs import DoctorError
from ..doctor.rules import Rules, load_rules
from ..errors import EXIT_TRAINING_STOPPED, InputError, VaekitError
from ..io.atomic import atomic_output, make_folder
from ..logschema import train_record
from ..model import CausalVideoVAE, VAEConfig, load_model, resolve_model_dir, save_model, upgrade_state_dict
from ..model.folder import WEIGHTS_NAME
from ..perceptual import PerFrameLPIPS
from . import distributed, losses
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .data import ClipBatches, ClipReader, describe, find_items, make_loader, seed_for, validation_clips
from .discriminator import PatchDiscriminator3D
from .ema import EMA
from .model_export import rename_run_model
from .progress import StepBar
from .recipe import Recipe
from .runlog import RunLog
from .validation import Validator, save_picture

CONFIG_NAME = "config.toml"
EXPORT_DIR = "model"


class TrainingStopped(VaekitError):
    """Too many non-finite steps in a row: the run saved a checkpoint and stopped (exit 7)."""

    exit_code = EXIT_TRAINING_STOPPED


class Trainer:
    """Holds the models, optimizers, data and logs of one run; :meth:`fit` trains it."""

    def __init__(self, recipe: Recipe, resume: bool = False):
        self.recipe = r = recipe
        doctor_rules = self._doctor_rules()  # every rank, before any rank starts work
        self.dist = distributed.setup(r.device)
        self.device = self.dist.device
        self.run_dir = Path(r.out)
        self._stop_signal: int | None = None
        self.stop_requested = False  # set by every step: did any rank get SIGINT/SIGTERM?
        self.bad_steps = 0
        self._last_save: tuple[int, Path | None] | None = None  # (step, path on rank 0)
        self._warned_files: set[str] = set()

        self.vae, self.disc = self._build_models()
        self.last_layer = self.vae.decoder.conv_out.weight
        betas = (r.adam_beta1, r.adam_beta2)
        #: the VAE parameters the generator's optimizer steps (all but the ``freeze`` parts)
        self.trained_params = [p for p in self.vae.parameters() if p.requires_grad]
        self.opt_g = torch.optim.AdamW(
            _param_groups(self.vae, r.branch_lr_scale), lr=r.lr, betas=betas, weight_decay=r.weight_decay
        )
        self.opt_d = torch.optim.AdamW(
            self.disc.parameters(), lr=r.disc_lr, betas=(r.disc_beta1, r.disc_beta2), weight_decay=r.weight_decay
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=r.mixed_precision == "fp16")
        self.ema = EMA(self.vae, r.ema_decay) if self.dist.is_main else None
        self.perceptual = self._build_perceptual()
        self.step = self._restore(resume)
        if self.dist.is_main:
            make_folder(self.run_dir)
            with atomic_output(self.run_dir / CONFIG_NAME) as tmp:
                tmp.write_text(r.to_toml())

        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DDP(self.vae, device_ids=ids)
            self.disc_ddp = DDP(self.disc, device_ids=ids)
        else:
            self.model, self.disc_ddp = self.vae, self.disc

        self.items = find_items(r.data)
        reader = ClipReader(r.num_frames, r.resolution, r.sample_rate, r.color_augment)
        self.data = ClipBatches(
            self.items,
            reader,
            seed=r.seed,
            batch_size=r.batch_size,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        self.global_batch = r.batch_size * self.dist.world_size
        self.validator = self._build_validator() if self.dist.is_main else None
        self.log = RunLog(self.run_dir, self.step) if self.dist.is_main else None
        self.doctor = (
            LiveDoctor(rules=doctor_rules, config=dataclasses.asdict(r)) if self.dist.is_main else None
        )

    # -- construction ---------------------------------------------------------------------------
    def _doctor_rules(self) -> Rules | None:
        if not self.recipe.doctor_rules:
            return None
        try:
            return load_rules(self.recipe.doctor_rules)
        except DoctorError as e:
            raise InputError(f"doctor_rules: {e}") from None

    def _build_models(self) -> tuple[CausalVideoVAE, PatchDiscriminator3D]:
        r = self.recipe
        config = VAEConfig.from_json(resolve_model_dir(r.model) / "config.json")
        tc, sc = config.temporal_compression, config.spatial_compression
        if (r.num_frames - 1) % tc:
            raise InputError(
                f"num_frames {r.num_frames} does not fit model {r.model!r}: use 1 + {tc}k frames"
            )
        if r.resolution % sc:
            raise InputError(
                f"resolution {r.resolution} does not fit model {r.model!r}: use a multiple of {sc}"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_for(r.seed, "init"))
            vae = CausalVideoVAE(config)
            disc = PatchDiscriminator3D(config.in_channels, r.disc_channels, r.disc_layers)
        if r.init_weights:
            self._load_init_weights(vae)
        vae.encoder.gradient_checkpointing = vae.decoder.gradient_checkpointing = r.grad_checkpointing
        for part in r.freeze:  # still run (the loss flows through a frozen decoder), never stepped
            getattr(vae, part).requires_grad_(False)
        return vae.to(self.device).train(), disc.to(self.device).train()

    def _load_init_weights(self, vae: CausalVideoVAE) -> None:
        """Start from the weights of the ``init_weights`` model folder: the same architecture, or
        a v1 model warm-starting a v2 one (new branches start as no-ops, 1x1 resample projections
        become the centre tap of the wider ones; :func:`vaekit.model.upgrade_state_dict`)."""
        folder = resolve_model_dir(self.recipe.init_weights)
        if not (folder / WEIGHTS_NAME).is_file():
            raise InputError(f"init_weights {folder} has no {WEIGHTS_NAME} to start from")
        state = load_model(folder).state_dict()
        if {k: v.shape for k, v in state.items()} != {k: v.shape for k, v in vae.state_dict().items()}:
            try:
                state = upgrade_state_dict(state, vae)
            except ValueError:
                raise InputError(
                    f"init_weights {folder} is another architecture than model {self.recipe.model!r} "
                    "(and not a v1 model that it extends)"
                ) from None
        vae.load_state_dict(state)

    def _build_perceptual(self) -> PerFrameLPIPS | None:
        r = self.recipe
        if r.perceptual_weight <= 0:
            return None
        return PerFrameLPIPS(
            r.lpips_net, r.lpips_backbone_path, r.lpips_random_backbone, frames=r.lpips_frames
        ).to(self.device)

    def _build_validator(self) -> Validator | None:
        r = self.recipe
        if not r.val_data or r.val_every == 0:
            return None
        reader = ClipReader(r.num_frames, r.resolution, r.sample_rate)
        clips, skipped = validation_clips(
            find_items(r.val_data), reader, r.val_clips, seed_for(r.seed, "val")
        )
        self._warn_skipped(skipped)
        real_lpips = self.perceptual if self.perceptual is not None and self.perceptual.is_lpips else None
        return Validator(clips, self.device, self.autocast, real_lpips)

    def autocast(self):
        mp = self.recipe.mixed_precision
        if mp == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if mp == "bf16" else torch.float16)

    # -- checkpoints ----------------------------------------------------------------------------
    def _restore(self, resume: bool) -> int:
        """Load the newest checkpoint when resuming; returns the step to start from."""
        path = latest_checkpoint(self.run_dir)
        if path is None:
            return 0
        if not resume:
            raise InputError(
                f"{self.run_dir} already holds checkpoints; pass --resume to continue it or choose another --out"
            )
        state = load_checkpoint(path)
        self.vae.load_state_dict(state["model"])
        self.disc.load_state_dict(state["disc"])
        try:
            self.opt_g.load_state_dict(state["opt_g"])
        except ValueError:
            raise InputError(
                f"{path.name} was trained with other optimizer groups than this recipe's (freeze "
                f"{self.recipe.freeze}, branch_lr_scale {self.recipe.branch_lr_scale}): resume with the "
                "original run's values, or start a new --out"
            ) from None
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        rng = state["rng"]
        if len(rng) == self.dist.world_size:
            torch.set_rng_state(rng[self.dist.rank]["torch"])
            if self.device.type == "cuda" and "cuda" in rng[self.dist.rank]:
                torch.cuda.set_rng_state(rng[self.dist.rank]["cuda"], self.device)
        if state["data"]["global_batch"] != self.recipe.batch_size * self.dist.world_size:
            warnings.warn(
                f"the global batch changed from {state['data']['global_batch']} to "
                f"{self.recipe.batch_size * self.dist.world_size}: the data order differs from the original run",
                stacklevel=2,
            )
        self.bad_steps = int(state["bad_steps"])
        if self.dist.is_main:
            print(f"resuming {self.run_dir} from {path.name} (step {state['step']})", flush=True)
        return int(state["step"])

    def save(self) -> Path | None:
        """Checkpoint the run (collective: every rank contributes its RNG state; rank 0 writes)."""
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        rngs = self.dist.gather_objects(rng)
        if not self.dist.is_main:
            self._last_save = (self.step, None)
            return None
        state = {
            "step": self.step,
            "model": self.vae.state_dict(),
            "disc": self.disc.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict(),
            "rng": rngs,
            "data": {"next_step": self.step, "global_batch": self.global_batch},
            "bad_steps": self.bad_steps,
            "model_config": self.vae.config.to_dict(),
            "recipe": dataclasses.asdict(self.recipe),
        }
        path = save_checkpoint(self.run_dir, state, self.recipe.keep_last)
        self._last_save = (self.step, path)
        return path

    # -- one step -------------------------------------------------------------------------------
    def _noise(self, step: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(seed_for(self.recipe.seed, "posterior", step, self.dist.rank))
        return g

    def _lpips_frames(self, step: int) -> torch.Generator | None:
        """Draws the frames LPIPS sees at ``step`` (CPU generator: randperm runs on the host)."""
        if self.perceptual is None or not 0 < self.recipe.lpips_frames:
            return None
        g = torch.Generator()
        g.manual_seed(seed_for(self.recipe.seed, "lpips", step, self.dist.rank))
        return g

    def train_step(self, x: torch.Tensor, step: int) -> torch.Tensor | None:
        """One update of both networks; the loss values (``LOSS_KEYS`` order) or None if skipped."""
        r = self.recipe
        adversarial = step >= r.disc_start
        disc_factor = r.disc_factor if adversarial else 0.0
        lr = self.recipe.lr_at(step)
        for group in self.opt_g.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # checkpoints before the key: 1

        with self.autocast():
            x_hat, posterior = self.model(x, sample=r.sample_posterior, generator=self._noise(step))
            vae = losses.vae_terms(r, x, x_hat, posterior, self.perceptual, self._lpips_frames(step))
        if adversarial:
            self.disc.requires_grad_(False)  # D scores x_hat for the generator; its grads are not wanted
            with self.autocast():
                logits_fake = self.disc(x_hat)
            self.disc.requires_grad_(True)
            scale = self.scaler.get_scale() if self.scaler.is_enabled() else 1.0
            terms = losses.generator_terms(
                r, vae, logits_fake, self.last_layer, disc_factor, scale, self.dist.average
            )
            with self.autocast():
                logits_real, logits_fake_d = self.disc_ddp(torch.cat([x, x_hat.detach()])).chunk(2)
            terms.update(losses.discriminator_terms(r, logits_real, logits_fake_d, disc_factor))
        else:
            terms = losses.phase1_terms(vae)

        flags = torch.stack([~torch.isfinite(terms["total_loss"]), ~torch.isfinite(terms["disc_loss"]),
                             torch.tensor(self._stop_signal is not None, device=self.device)])  # fmt: skip
        bad_g, bad_d, stop = self.dist.any(flags).tolist()
        self.stop_requested = stop
        if bad_g or bad_d:
            return self._skip(step, "total_loss" if bad_g else "disc_loss")

        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(terms["total_loss"]).backward()
        self.scaler.unscale_(self.opt_g)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.trained_params, r.clip_grad or math.inf)
        grads_finite = bool(torch.isfinite(grad_norm))
        if not grads_finite and not self.scaler.is_enabled():
            return self._skip(step, "grad_norm")
        self.scaler.step(self.opt_g)  # with fp16, the scaler itself skips steps with inf gradients
        if adversarial:
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler.scale(terms["disc_loss"]).backward()
            self.scaler.unscale_(self.opt_d)
            torch.nn.utils.clip_grad_norm_(self.disc.parameters(), r.clip_grad or math.inf)
            self.scaler.step(self.opt_d)
        self.scaler.update()
        if not grads_finite:  # fp16 overflow: routine; the scaler lowered its scale, the generator kept still
            return None
        if self.ema is not None:
            self.ema.update(self.vae)
        self.bad_steps = 0
        terms["grad_norm"] = grad_norm
        return torch.stack([terms[k].detach().double() for k in losses.LOSS_KEYS + r.rec_part_keys])

    def _skip(self, step: int, what: str) -> None:
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        self.bad_steps += 1
        if self.dist.is_main:
            warnings.warn(f"step {step}: non-finite {what}; the update was skipped", stacklevel=2)
        if self.bad_steps >= self.recipe.max_bad_steps:
            path = self.save()
            raise TrainingStopped(
                f"{self.bad_steps} non-finite steps in a row (last at step {step}); checkpoint saved"
                f"{f' at {path}' if path else ''}. Lower lr, check the data, or train in fp32/bf16"
            )
        return None

    # -- the loop -------------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train from ``self.step`` to ``max_steps`` (or until a signal); returns a summary."""
        r = self.recipe
        self._announce()
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        loader = make_loader(self.data, self.step, r.max_steps, r.num_workers, self.device.type == "cuda")
        tick, ticked_steps = time.perf_counter(), 0
        self.bar = StepBar(self.step, r.max_steps, enabled=None if self.dist.is_main else False)
        try:
            for batch in loader:
                if self.validator is not None and self.step % r.val_every == 0:
                    with self.bar.printing():
                        tick += self.validate()  # samples_per_s counts training time only
                if batch["skipped"]:
                    with self.bar.printing():
                        self._warn_skipped(batch["skipped"])
                step = self.step
                values = self.train_step(batch["video"].to(self.device, non_blocking=True), step)
                self.step += 1
                ticked_steps += 1
                self.bar.update()
                last = self.step == r.max_steps  # the last step is always logged
                if values is not None and (step % r.log_every == 0 or last):
                    now = time.perf_counter()
                    with self.bar.printing():
                        self._log_train(
                            step, self.dist.average(values), ticked_steps * self.global_batch / (now - tick)
                        )
                    tick, ticked_steps = now, 0
                if self.stop_requested:
                    break
                if self.step % r.save_every == 0:
                    saved = time.perf_counter()
                    self.save()
                    tick += time.perf_counter() - saved
            self.bar.close()
            return self._finish()
        finally:
            self.bar.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self.log is not None:
                self.log.close()

    def _finish(self) -> dict:
        r = self.recipe
        interrupted = self.stop_requested
        if not interrupted and self.validator is not None:
            self.validate()
        already = self._last_save is not None and self._last_save[0] == self.step
        path = self._last_save[1] if already else self.save()
        summary = {"run_dir": str(self.run_dir), "step": self.step, "checkpoint": str(path) if path else None}
        if self.dist.is_main:
            if interrupted:
                print(
                    f"stopped by a signal at step {self.step}; checkpoint {path}; continue with --resume",
                    flush=True,
                )
            else:
                folder = save_model(self.ema.model, self.run_dir / EXPORT_DIR)
                # named after the run, statistics marked not computed (never the preset's identity)
                summary["model"] = str(rename_run_model(folder, self.run_dir))
                print(f"done: {self.step}/{r.max_steps} steps; EMA model in {summary['model']}", flush=True)
        summary["interrupted"] = interrupted
        # a rank may stop because another one got the signal
        summary["signal"] = int(self._stop_signal or signal.SIGTERM) if interrupted else None
        return summary

    def _on_signal(self, signum, _frame) -> None:
        self._stop_signal = signum
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C / SIGTERM kills at once

    def _log_train(self, step: int, values: torch.Tensor, samples_per_s: float) -> None:
        if not self.dist.is_main:
            return
        phase = "adversarial" if step >= self.recipe.disc_start else "vae"
        record = train_record(
            step,
            self.data.epoch(step),
            phase,
            self.recipe.lr_at(step),
            samples_per_s,
            self.global_batch,
            values.tolist(),
            self.recipe.rec_part_keys,
        )
        self.log.write(record)
        self.log.console(record, self.recipe.max_steps)
        for finding in self.doctor.update(record):
            warnings.warn(f"doctor: {finding}", stacklevel=2)

    def validate(self) -> float:
        """Score the current and the EMA weights on the validation clips; returns the seconds it took."""
        start = time.perf_counter()
        scores, picture = self.validator.run(self.vae, self.ema.model)
        record = {"step": self.step, "epoch": self.data.epoch(self.step), **scores}
        self.log.write(record)
        self.log.console(record, self.recipe.max_steps)
        for finding in self.doctor.update(record):
            warnings.warn(f"doctor: {finding}", stacklevel=2)
        save_picture(picture, self.run_dir / "samples" / f"step_{self.step:08d}.png")
        self.log.tb.add_image("val/sample", picture, self.step, dataformats="HWC")
        return time.perf_counter() - start

    def _warn_skipped(self, skipped: list) -> None:
        for label, reason in skipped:
            if label not in self._warned_files:
                self._warned_files.add(label)
                warnings.warn(f"skipping {label}: {reason}", stacklevel=2)

    def _announce(self) -> None:
        if not self.dist.is_main:
            return
        r = self.recipe
        n_g = sum(p.numel() for p in self.vae.parameters()) / 1e6
        n_d = sum(p.numel() for p in self.disc.parameters()) / 1e6
        lpips = (
            "off"
            if self.perceptual is None
            else ("LPIPS" if self.perceptual.is_lpips else "RANDOM-backbone (not LPIPS)")
        )
        frozen = f", {' and '.join(r.freeze)} frozen" if r.freeze else ""
        print(
            f"vaekit train: {r.model} ({n_g:.1f}M params{frozen}) + discriminator ({n_d:.1f}M) on {self.device} {r.mixed_precision}; "
            f"data {describe(self.items)}; clips {r.num_frames}x{r.resolution}x{r.resolution}; "
            f"global batch {self.global_batch} = {r.batch_size} x {self.dist.world_size} ranks; "
            f"steps {self.step}->{r.max_steps}, discriminator from {r.disc_start}; perceptual {lpips}; run {self.run_dir}",
            flush=True,
        )


#: name parts of the v2 branches that ``branch_lr_scale`` applies to (MotionMix, GroupMix)
BRANCH_NAME_PARTS = (".motion.", ".mix.")


def _param_groups(vae: torch.nn.Module, branch_lr_scale: float) -> list[dict]:
    """The generator's optimizer groups: the trained parameters, with the v2 motion and
    group-mixing branches in a group of their own when ``branch_lr_scale`` is not 1. Each group's
    ``lr_scale`` multiplies the scheduled lr."""
    trained = [(n, p) for n, p in vae.named_parameters() if p.requires_grad]
    branch = [p for n, p in trained if any(part in f".{n}" for part in BRANCH_NAME_PARTS)]
    if branch_lr_scale == 1.0 or not branch:
        return [{"params": [p for _, p in trained], "lr_scale": 1.0}]
    ids = {id(p) for p in branch}
    rest = [p for _, p in trained if id(p) not in ids]
    return [{"params": rest, "lr_scale": 1.0}, {"params": branch, "lr_scale": branch_lr_scale}]


def resolve_recipe(config: str | None, overrides: dict, resume: bool) -> Recipe:
    """The recipe of a run: ``config`` (or, resuming, the run's saved one) plus ``overrides``.

    Resuming with keys that differ from the saved recipe works, with one warning naming them.
    """
    out = overrides.get("out")
    saved_path = Path(out) / CONFIG_NAME if out else None
    if config:
        recipe = Recipe.from_toml(config, overrides)
    elif resume and saved_path is not None and saved_path.is_file():
        recipe = Recipe.from_toml(saved_path, overrides)
    else:
        raise InputError("--config is required (or --resume with the --out of an existing run)")
    saved_path = Path(recipe.out) / CONFIG_NAME
    if resume and saved_path.is_file():
        changed = recipe.differences(Recipe.from_toml(saved_path))
        if changed:
            warnings.warn(f"resuming with changed recipe keys: {', '.join(changed)}", stacklevel=2)
    return recipe


def train(recipe: Recipe, resume: bool = False) -> dict:
    """Run (or continue) the training described by ``recipe``; returns a summary dict.

    Under ``torchrun`` every rank calls this; rank 0 writes ``RUN_DIR`` (the resolved recipe as
    ``config.toml``, ``metrics.jsonl``, ``tb/``, ``samples/``, ``checkpoints/``, and at the end the
    EMA weights as the model folder ``RUN_DIR/model``).
    """
    try:
        return Trainer(recipe, resume=resume).fit()
    finally:
        distributed.teardown()
