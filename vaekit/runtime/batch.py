"""Running one job over many inputs: go on past a bad file, skip finished outputs, and keep two
processes from writing one output.

* :func:`run_batch` calls a job per ``(input, output)`` pair. With several inputs, a failure a
  user can fix (:class:`~vaekit.errors.VaekitError`) prints one ``error: INPUT: ...`` line and the
  batch goes on (``fail_fast`` stops at the first); at the end a summary line is printed and the
  batch ends with :class:`BatchFailed`, whose exit code is that of the failures (when they all
  have the same one) or 1. One input fails as it always did: its own error, its own exit code.
  Ctrl-C and signals stop the whole batch.
* ``skip_existing`` skips a pair whose output already exists and is complete
  (:func:`output_complete`).
* :func:`output_lock` holds ``.NAME.lock`` next to an output while it is written. The lock is
  made by an exclusive create (a hard link of a file that already holds ``PID HOST``), so the
  pid is in it from the first instant. A second process on the same output is refused with one
  line; a lock whose process is gone (killed outright) is taken over.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OutputError, VaekitError
from ..io.atomic import (
    _host_tag,
    _output_error,
    _pid_alive,
    remove_stale_temporaries,
    remove_temporaries,
    temporary_name,
)

LOCK_SUFFIX = ".lock"


class OutputBusyError(OutputError):
    """Another process is writing the same output right now."""


class BatchFailed(VaekitError):
    """Some inputs of a batch failed (each was reported on its own line)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def lock_path(output: str | os.PathLike) -> Path:
    """``.NAME.lock`` next to ``output`` (NAME with its suffixes)."""
    out = Path(output)
    return out.with_name(f".{out.name}{LOCK_SUFFIX}")


def _lock_owner(path: Path) -> tuple[int, str] | None:
    """``(pid, host tag)`` a lock file names, or None if it cannot be read."""
    try:
        pid, host = path.read_text().split()[:2]
        return int(pid), host
    except (OSError, ValueError):
        return None


def _try_create(lock: Path, out: Path) -> bool:
    """Create ``lock`` holding this process's pid and host, atomically; False if it exists."""
    remove_stale_temporaries(lock)  # what a run killed between the two steps below left
    temp = temporary_name(lock)
    try:
        temp.write_text(f"{os.getpid()} {_host_tag()}\n")
    except OSError as err:
        raise _output_error(out, err) from None
    try:
        os.link(temp, lock)  # fails if the lock exists; the lock never exists without its pid
        return True
    except FileExistsError:
        return False
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        try:  # a file system without hard links: an exclusive create, then the pid
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {_host_tag()}\n")
        return True
    finally:
        temp.unlink(missing_ok=True)


@contextlib.contextmanager
def output_lock(output: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of ``output`` for the block; :class:`OutputBusyError` if another live process
    holds it. A stale lock (its process is gone, on this host) is taken over."""
    out = Path(output)
    lock = lock_path(out)
    for _ in range(3):
        if _try_create(lock, out):
            break
        owner = _lock_owner(lock)
        if owner is not None and owner[1] == _host_tag() and not _pid_alive(owner[0]):
            lock.unlink(missing_ok=True)  # a killed run's lock; try again
            continue
        who = f"process {owner[0]}" if owner else "another process"
        where = "" if owner is None or owner[1] == _host_tag() else " on another host"
        raise OutputBusyError(
            f"{out} is being written by {who}{where} (lock {lock}); wait for it to finish, or choose "
            f"another -o (remove {lock.name} only if no such process runs)"
        )
    else:
        raise OutputBusyError(f"could not take the lock {lock} of {out}; try again")
    try:
        yield lock
    finally:
        if _lock_owner(lock) == (os.getpid(), _host_tag()):
            lock.unlink(missing_ok=True)


def output_complete(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a finished output: a latent file whose header and size agree, or a
    video/image that opens with at least one frame. (vaekit renames outputs into place only when
    complete; this also catches a truncated file another tool left.)"""
    from ..io.latent_file import SUFFIX as LATENT_SUFFIX

    p = Path(path)
    if not p.is_file():
        return False
    if p.name.endswith(LATENT_SUFFIX):
        return _safetensors_complete(p)
    from ..errors import InputError
    from ..io.video import probe

    try:
        return probe(p).frame_count != 0
    except InputError:
        return False


def _safetensors_complete(path: Path) -> bool:
    import json
    import struct

    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        return path.stat().st_size == 8 + n + end
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return False


@dataclass
class BatchReport:
    done: int = 0
    skipped: int = 0
    failed: list[tuple[Path, VaekitError]] = field(default_factory=list)


def run_batch(
    pairs: list[tuple[Path, Path]],
    job: Callable[[Path, Path], dict],
    *,
    report: Callable[[dict], None],
    fail_line: Callable[[str], None],
    fail_fast: bool = False,
    skip_existing: bool = False,
) -> BatchReport:
    """Run ``job(src, dst)`` for every pair under the output's lock; ``report`` gets each result
    (or ``{"input", "output", "skipped"}`` for a skipped pair), ``fail_line`` each failure's line.

    Raises the error itself when there is one pair, :class:`BatchFailed` after the last pair (or
    the first failure with ``fail_fast``) when several were given and any failed.
    """
    batch = BatchReport()
    for i, (src, dst) in enumerate(pairs):
        if skip_existing and output_complete(dst):
            batch.skipped += 1
            report({"input": str(src), "output": str(dst), "skipped": "output exists"})
            continue
        try:
            with output_lock(dst):
                result = job(src, dst)
        except VaekitError as e:
            if len(pairs) == 1:
                raise
            remove_temporaries()
            batch.failed.append((src, e))
            fail_line(f"error: {src}: {e}")
            if fail_fast:
                left = len(pairs) - i - 1
                _raise_summary(
                    batch, len(pairs), f"; stopped (--fail-fast), {left} not processed" if left else ""
                )
            continue
        batch.done += 1
        report(result)
    if batch.failed:
        _raise_summary(batch, len(pairs), "")
    return batch


def _raise_summary(batch: BatchReport, total: int, tail: str) -> None:
    codes = {e.exit_code for _, e in batch.failed}
    code = codes.pop() if len(codes) == 1 else 1
    skipped = f", {batch.skipped} skipped" if batch.skipped else ""
    raise BatchFailed(
        f"{len(batch.failed)} of {total} inputs failed ({', '.join(str(s) for s, _ in batch.failed[:3])}"
        f"{', ...' if len(batch.failed) > 3 else ''}), {batch.done} written{skipped}{tail}",
        code,
    )
