"""Where each log line sits: real steps and epochs from counters and fields, and the unit.

Positions come, in this order, from a ``global_step`` / ``step`` / ``iteration`` field; from a
progress counter (``125/125``, ``[200/1251]``) with the epoch (global step = epoch x batches per
epoch + batch); from the epoch alone (the unit is then the epoch); and only when the log has none
of these, from the line order (the unit is then the log line, and the report says so).
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .logs import Record

UNITS = ("step", "epoch", "line")


def assign_positions(records: list[Record], notes: list[str]) -> tuple[str, int | None]:
    """Give every record a ``step`` (in the returned unit); returns ``(unit, steps_per_epoch)``."""
    if not records:
        return "step", None
    totals = [r.batches for r in records if r.batches]
    spe = Counter(totals).most_common(1)[0][0] if totals else None
    if any(r.step is not None for r in records):
        _global_steps(records, notes)
        return "step", spe
    _fill_epochs(records)
    with_counter = [r for r in records if r.batch is not None]
    has_epoch = all(r.epoch is not None for r in records)
    if with_counter and has_epoch and all(r.batch == r.batches for r in with_counter):
        for r in records:
            r.step = r.epoch
        notes.append(
            f"one line per epoch (end-of-epoch progress bars{f', {spe} batches each' if spe else ''}): "
            "positions are epochs"
        )
        return "epoch", spe
    if with_counter and has_epoch:
        for r in records:
            per = r.batches or spe or 0
            r.step = int(r.epoch) * per + int(r.batch if r.batch is not None else per)
        notes.append(f"global steps rebuilt as epoch x {spe} batches + the batch counter of each line")
        return "step", spe
    if with_counter:
        offset, last = 0, None
        for r in records:
            b = r.batch if r.batch is not None else (last or 0)
            if last is not None and b < last:
                offset += r.batches or spe or last
            r.step, last = offset + b, b
        notes.append("steps read from the progress counter (restarts counted as new epochs)")
        return "step", spe
    if has_epoch:
        per_epoch = Counter(r.epoch for r in records)
        if max(per_epoch.values()) == 1:
            for r in records:
                r.step = r.epoch
            notes.append("no step counter, one line per epoch: positions are epochs")
            return "epoch", spe
    for i, r in enumerate(records):
        r.step = i
    notes.append("no step or epoch counter in the log: the line number stands in for the step")
    return "line", None


def _fill_epochs(records: list[Record]) -> None:
    last = None
    for r in records:
        if r.epoch is None:
            r.epoch = last
        last = r.epoch


def _global_steps(records: list[Record], notes: list[str]) -> None:
    """Turn per-epoch step counters into global steps; fill missing steps with the line order."""
    if not records:
        return
    if all(r.step is None for r in records):
        for i, r in enumerate(records):
            r.step = i
        notes.append("no step counter in the log: the line number stands in for the step")
        return
    epoch_relative = any(
        a.epoch is not None
        and b.epoch is not None
        and b.epoch > a.epoch
        and a.step is not None
        and b.step is not None
        and b.step < a.step
        for a, b in zip(records, records[1:])
    )
    if not epoch_relative:
        last = 0
        for r in records:
            if r.step is None:
                r.step = last
            last = r.step
        return
    diffs = [
        b.step - a.step
        for a, b in zip(records, records[1:])
        if a.epoch == b.epoch and a.step is not None and b.step is not None and b.step > a.step
    ]
    interval = int(statistics.median(diffs)) if diffs else 1
    offset = 0
    cur_epoch = records[0].epoch
    last_local = -1
    for r in records:
        if r.epoch is not None and r.epoch != cur_epoch:
            offset += last_local + interval
            cur_epoch = r.epoch
        local = r.step if r.step is not None else last_local
        last_local = local
        r.step = offset + local
    notes.append(
        f"steps restart at every epoch in this log; global steps were rebuilt assuming "
        f"{interval} steps between log lines"
    )


def dedupe(records: list[Record], notes: list[str]) -> list[Record]:
    """Sort by step; a step logged twice (a resumed run) is merged, the later line winning."""
    by_step: dict[int, Record] = {}
    dupes = 0
    for r in records:
        assert r.step is not None
        old = by_step.get(r.step)
        if old is not None:
            dupes += 1
            old.values.update(r.values)
            old.quantum.update(r.quantum)
            old.phase = r.phase or old.phase
            old.epoch = r.epoch if r.epoch is not None else old.epoch
            old.line = r.line
        else:
            by_step[r.step] = r
    if dupes:
        notes.append(
            f"{dupes} steps were logged more than once (a resumed run, or progress-bar refreshes): the later "
            "value of each key was used"
        )
    return [by_step[s] for s in sorted(by_step)]
