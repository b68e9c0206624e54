"""The errors vaekit raises for things a user can fix.

Every error here carries a one-line message that says what is wrong and, where it can, how to
fix it. The CLI prints ``error: <message>`` and exits with ``exit_code``; the Python API lets
them propagate. Anything else that escapes is a bug in vaekit.

:data:`EXIT_CODES` is the one table of the command line's exit statuses (docs/DESIGN.md, "Exit
codes"); every ``exit_code`` below and in the errors of the subpackages comes from it.
"""

from __future__ import annotations

import signal

#: Every exit status a vaekit command ends with, and what it means (README "Errors", DESIGN.md).
EXIT_OK = 0
EXIT_ERROR = 1  # any other user-fixable error; `vaekit doctor`: overall "act"
EXIT_INPUT = 2
EXIT_OUTPUT = 3
EXIT_MODEL_MISMATCH = 4
EXIT_MISSING_DEPENDENCY = 5
EXIT_EXPORT_FAILED = 6
EXIT_TRAINING_STOPPED = 7
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, Ctrl-C
EXIT_SIGNAL_BASE = 128  # + the signal: 143 SIGTERM, 129 SIGHUP

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (`vaekit doctor`: ok, watch or insufficient)",
    EXIT_ERROR: "an error without a code of its own (`vaekit doctor`: act; a batch whose failures differ)",
    EXIT_INPUT: "bad input: missing, unreadable, corrupt, empty or of the wrong kind",
    EXIT_OUTPUT: "an output cannot be written, or another process is writing it",
    EXIT_MODEL_MISMATCH: "a latent file or artifact made by another model",
    EXIT_MISSING_DEPENDENCY: "a missing optional dependency or device",
    EXIT_EXPORT_FAILED: "an export failed its parity check (or TensorRT could not build it)",
    EXIT_TRAINING_STOPPED: "a training run stopped on non-finite steps (checkpoint saved)",
    EXIT_INTERRUPTED: "Ctrl-C",
    EXIT_SIGNAL_BASE + 15: "SIGTERM (timeout, docker stop, systemd, Slurm)",
    EXIT_SIGNAL_BASE + 1: "SIGHUP (a closed terminal)",
}


class VaekitError(Exception):
    """Base class: a problem with the user's input, output or environment."""

    exit_code = EXIT_ERROR


class InputError(VaekitError):
    """An input file is missing, unreadable, corrupt, empty or of the wrong kind."""

    exit_code = EXIT_INPUT


class OutputError(VaekitError):
    """An output cannot be written (permissions, full disk, bad path)."""

    exit_code = EXIT_OUTPUT


class ModelMismatchError(VaekitError):
    """A latent file or artifact was made by another model than the one loaded."""

    exit_code = EXIT_MODEL_MISMATCH


class MissingDependencyError(VaekitError):
    """An optional dependency or device (CUDA, TensorRT, LPIPS weights) is not available."""

    exit_code = EXIT_MISSING_DEPENDENCY
