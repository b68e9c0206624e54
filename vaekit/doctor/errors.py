"""The doctor's input error (its own module, so every reader can raise it without a cycle)."""

from __future__ import annotations

from vaekit.errors import EXIT_INPUT, InputError


class DoctorError(InputError):
    """The run cannot be read (missing file, nothing that looks like metrics, bad rules file)."""

    exit_code = EXIT_INPUT
