"""Phrases more than one wording uses."""

from __future__ import annotations

from ...stats import num


def value_range(lo: float, hi: float) -> str:
    """``0.5-1.2``, or one number where the two are equal."""
    return num(lo) if lo == hi else f"{num(lo)}-{num(hi)}"


def from_to(first: float, first_step: int, last: float, last_step: int) -> str:
    """``first at step a -> last at step b``."""
    return f"{num(first)} at step {first_step} -> {num(last)} at step {last_step}"
