"""A stop requested by a signal while an endpoint's requests are in flight.

SIGTERM (Snakemake cancelling a job, a cluster's time limit) and SIGINT would end the process at once and drop
the replies on their way, though the endpoint bills them. While `stop_on_signals` is active, the first such
signal only sets an event: the asking loop sends nothing more, waits a bounded time for the requests in flight,
caches their replies and then raises `Stopped`, which exits with 128 + the signal's number as the signal would
have (and as `bmc.llm.server.sigterm_raises` does). A second signal ends the process at once.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(SystemExit):
    """The stage was asked to stop (SIGTERM, SIGINT) while requests were in flight: exit status 128 + signal."""


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[dict]:
    """Set `stop` on the first SIGTERM or SIGINT instead of dying; yields {"signal": name, "number": n} once one
    came.
    Outside the main thread (where no handler can be set) the signals keep their usual effect."""
    got: dict = {}
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def handler(signum, frame):
        if stop.is_set() and got:  # the second signal: what it would have done without this handler
            signal.signal(signum, previous[signum])
            os.kill(os.getpid(), signum)
            return
        got.update(signal=signal.Signals(signum).name, number=int(signum))
        stop.set()

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield got
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
