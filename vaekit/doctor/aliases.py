"""The one table of metric names: what other trainers call the keys that vaekit's rules read.

A logged key is normalised in three moves (:func:`normalize_key`):

1. prefixes and suffixes that only say *where* a value was logged come off: ``train/``,
   ``training.``, ``losses/`` (training), ``val/``, ``val_``, ``valid/``, ``eval/``, ``test/``
   (validation), and PyTorch Lightning's ``_step`` / ``_epoch`` suffixes (``_epoch`` marks an
   epoch mean, which the rules set aside when per-step values exist);
2. the rest is lower-cased and looked up in :data:`ALIASES` (canonical name -> other names);
3. a name that is neither a canonical key, an alias, a known extra (:data:`EXTRA_KEYS`: read
   and shown, but not judged) nor bookkeeping of the logger itself (:data:`IGNORED_KEYS`) is
   *unrecognised*, and the report lists it.

A rules file extends the table with an ``[aliases]`` table, canonical name = list of names::

    [aliases]
    rec_loss = ["l1_pixel", "mae_loss"]
    disc_loss = ["loss_dis"]

The table is documented in docs/DESIGN.md (Doctor) and README ("Reading a run").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..logschema import REC_PART_KEYS

#: canonical name -> the other names trainers log it under (lower case, prefixes stripped)
ALIASES: dict[str, tuple[str, ...]] = {
    "rec_loss": (
        "recons_loss", "recon_loss", "reconstruction", "reconstruction_loss", "rec", "recons",
        "recon", "l1_loss", "pixel_loss", "loss_rec", "rec_l1",
    ),
    "perception_loss": (
        "perceptual_loss", "perceptual", "p_loss", "lpips_loss", "percep_loss", "loss_lpips",
        "loss_perceptual", "perception",
    ),
    "kl_loss": ("kl", "kld", "kld_loss", "kl_div", "kl_divergence", "loss_kl"),
    "nll_loss": ("nll", "weighted_nll_loss"),
    "vae_loss": ("ae_loss_no_gan",),
    "total_loss": ("aeloss", "ae_loss", "loss_g", "generator_total_loss", "g_total_loss"),
    "g_loss": (
        "gen_loss", "generator", "generator_loss", "generator_adv_loss", "generator_adv", "gan_loss", "g_adv_loss",
        "gen_adv_loss", "gan_g_loss", "adv_loss", "loss_gan",
    ),
    "disc_loss": (
        "d_loss", "discloss", "disc_adv_loss", "discriminator_loss", "discriminator_adv_loss",
        "discriminator_adv", "discriminator", "loss_d", "gan_d_loss", "disc",
    ),
    "d_weight": ("disc_adaptive_weight", "adaptive_weight", "disc_weight_adaptive"),
    "disc_factor": ("discriminator_factor", "disc_factor_weight"),
    "logits_real": ("logit_real", "d_real", "real_logits"),
    "logits_fake": ("logit_fake", "d_fake", "fake_logits"),
    "grad_norm": ("gradient_norm", "grad_norm_g", "total_grad_norm", "gnorm"),
    "lr": ("learning_rate", "lr_g"),
    "step": ("iteration", "iter", "it", "_step", "steps", "trainer/global_step"),
    "global_step": ("globalstep",),
    "epoch": ("epochs", "_epoch"),
}

#: the keys the rules read (vaekit's names) and the counters
CANONICAL = frozenset(ALIASES)

#: recognised, shown in the key map, not judged: codebook terms of VQ trainers and the like
EXTRA_KEYS = frozenset(
    {
        "loss", "vq_loss", "commit_loss", "commitment_loss", "codebook_loss", "quant_loss",
        "entropy_loss", "codebook_usage", "perplexity", "disc_weight", "logvar", "lr_d",
        "wavelet_loss", "wl_loss", "psnr", "ssim", "lpips", "psnr_ema", "ssim_ema", "lpips_ema",
        "global_batch_size", "samples_per_s", "grad_norm_d", "d_grad_norm", "vf_loss",
        "disc_start", "kl_weight", "perceptual_weight", "pixelloss_weight", "clip_grad", "batch_size",
    }
    | set(REC_PART_KEYS)  # vaekit's optional parts of rec_loss
)

#: the logger's own bookkeeping: never a metric, never listed as unrecognised
IGNORED_KEYS = frozenset(
    {
        "v_num", "time", "data", "eta", "mem", "max_mem", "memory", "created_at", "_runtime",
        "_timestamp", "timestamp", "wall_time", "samples_per_sec", "steps_per_sec", "it_s",
        "batch_time", "data_time", "gpu_mem", "rank", "world_size", "total", "seed", "steps/sec",
        "it/s", "s/it", "samples/sec", "samples/s", "imgs/s",
    }
)

_TRAIN_PREFIXES = frozenset({"train", "training", "loss", "losses", "trn", "metrics"})
_VAL_PREFIXES = frozenset({"val", "valid", "validation", "eval", "test", "evaluation"})
_VAL_WORD_PREFIX = re.compile(r"^(val|valid|validation|eval|test)_(?=.)")
_TRAIN_WORD_PREFIX = re.compile(r"^(train|training)_(?=.)")


@dataclass(frozen=True)
class KeyName:
    """A logged key, normalised: ``name`` is canonical when ``known``; ``val`` and ``epoch_mean``
    say where it was logged; ``ignored`` marks the logger's own bookkeeping."""

    raw: str
    name: str
    val: bool = False
    epoch_mean: bool = False
    known: bool = True
    ignored: bool = False
    val_by_name: bool = False  # validation only because the bare name (psnr, ssim, ...) says so

    @property
    def full(self) -> str:
        """The record key: ``val/`` + name for validation values."""
        return "val/" + self.name if self.val else self.name


class AliasTable:
    """The lookup: built-in :data:`ALIASES`, optionally extended (``[aliases]`` of a rules file)."""

    def __init__(self, extra: Mapping[str, Iterable[str]] | None = None) -> None:
        self.lookup: dict[str, str] = {}
        for canon, names in ALIASES.items():
            self.lookup[canon] = canon
            for n in names:
                self.lookup[n] = canon
        self.extended: dict[str, str] = {}
        for canon, names in (extra or {}).items():
            for n in [names] if isinstance(names, str) else names:
                key = str(n).strip().lower()
                self.lookup[key] = canon
                self.extended[key] = canon
        self._cache: dict[str, KeyName] = {}

    def normalize(self, key: str) -> KeyName:
        hit = self._cache.get(key)
        if hit is None:
            hit = self._normalize(key)
            if len(self._cache) < 8192:
                self._cache[key] = hit
        return hit

    def _normalize(self, key: str) -> KeyName:
        raw = key.strip().strip("'\"")
        k = raw.lower()
        whole = self.lookup.get(k)
        if whole is not None and k in self.extended:
            return KeyName(raw, whole)
        # a wandb chart export names columns "<run name> - <key>"
        if " - " in k:
            k = k.rsplit(" - ", 1)[1].strip()
        parts = [p for p in re.split(r"[/.]", k) if p]
        val = trained = False
        while len(parts) > 1 and parts[0] in _TRAIN_PREFIXES | _VAL_PREFIXES:
            val = val or parts[0] in _VAL_PREFIXES
            trained = trained or parts[0] in ("train", "training", "trn")
            parts = parts[1:]
        name = "/".join(parts) if parts else k
        epoch_mean = False
        if name.endswith("_epoch") and name not in self.lookup:
            name, epoch_mean = name[: -len("_epoch")], True
        elif name.endswith("_step") and name not in self.lookup:
            name = name[: -len("_step")]
        m = _VAL_WORD_PREFIX.match(name)
        if m and name not in self.lookup:
            name, val = name[m.end() :], True
        else:
            m = _TRAIN_WORD_PREFIX.match(name)
            if m and name not in self.lookup:
                name, trained = name[m.end() :], True
        name = name.replace(" ", "_").replace("-", "_")
        canon = self.lookup.get(name)
        if canon is not None:
            return KeyName(raw, canon, val, epoch_mean)
        if name in EXTRA_KEYS:
            by_name = not val and not trained and name in _VAL_METRICS
            return KeyName(raw, name, val or by_name, epoch_mean, val_by_name=by_name)
        if name in IGNORED_KEYS:
            return KeyName(raw, name, val, epoch_mean, known=True, ignored=True)
        return KeyName(raw, name, val, epoch_mean, known=False)


#: validation metrics: a bare ``psnr`` is validation unless a training prefix says otherwise
_VAL_METRICS = frozenset({"psnr", "ssim", "lpips", "psnr_ema", "ssim_ema", "lpips_ema"})

DEFAULT_TABLE = AliasTable()


def aliases_from_mapping(table: Mapping[str, object], where: str = "rules") -> dict[str, list[str]]:
    """Check an ``[aliases]`` table: canonical name -> list of names. Raises ValueError."""
    out: dict[str, list[str]] = {}
    for canon, names in table.items():
        if canon not in CANONICAL and canon not in EXTRA_KEYS:
            known = ", ".join(sorted(CANONICAL - {"step", "global_step", "epoch", "lr"}))
            raise ValueError(f"{where}: [aliases] names an unknown metric {canon!r}; known: {known}")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise ValueError(f"{where}: [aliases] {canon} must be a list of key names")
        out[canon] = [n.strip().lower() for n in names]
    return out
