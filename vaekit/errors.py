"""The errors vaekit raises for things a user can fix.

Every error here carries a one-line message that says what is wrong and, where it can, how to
fix it. The CLI prints ``error: <message>`` and exits with ``exit_code``; the Python API lets
them propagate. Anything else that escapes is a bug in vaekit.
"""

from __future__ import annotations


class VaekitError(Exception):
    """Base class: a problem with the user's input, output or environment."""

    exit_code = 1


class InputError(VaekitError):
    """An input file is missing, unreadable, corrupt, empty or of the wrong kind."""

    exit_code = 2


class OutputError(VaekitError):
    """An output cannot be written (permissions, full disk, bad path)."""

    exit_code = 3


class ModelMismatchError(VaekitError):
    """A latent file or artifact was made by another model than the one loaded."""

    exit_code = 4


class MissingDependencyError(VaekitError):
    """An optional dependency or device (CUDA, TensorRT, LPIPS weights) is not available."""

    exit_code = 5
