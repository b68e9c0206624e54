"""Write output files atomically: to a hidden temporary name, then rename.

A reader never sees a half-written output: the final path appears only when the writing code
finished without error. An exception, Ctrl-C (KeyboardInterrupt) or a full disk deletes the
temporary file instead, so an interrupted run leaves nothing behind. The temporary file sits
in the same folder as the target (so ``os.replace`` is a rename within one file system) and
keeps the target's suffix, so muxers that pick the container format from the file name
(``.mp4``, ``.mkv``) still work.

Temporary names say who made them: ``.NAME.tmp-PID-HOST-RANDOM.SUFFIX`` (HOST: 6 hex digits of a
hash of the host name), and a writer's scratch files add a suffix to that name (``...SUFFIX.mean``).
A process killed outright (SIGKILL, power loss) cannot clean up; the next run that writes the same
output on the same host removes the temporaries of that output whose process is gone. Every
temporary this process has open is also kept in a registry, so that the command line can remove
whatever an interruption (Ctrl-C, SIGTERM) left between a write and its cleanup.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import hashlib
import os
import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

from vaekit.errors import OutputError

_REASONS = {
    errno.ENOENT: "folder does not exist",
    errno.ENOTDIR: "a parent of it is not a folder",
    errno.EACCES: "folder not writable",
    errno.EPERM: "folder not writable",
    errno.EROFS: "file system is read-only",
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EISDIR: "it is an existing folder",
}

# Errors raised while the caller writes into the temporary file that are about the output
# location itself; anything else (a bug, a bad input) propagates unchanged.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


@functools.cache
def _file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file: 0o666 less the umask (read
    once: reading the umask means setting it, which must not race other threads' file creation)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _output_error(path: Path, err: OSError) -> OutputError:
    """Turn an OSError about writing ``path`` into a one-line OutputError."""
    reason = _REASONS.get(err.errno, err.strerror or str(err))
    return OutputError(f"cannot write {path}: {reason}")


def make_folder(path: str | os.PathLike[str]) -> Path:
    """Create the folder ``path`` (and its parents) if needed; OutputError in one line if it cannot be."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot create folder {folder}: a file of that name is in the way") from None
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM):
            reason = "no permission to create it there"
        else:
            reason = _REASONS.get(err.errno, err.strerror or str(err))
        raise OutputError(f"cannot create folder {folder}: {reason}") from None
    return folder


# Temporaries this process created and has not yet renamed or removed (scratch files included).
_LIVE: set[Path] = set()


def register_temporary(path: str | os.PathLike[str]) -> None:
    """Remember a temporary file of this process (removed by :func:`remove_temporaries`)."""
    _LIVE.add(Path(path))


def forget_temporary(path: str | os.PathLike[str]) -> None:
    """The temporary was renamed or removed by its writer."""
    _LIVE.discard(Path(path))


def remove_temporaries() -> list[Path]:
    """Delete every temporary this process still has registered (after an interruption); returns
    the ones that were still there."""
    removed = []
    for p in sorted(_LIVE):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
        except OSError:
            continue
        _LIVE.discard(p)
    return removed


@functools.cache
def _host_tag() -> str:
    return hashlib.blake2b(socket.gethostname().encode(), digest_size=3).hexdigest()


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (in doubt: yes)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":  # os.kill(pid, 0) is no probe on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries (and scratch files) of ``path`` left by processes of this host that
    no longer run; returns what was removed. Temporaries of live processes are kept."""
    target = Path(path)
    pattern = re.compile(
        rf"\.{re.escape(target.stem)}\.tmp-(\d+)-([0-9a-f]{{6}})-[0-9a-f]{{8}}{re.escape(target.suffix)}(\.\w+)?"
    )
    removed = []
    try:
        candidates = list(target.parent.glob(f".{glob.escape(target.stem)}.tmp-*"))
    except OSError:
        return removed
    for p in candidates:
        m = pattern.fullmatch(p.name)
        if m is None or m[2] != _host_tag() or _pid_alive(int(m[1])):
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def temporary_name(path: Path) -> Path:
    """A fresh hidden temporary name next to ``path``: ``.STEM.tmp-PID-HOST-RANDOM.SUFFIX``."""
    return path.with_name(
        f".{path.stem}.tmp-{os.getpid()}-{_host_tag()}-{secrets.token_hex(4)}{path.suffix}"
    )


def _reserve_temp(path: Path) -> Path:
    """Create an empty, uniquely named hidden file next to ``path`` and return its path (after
    removing the stale temporaries of ``path`` that killed runs left)."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is an existing folder; choose a file name")
    remove_stale_temporaries(path)
    while True:
        temp = temporary_name(path)
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            register_temporary(temp)
            return temp
        except FileExistsError:
            continue
        except OSError as err:
            raise _output_error(path, err) from None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file already exists (empty) when yielded; the caller may overwrite it by
    name. On any exception, KeyboardInterrupt included, the temporary file is deleted and the
    exception propagates. A missing or unwritable folder raises :class:`OutputError`, and so
    does a full disk while writing.
    """
    target = Path(path)
    temp = _reserve_temp(target)
    try:
        yield temp
        # writers that replace the temporary file themselves (safetensors) leave it 0o600
        os.chmod(temp, _file_mode())
        os.replace(temp, target)
        forget_temporary(temp)
    except OSError as err:
        temp.unlink(missing_ok=True)
        forget_temporary(temp)
        if err.errno in _WRITE_ERRNOS or err.filename in (str(temp), str(target)):
            raise _output_error(target, err) from None
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        forget_temporary(temp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_output(path) as temp:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)
