"""SIGTERM and SIGHUP handled like Ctrl-C.

``timeout``, ``docker stop``, systemd and Slurm stop a process with SIGTERM; a closed terminal
sends SIGHUP. Inside :func:`signals_as_interrupts` either signal raises :class:`Terminated`, a
:class:`KeyboardInterrupt`, in the main thread, so every cleanup path written for Ctrl-C runs (the
atomic writers delete their temporary files) and the command line can exit with 128 + the signal
(143 for SIGTERM, 129 for SIGHUP). After the first signal, further SIGINT/SIGTERM/SIGHUP are
ignored until the block is left, so a repeated signal cannot cut that cleanup short. A signal the
process was started ignoring (``nohup`` ignores SIGHUP) stays ignored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM or SIGHUP; handled like Ctrl-C, exit status 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(int(signum))
        self.signum = int(signum)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        from .errors import EXIT_SIGNAL_BASE

        return EXIT_SIGNAL_BASE + self.signum


#: the signals turned into exceptions (those this platform has)
TERMINATING = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise :class:`Terminated` and SIGINT KeyboardInterrupt,
    once; the previous handlers come back when the block is left. Outside the main thread (where
    Python cannot install handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (*TERMINATING, signal.SIGINT)

    def on_signal(signum, frame):
        for s in previous:
            signal.signal(s, signal.SIG_IGN)  # the cleanup that follows must not be cut short
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    previous = {}
    try:
        for s in handled:
            current = signal.getsignal(s)
            if current is signal.SIG_IGN or current is None:  # ignored on purpose, or not Python's
                continue
            previous[s] = current
            signal.signal(s, on_signal)
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
