"""The training progress bar: steps, steps/s and the ETA between metrics lines.

Shown on stderr only when stderr is a terminal (never in a log file or under a job scheduler's
capture), on rank 0. Metrics lines and warnings print above it: :meth:`StepBar.printing` clears
the bar for the duration of a print and redraws it after.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class StepBar:
    def __init__(self, start: int, total: int, enabled: bool | None = None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._bar = None
        if enabled and total > start:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, initial=start, desc="train", unit="step", file=sys.stderr, leave=False,
                dynamic_ncols=True, smoothing=0.1,
            )  # fmt: skip

    def update(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    @contextlib.contextmanager
    def printing(self) -> Iterator[None]:
        """Around a console line (stdout or stderr): the bar is cleared and then redrawn."""
        if self._bar is None:
            yield
            return
        with self._bar.external_write_mode(file=sys.stderr):
            yield

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
