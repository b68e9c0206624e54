"""Health thresholds of ``vaekit doctor`` and their TOML override.

The defaults are the numbers of the expert reading in ``shared/seed/`` (a healthy two-phase video
VAE run): a pre-clip grad_norm is safe below 10 and a reason to act above 20; disc_loss sits in a
0.5-1.5 band (near 0 the discriminator overpowers the decoder, around 10 it is broken);
perception_loss stays below 0.10; after the discriminator starts, rec_loss spikes (0.0033 ->
0.0205 in the seed) and should come back to about 0.008 (2.5x the phase-1 level). Numbers that
the seed does not give (the recovery deadline, the logits gap for ``act``, the d_weight alarm)
are marked as such below.

A rules file is TOML with one table per metric, e.g.::

    [grad_norm]
    watch = 12.0
    act = 25.0

    [rec_loss]
    deadline_steps = 3000

A ``[doctor]`` table wrapping these (so the run's own ``config.toml`` can carry them) and flat
keys such as ``grad_norm_watch = 12.0`` are accepted too. Unknown keys are an error. An
``[aliases]`` table names other trainers' keys for the rules (``rec_loss = ["l1_pixel"]``; see
:mod:`vaekit.doctor.aliases`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .aliases import aliases_from_mapping
from .logs import DoctorError, tomllib


@dataclass(frozen=True)
class Rules:
    # grad_norm (logged before clipping); seed: "safe below 10", "above 20 may destabilize".
    grad_norm_watch: float = 10.0
    grad_norm_act: float = 20.0
    # disc_loss per unit disc_factor; seed: "hover around 0.5 to 1.5", "0.0: too strong",
    # "10.0: confused or broken". collapse (0.1) is ours: "near 0".
    disc_loss_low: float = 0.5
    disc_loss_high: float = 1.5
    disc_loss_collapse: float = 0.1
    disc_loss_broken: float = 10.0
    # logits_real - logits_fake; seed: 0.03 vs 0.02 and -0.02 vs -0.00 are balanced.
    # Ours: 0.5 is a clear preference, 2.0 is the hinge margin (the discriminator separates all).
    logits_gap_watch: float = 0.5
    logits_gap_act: float = 2.0
    # perception_loss per unit perceptual_weight; seed: "as long as this stays below 0.10".
    perception_ceiling: float = 0.10
    # rec_loss after disc_start; seed: 0.0033 -> 0.0205 spike, "aiming for 0.008 or lower".
    rec_loss_spike: float = 1.5  # peak / phase-1 level that counts as a spike
    rec_loss_recovered: float = 2.5  # recovered when back under this x the phase-1 level
    rec_loss_deadline_steps: float = 1500  # ours: the seed saw recovery well within 1800 steps
    rec_loss_rise_watch: float = 2.0  # phase 1: recent level / best earlier level
    # KL share of vae_loss; seed: 1e-4 x 34,000 = 3.4 of a 3.42 vae_loss is the "bad" run.
    kl_silenced: float = 1e-6
    kl_dominant_watch: float = 0.5
    kl_dominant_act: float = 0.9
    # d_weight; docs/DESIGN.md clamps the ratio at 1e4. The watch level is ours.
    d_weight_watch: float = 100.0
    d_weight_clamp: float = 1e4
    # trend over the window: relative change of the median between its halves.
    trend_flat: float = 0.10
    # bookkeeping identities: tolerance on top of the printed precision.
    bookkeeping_rtol: float = 1e-4
    bookkeeping_atol: float = 1e-8
    # validation PSNR drop from its best (dB) that is worth a look. Ours.
    val_psnr_drop: float = 1.0
    # fewer training lines than this: the verdict is "insufficient" (ours: below 5 points a level
    # cannot be told from noise, nor a trend read)
    insufficient_lines: float = 5

    def check(self) -> Rules:
        pairs = [
            ("grad_norm_watch", "grad_norm_act"),
            ("disc_loss_collapse", "disc_loss_low"),
            ("disc_loss_low", "disc_loss_high"),
            ("disc_loss_high", "disc_loss_broken"),
            ("logits_gap_watch", "logits_gap_act"),
            ("kl_dominant_watch", "kl_dominant_act"),
            ("d_weight_watch", "d_weight_clamp"),
        ]
        for lo, hi in pairs:
            if not getattr(self, lo) < getattr(self, hi):
                raise DoctorError(
                    f"rules: {lo} ({getattr(self, lo):g}) must be below {hi} ({getattr(self, hi):g})"
                )
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise DoctorError(f"rules: {f.name} must not be negative")
        return self


DEFAULT_RULES = Rules()


def rule_names() -> list[str]:
    return [f.name for f in fields(Rules)]


def _flatten_rules(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}_{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flatten_rules(value, name))
        else:
            out[name] = value
    return out


def rules_from_mapping(table: dict[str, Any], base: Rules = DEFAULT_RULES, where: str = "rules") -> Rules:
    """Apply a (possibly nested) mapping of overrides to ``base``."""
    if "doctor" in table and isinstance(table["doctor"], dict):
        table = table["doctor"]
    table = {k: v for k, v in table.items() if k != "aliases"}  # names, not thresholds: see load_aliases
    flat = _flatten_rules(table)
    # Accept the table names the docs use for two groups.
    renamed = {}
    for key, value in flat.items():
        key = key.replace("-", "_")
        if key.startswith("logits_") and not key.startswith("logits_gap"):
            key = key.replace("logits_", "logits_gap_", 1)
        if key.startswith("perception_loss_"):
            key = key.replace("perception_loss_", "perception_", 1)
        if key.startswith("kl_loss_"):
            key = key.replace("kl_loss_", "kl_", 1)
        renamed[key] = value
    valid = set(rule_names())
    unknown = sorted(set(renamed) - valid)
    if unknown:
        raise DoctorError(f"{where}: unknown rule(s) {', '.join(unknown)}; known: {', '.join(sorted(valid))}")
    values = {}
    for key, value in renamed.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DoctorError(f"{where}: {key} must be a number, got {value!r}")
        values[key] = float(value)
    return replace(base, **values).check()


def load_rules(path: str | Path | None = None, base: Rules = DEFAULT_RULES) -> Rules:
    """The default rules, overridden by the TOML file at ``path`` (if given)."""
    if path is None:
        return base
    p = Path(path)
    table = _read_rules_file(p)
    return rules_from_mapping(table, base, where=str(p))


def load_aliases(path: str | Path | None) -> dict[str, list[str]]:
    """The ``[aliases]`` table of a rules file (canonical name -> other key names), or ``{}``."""
    if path is None:
        return {}
    p = Path(path)
    table = _read_rules_file(p)
    if "doctor" in table and isinstance(table["doctor"], dict):
        table = table["doctor"]
    aliases = table.get("aliases")
    if aliases is None:
        return {}
    if not isinstance(aliases, dict):
        raise DoctorError(f"{p}: [aliases] must be a table of name = [other names]")
    try:
        return aliases_from_mapping(aliases, where=str(p))
    except ValueError as exc:
        raise DoctorError(str(exc)) from exc


def _read_rules_file(p: Path) -> dict:
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise DoctorError(f"rules file not found: {p}") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DoctorError(f"cannot read the rules file {p}: {exc}") from exc
