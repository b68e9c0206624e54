"""The doctor inside the training loop: the same rules as ``vaekit doctor``, one warning per incident.

Usage in a trainer::

    from vaekit.doctor.live import LiveDoctor

    doctor = LiveDoctor(config=resolved_recipe)          # rules from vaekit.doctor.rules
    ...
    for finding in doctor.update(record):                 # record: the dict written to metrics.jsonl
        log.warning("doctor: %s", finding)

``update`` returns only *new* incidents: a metric that goes from ``ok`` to ``watch`` warns once;
going on to ``act`` warns again; staying unhealthy is silent; once the metric is ``ok`` again
the incident is over and the next problem warns anew. Nothing here imports torch or numpy.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .analyze import _ADVERSARIAL_PHASES, DEFAULT_WINDOW
from .checks import (
    LINE_CHECKS,
    PHASE_CHECKS,
    VAL_CHECKS,
    Context,
    PhaseData,
    infer_kl_weight,
)
from .logs import Record, _flatten, make_record, recipe_from_config
from .report import Finding, rank
from .rules import DEFAULT_RULES, Rules
from .stats import median


class LiveDoctor:
    """Feed it every log record; it returns the findings that start a new incident.

    Parameters
    ----------
    rules:
        Thresholds (default: :data:`vaekit.doctor.rules.DEFAULT_RULES`).
    config:
        The resolved recipe (nested dicts are fine); ``kl_weight``, ``pixelloss_weight``,
        ``batch_size``, ``clip_grad``, ``disc_start``, ... are looked up at any depth.
    window:
        How many recent lines of the current phase the rules judge (as ``vaekit doctor --window``).
    history:
        How many lines per phase are kept (default ``8 * window``): memory and time per update are
        bounded by it, however long the run.

    The per-line checks (NaN/inf, the loss identities) judge every line; the window rules start
    once the current phase has ``min(window, 5)`` lines.
    """

    def __init__(
        self,
        rules: Rules | None = None,
        config: dict[str, Any] | None = None,
        window: int = DEFAULT_WINDOW,
        history: int | None = None,
    ) -> None:
        if window < 2:
            raise ValueError("window must be at least 2 lines")
        self.rules = rules or DEFAULT_RULES
        self.recipe = recipe_from_config(dict(config or {}))
        self.window = window
        self.history = max(history or 8 * window, 2 * window)
        #: lines a phase needs before its window rules speak (NaN and bookkeeping speak at once)
        self.min_lines = min(window, 5)
        self._lines: dict[str, deque[Record]] = {
            "vae": deque(maxlen=self.history),
            "adversarial": deque(maxlen=self.history),
        }
        self._val: deque[Record] = deque(maxlen=self.history)
        self.phase = "vae"
        self.disc_start: int | None = None
        self._baseline: dict[str, float] = {}
        self._armed: dict[str, str] = {}
        self._levels: dict[str, Finding] = {}
        self._last_step: int | None = None

    # -- state ----------------------------------------------------------------------------------

    @property
    def levels(self) -> dict[str, str]:
        """The current level of every metric judged so far."""
        return {k: f.level for k, f in self._levels.items()}

    def current(self) -> list[Finding]:
        """The latest finding of every metric (healthy ones included)."""
        return list(self._levels.values())

    # -- feeding ----------------------------------------------------------------------------------

    def update(self, record: dict[str, Any]) -> list[Finding]:
        """Judge one log record; return the findings that are new incidents (maybe none)."""
        new: list[Finding] = []
        for rec in make_record(_flatten(dict(record))):
            if rec.kind == "val":
                self._val.append(rec)
                val, ctx = list(self._val), self._context()
                new.extend(self._judge([check(val, ctx) for check in VAL_CHECKS]))
                continue
            new.extend(self._judge(self._train(rec)))
        return new

    def _train(self, rec: Record) -> list[Finding | None]:
        if rec.step is None:
            rec.step = 0 if self._last_step is None else self._last_step + 1
        prev = self._last_step
        self._last_step = rec.step
        adversarial = (rec.phase or "").lower() in _ADVERSARIAL_PHASES or rec.values.get("disc_factor", 0) > 0
        gb = rec.values.get("global_batch_size")
        if gb is not None and math.isfinite(gb):
            self.recipe["batch_size"] = int(gb)
        if adversarial and self.phase == "vae":
            self.phase = "adversarial"
            ds = rec.step
            recipe_ds = self.recipe.get("disc_start")
            if recipe_ds is not None and (prev is None or prev < recipe_ds) and recipe_ds <= rec.step:
                ds = int(recipe_ds)
            self.disc_start = ds
            recent = list(self._lines["vae"])[-self.window :]
            for key in ("rec_loss", "grad_norm", "perception_loss"):
                vals = [r.values[key] for r in recent if math.isfinite(r.values.get(key, math.nan))]
                if vals:
                    self._baseline[key] = median(vals)
        self._lines[self.phase].append(rec)
        ctx = self._context()
        lines = list(self._lines[self.phase])
        ctx.kl = infer_kl_weight(lines, ctx)
        findings = [check([rec], ctx) for check in LINE_CHECKS]
        if len(lines) >= self.min_lines:  # a handful of lines is no basis for a level or a trend
            ph = PhaseData(self.phase, lines)
            findings += [check(ph, ctx) for check in PHASE_CHECKS]
        return findings

    def _context(self) -> Context:
        return Context(
            rules=self.rules,
            window=self.window,
            recipe=self.recipe,
            disc_start=self.disc_start,
            baseline=dict(self._baseline),
            judge_history=False,
        )

    def _judge(self, findings: list[Finding | None]) -> list[Finding]:
        """The new incidents among ``findings`` (None: a rule the log held nothing for)."""
        new = []
        for f in findings:
            if f is None:
                continue
            key = f.metric
            self._levels[key] = f
            armed = self._armed.get(key, "ok")
            if f.level == "ok":
                self._armed[key] = "ok"
            elif rank(f.level) > rank(armed):
                self._armed[key] = f.level
                new.append(f)
        return new
