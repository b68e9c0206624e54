"""Phrases more than one wording uses."""

from __future__ import annotations

from ...stats import num

PHASE_NAMES = {"vae": "phase 1", "adversarial": "phase 2"}


def value_range(lo: float, hi: float) -> str:
    """``0.5-1.2``, or one number where the two are equal."""
    return num(lo) if lo == hi else f"{num(lo)}-{num(hi)}"


def from_to(first: float, first_step: int, last: float, last_step: int) -> str:
    """``first at step a -> last at step b``."""
    return f"{num(first)} at step {first_step} -> {num(last)} at step {last_step}"


def fill(table: dict[str, tuple[str, str]], case: str, **phrases: object) -> tuple[str, str]:
    """The (message, advice) templates of ``case`` in a wording table, filled with ``phrases``."""
    message, advice = table[case]
    return message.format(**phrases), advice.format(**phrases)
