"""The error an export raises when its result fails a check."""

from __future__ import annotations

from ..errors import EXIT_EXPORT_FAILED, VaekitError


class ExportError(VaekitError):
    """An export was written but does not hold up: parity out of tolerance, or TensorRT could not
    build the engine. The message says which artifact and where the details are."""

    exit_code = EXIT_EXPORT_FAILED
