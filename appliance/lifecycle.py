# SPDX-License-Identifier: GPL-3.0-or-later
"""What every appliance daemon does around its work: log to the journal's format, stop on a signal."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator

import gevent
import gevent.event

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"  # systemd's journal adds the time and the unit


def configure_logging(level: str) -> None:
    """Log at level (a name such as INFO) to stderr, for the journal."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[gevent.event.Event]:
    """Yield an event that SIGTERM or SIGINT sets; stop catching them on the way out."""
    stop = gevent.event.Event()
    handlers = [gevent.signal_handler(signum, stop.set) for signum in (signal.SIGTERM, signal.SIGINT)]
    try:
        yield stop
    finally:
        for handler in handlers:
            handler.cancel()
