"""What every check shares: the phase data and context it reads, the :class:`Verdict` it returns,
and :class:`Check`, which joins a verdict function to its wording (see ``checks/__init__.py``)."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..conventions import Conventions
from ..logs import Record
from ..report import Finding
from ..rules import Rules


@dataclass
class PhaseData:
    """The training lines of one phase (``vae`` before disc_start, ``adversarial`` after)."""

    name: str
    records: list[Record]
    _cache: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict, repr=False)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """Steps and finite values of ``key`` (cached: the records do not change)."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        steps, vals = [], []
        isfinite = math.isfinite
        for r in self.records:
            v = r.values.get(key)
            if v is not None and isfinite(v):
                steps.append(r.step or 0)
                vals.append(v)
        self._cache[key] = (steps, vals)
        return steps, vals

    def recent(self, key: str, window: int) -> tuple[list[int], list[float]]:
        steps, vals = self.series(key)
        return steps[-window:], vals[-window:]

    def has(self, key: str) -> bool:
        return any(key in r.values for r in self.records)

    @property
    def first_step(self) -> int:
        return int(self.records[0].step or 0)

    @property
    def last_step(self) -> int:
        return int(self.records[-1].step or 0)


@dataclass
class KLWeight:
    """What the log says about kl_weight: from the recipe, inferred, or bounded (silenced)."""

    value: float | None
    source: str  # "recipe" | "inferred" | "silenced" | "unknown"
    upper_bound: float | None = None
    consistent: bool = True
    spread: tuple[float, float] | None = None
    lines: int = 0


@dataclass
class Context:
    rules: Rules
    window: int
    recipe: dict[str, Any] = field(default_factory=dict)
    disc_start: int | None = None
    baseline: dict[str, float] = field(default_factory=dict)  # phase-1 level of the last window
    kl: KLWeight | None = None
    # offline, a settled spike earlier in the phase still earns a 'watch'; live, an incident is
    # over once the recent window is healthy again
    judge_history: bool = True
    # how the log's numbers are to be read (vaekit's own conventions unless the log says otherwise)
    conv: Conventions = field(default_factory=Conventions)
    unit: str = "step"  # what a record's step counts: "step", "epoch" or "line"
    steps_per_unit: float | None = 1.0  # optimizer steps per unit (None: unknown)

    def in_units(self, steps: float) -> float | None:
        """A number of optimizer steps in the log's unit (None when the log cannot tell)."""
        if self.unit == "step":
            return steps
        if not self.steps_per_unit:
            return None
        return steps / self.steps_per_unit


@dataclass
class Verdict:
    """What a check decided, before any words.

    ``level`` and ``evidence`` (the numbers it decided on) become the finding's; ``case`` names
    the sentence of the metric's wording that says it; ``facts`` holds what that sentence quotes
    beyond the evidence (steps, a trend, a category), and is not reported.
    """

    metric: str
    level: str
    case: str
    evidence: dict[str, Any]
    phase: str = "all"
    facts: dict[str, Any] = field(default_factory=dict)


#: a wording: the verdict (and the context, for thresholds and units) -> (message, advice)
Wording = Callable[[Verdict, Context], tuple[str, str]]


@dataclass(frozen=True)
class Check:
    """One health rule: ``judge`` decides (no prose), ``say`` words it. Called with the judge's
    arguments (the context last), it returns the :class:`Finding`, or None where the log holds
    nothing for the rule."""

    name: str
    judge: Callable[..., Verdict | None]
    say: Wording

    def __call__(self, *args: Any) -> Finding | None:
        verdict = self.judge(*args)
        if verdict is None:
            return None
        message, advice = self.say(verdict, args[-1])
        return Finding(verdict.metric, verdict.level, message, verdict.evidence, verdict.phase, advice)

    @classmethod
    def of(cls, verdicts: ModuleType) -> Check:
        """The check of a verdict module: its ``judge``, and ``say`` of the wording module of the
        same name in ``checks/wording/``."""
        name = verdicts.__name__.rsplit(".", 1)[1]
        wording = importlib.import_module(f"{__package__}.wording.{name}")
        return cls(name, verdicts.judge, wording.say)


def tol(rules: Rules, quanta: float, *mags: float) -> float:
    """How far a logged identity may miss: the print quanta plus the relative and absolute slack."""
    return quanta + rules.bookkeeping_rtol * max((abs(m) for m in mags), default=0.0) + rules.bookkeeping_atol


def finite_vals(r: Record, *keys: str) -> list[float] | None:
    """The values of ``keys`` in ``r``, or None unless all are there and finite."""
    out = []
    for k in keys:
        v = r.values.get(k)
        if v is None or not math.isfinite(v):
            return None
        out.append(v)
    return out
