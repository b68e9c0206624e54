"""Small numeric helpers (no numpy: the live doctor runs inside the training loop)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


def finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def median(values: list[float]) -> float:
    vals = finite(values)
    return statistics.median(vals) if vals else math.nan


def median_at(values: list[float], i: int, k: int) -> float:
    """The trailing median over ``k`` values ending at index ``i``."""
    return median(values[max(0, i - k + 1) : i + 1])


def rolling_median(values: list[float], k: int) -> list[float]:
    """Trailing median over ``k`` values (fewer at the start)."""
    out = []
    for i in range(len(values)):
        out.append(median(values[max(0, i - k + 1) : i + 1]))
    return out


@dataclass
class Trend:
    label: str  # "rising" | "falling" | "flat" | "too short"
    before: float
    after: float
    change: float  # relative change of the median between the halves

    def words(self) -> str:
        if self.label == "too short":
            return "too few lines for a trend"
        if self.label == "flat":
            return "flat" if abs(self.change) < 0.005 else f"flat ({self.change:+.0%} across the window)"
        return f"{self.label} ({self.change:+.0%} across the window)"


def trend(values: list[float], flat: float = 0.10) -> Trend:
    """Compare the medians of the first and second half of ``values``."""
    vals = finite(values)
    if len(vals) < 4:
        return Trend("too short", math.nan, math.nan, 0.0)
    half = len(vals) // 2
    a, b = median(vals[:half]), median(vals[-half:])
    scale = max(abs(a), 1e-12)
    change = (b - a) / scale
    if change > flat:
        label = "rising"
    elif change < -flat:
        label = "falling"
    else:
        label = "flat"
    return Trend(label, a, b, change)


def num(x: float | None) -> str:
    """A number as a person would write it in a sentence: 0.0205, 6.6, 37,881, 1e-12."""
    if x is None:
        return "n/a"
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}" if abs(x) >= 10000 else str(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 10000:
        return f"{x:,.0f}"
    if ax >= 1e-4:
        s = f"{x:.3g}"
        return s
    return f"{x:.2g}"


def pct(x: float) -> str:
    """A fraction as a percentage with three significant digits: 0.994 -> '99.4%'."""
    return f"{x * 100:.3g}%"
